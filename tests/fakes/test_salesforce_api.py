"""The fake Salesforce API answers in the documented shapes: driven with httpx over real loopback HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.fakes.salesforce_api import FakeSalesforceApi, LazyRecords

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
V = "/services/data/v60.0"


@pytest.fixture
def fake() -> Iterator[FakeSalesforceApi]:
    api = FakeSalesforceApi(client_id="cid", client_secret="secret", username="sync@kpi.example", page_size=3)
    api.now = START
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def http(fake: FakeSalesforceApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as client:
        yield client


def login(http: httpx.Client) -> str:
    form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "secret"}
    response = http.post("/services/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def query(http: httpx.Client, token: str, soql: str, *, resource: str = "query") -> httpx.Response:
    return http.get(f"{V}/{resource}", params={"q": soql}, headers={"Authorization": f"Bearer {token}"})


def every_page(http: httpx.Client, token: str, soql: str, *, resource: str = "query") -> list[dict]:
    """Every page of a result set, following nextRecordsUrl."""
    page = query(http, token, soql, resource=resource).json()
    pages = [page]
    while not page["done"]:
        response = http.get(page["nextRecordsUrl"], headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
    return pages


def jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_client_credentials_are_granted_in_the_form_or_as_basic_auth_and_wrong_ones_refused(fake, http):
    granted = http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "cid", "client_secret": "secret"},
    )
    assert granted.status_code == 200
    body = granted.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["instance_url"] == fake.base_url
    assert body["token_type"] == "Bearer"
    assert body["issued_at"] == str(int(START.timestamp() * 1000))

    basic = http.post(
        "/services/oauth2/token", data={"grant_type": "client_credentials"}, auth=("cid", "secret")
    )
    assert basic.status_code == 200
    assert basic.json()["access_token"] != body["access_token"]

    refused = http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "cid", "client_secret": "nope"},
    )
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    assert [call.status for call in fake.calls_of("token")] == [200, 200, 400]


def test_jwt_bearer_is_granted_for_the_configured_username_only(http):
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = http.post(
        "/services/oauth2/token", data={"grant_type": grant, "assertion": jwt({"sub": "sync@kpi.example"})}
    )
    assert ok.status_code == 200
    token = ok.json()["access_token"]
    assert query(http, token, "SELECT Id FROM User").status_code == 200
    wrong = http.post(
        "/services/oauth2/token", data={"grant_type": grant, "assertion": jwt({"sub": "eve@x.example"})}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


def test_a_query_is_paged_in_order_by_order_with_every_record_once_and_only_the_selected_fields(fake, http):
    created = [START - timedelta(hours=h) for h in (5, 1, 7, 3, 8, 2, 6, 4)]
    for n, moment in enumerate(created):
        fake.add("Lead", CreatedDate=moment, Company=f"Co {n}", Status="Open", IsConverted=n % 2 == 0)
    token = login(http)

    pages = every_page(
        http,
        token,
        "SELECT Id, CreatedDate, Company, IsConverted, ConvertedDate FROM Lead ORDER BY CreatedDate",
    )

    assert [len(page["records"]) for page in pages] == [3, 3, 2]
    assert all(page["totalSize"] == 8 for page in pages)
    assert [page["done"] for page in pages] == [False, False, True]
    assert pages[0]["nextRecordsUrl"].startswith(f"{V}/query/01gFAKE") and pages[0][
        "nextRecordsUrl"
    ].endswith("-3")
    assert "nextRecordsUrl" not in pages[-1]
    records = [record for page in pages for record in page["records"]]
    assert len({record["Id"] for record in records}) == 8
    expected = sorted(created)
    assert [record["CreatedDate"] for record in records] == [
        moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000") for moment in expected
    ]
    first = records[0]
    assert list(first) == ["attributes", "Id", "CreatedDate", "Company", "IsConverted", "ConvertedDate"]
    assert first["attributes"] == {"type": "Lead", "url": f"{V}/sobjects/Lead/{first['Id']}"}
    assert first["IsConverted"] is True and first["ConvertedDate"] is None


def test_a_record_changed_while_paging_stays_on_the_page_of_the_snapshot(fake, http):
    ids = [fake.add("Account", Name=f"A{n}", CreatedDate=START + timedelta(minutes=n)) for n in range(6)]
    token = login(http)
    first = query(http, token, "SELECT Id, Name FROM Account ORDER BY CreatedDate").json()
    fake.update("Account", ids[4], Name="renamed", CreatedDate=START - timedelta(days=1))
    rest = http.get(first["nextRecordsUrl"], headers={"Authorization": f"Bearer {token}"}).json()
    assert [r["Name"] for r in first["records"] + rest["records"]] == ["A0", "A1", "A2", "A3", "A4", "A5"]


def test_where_systemmodstamp_after_a_datetime_filters_and_renders_types(fake, http):
    fake.add("Opportunity", StageName="Prospecting", Amount=100, CloseDate=date(2026, 12, 24))
    fake.advance(hours=2)  # 11:00Z
    late = fake.add("Opportunity", StageName="Prospecting", Amount=250.5, CloseDate="2027-01-15", IsWon=False)
    token = login(http)

    soql = "SELECT Id, SystemModstamp, CloseDate, Amount, IsWon FROM Opportunity WHERE SystemModstamp > {}"
    after = query(http, token, soql.format("2026-11-01T11:30:00+01:00")).json()  # 10:30Z; httpx sends %2B
    assert after["totalSize"] == 1
    assert after["records"][0] == {
        "attributes": {"type": "Opportunity", "url": f"{V}/sobjects/Opportunity/{late}"},
        "Id": late,
        "SystemModstamp": "2026-11-01T11:00:00.000+0000",
        "CloseDate": "2027-01-15",
        "Amount": 250.5,
        "IsWon": False,
    }
    assert query(http, token, soql.format("2026-11-01T11:00:00Z")).json()["totalSize"] == 0  # strictly after
    assert query(http, token, soql.format("2026-11-01T08:00:00-02:00")).json()["totalSize"] == 1
    assert fake.queries("Opportunity")[-1].endswith("> 2026-11-01T08:00:00-02:00")

    unescaped = http.get(
        f"{V}/query?q=SELECT+Id+FROM+Opportunity+WHERE+SystemModstamp+>+2026-11-01T11:30:00+01:00",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert unescaped.status_code == 400  # the raw '+' arrived as a space
    assert unescaped.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_query_all_shows_deleted_rows_and_query_does_not(fake, http):
    kept = fake.add("Task", Subject="call", ActivityDate=date(2026, 11, 2))
    gone = fake.add("Task", Subject="email")
    fake.advance(minutes=5)
    fake.delete("Task", gone)
    token = login(http)

    live = query(http, token, "SELECT Id, IsDeleted, ActivityDate FROM Task").json()
    assert [(r["Id"], r["IsDeleted"], r["ActivityDate"]) for r in live["records"]] == [
        (kept, False, "2026-11-02")
    ]
    every = query(http, token, "SELECT Id, IsDeleted, SystemModstamp FROM Task", resource="queryAll").json()
    assert {r["Id"]: r["IsDeleted"] for r in every["records"]} == {kept: False, gone: True}
    assert {r["Id"]: r["SystemModstamp"] for r in every["records"]}[gone] == "2026-11-01T09:05:00.000+0000"


def test_a_query_all_continuation_goes_through_a_query_path_and_keeps_deleted_rows(fake, http):
    ids = [fake.add("Event", Subject=f"e{n}") for n in range(5)]
    fake.delete("Event", ids[4])
    token = login(http)
    pages = every_page(http, token, "SELECT Id, IsDeleted FROM Event ORDER BY Id", resource="queryAll")
    assert f"{V}/query/" in pages[0]["nextRecordsUrl"]
    assert [r["IsDeleted"] for page in pages for r in page["records"]] == [False] * 4 + [True]
    assert [call.kind for call in fake.calls if call.kind != "token"] == ["queryAll", "more"]
    assert fake.calls[-1].sobject == "Event"


def test_lead_history_has_no_systemmodstamp_and_status_changes_write_history(fake, http):
    lead = fake.add("Lead", Status="Open")
    fake.advance(minutes=10)
    fake.update("Lead", lead, Status="Working")
    fake.update("Lead", lead, Company="same status, no row")
    token = login(http)

    for soql in (
        "SELECT Id, SystemModstamp FROM LeadHistory",
        "SELECT Id FROM LeadHistory WHERE SystemModstamp > 2026-11-01T00:00:00Z",
        "SELECT Id FROM LeadHistory ORDER BY SystemModstamp",
    ):
        refused = query(http, token, soql)
        assert refused.status_code == 400
        [error] = refused.json()
        assert error["errorCode"] == "INVALID_FIELD"
        assert error["message"].startswith("No such column 'SystemModstamp' on entity 'LeadHistory'")

    history = query(
        http,
        token,
        "SELECT LeadId, Field, OldValue, NewValue, CreatedDate FROM LeadHistory WHERE CreatedDate > 2026-11-01T09:00:00Z",
    ).json()
    assert [{k: v for k, v in r.items() if k != "attributes"} for r in history["records"]] == [
        {
            "LeadId": lead,
            "Field": "Status",
            "OldValue": "Open",
            "NewValue": "Working",
            "CreatedDate": "2026-11-01T09:10:00.000+0000",
        }
    ]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead LIMIT 5", "MALFORMED_QUERY"),
        ("SELECT Id, FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead ORDER BY CreatedDate DESC", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-01", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-01T09:30:00.000Z", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp >= 2026-11-01T09:30:00Z", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > '2026-11-01T09:30:00Z'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        ("SELECT Id FROM Lead WHERE Company > 2026-11-01T09:30:00Z", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id, Foo FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Contact", "INVALID_TYPE"),
    ],
)
def test_queries_outside_the_subset_are_refused_with_salesforces_error_codes(http, soql, code):
    response = query(http, login(http), soql)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    if code == "INVALID_FIELD":
        assert error["message"].startswith("No such column 'Foo' on entity 'Lead'")


def test_expired_tokens_get_invalid_session_id_until_a_new_token_is_fetched(fake, http):
    fake.add("User", Name="Ann", Email="ann@kpi.example", IsActive=True)
    old = login(http)
    assert query(http, old, "SELECT Id, Name FROM User").status_code == 200
    fake.expire_tokens()

    for _ in range(2):
        expired = query(http, old, "SELECT Id, Name FROM User")
        assert expired.status_code == 401
        assert expired.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
    new = login(http)
    answer = query(http, new, "SELECT Id, Name FROM User")
    assert answer.status_code == 200 and answer.json()["records"][0]["Name"] == "Ann"
    assert [call.status for call in fake.calls_of("query")] == [200, 401, 401, 200]
    assert query(http, old, "SELECT Id FROM User").status_code == 401


def test_request_limit_exceeded_for_n_calls_then_success(fake, http):
    token = login(http)
    fake.exceed_limit(2)
    for _ in range(2):
        limited = query(http, token, "SELECT Id FROM Campaign")
        assert limited.status_code == 403
        assert limited.json() == [
            {
                "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ]
    assert query(http, token, "SELECT Id FROM Campaign").status_code == 200
    fake.make_unavailable(1)
    assert query(http, token, "SELECT Id FROM Campaign").status_code == 503
    assert query(http, token, "SELECT Id FROM Campaign").status_code == 200


def test_a_failing_page_mid_object_answers_500_once_and_its_retry_continues(fake, http):
    for n in range(7):
        fake.add("OpportunityHistory", StageName=f"S{n}", CreatedDate=START + timedelta(minutes=n))
    token = login(http)
    fake.fail_page("OpportunityHistory", 2)
    first = query(http, token, "SELECT Id, StageName FROM OpportunityHistory ORDER BY CreatedDate").json()
    auth = {"Authorization": f"Bearer {token}"}
    failed = http.get(first["nextRecordsUrl"], headers=auth)
    assert failed.status_code == 500 and failed.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    retried = http.get(first["nextRecordsUrl"], headers=auth)
    assert retried.status_code == 200
    assert [r["StageName"] for r in first["records"] + retried.json()["records"]] == [
        f"S{n}" for n in range(6)
    ]


def test_a_second_sync_is_recorded_asking_only_for_changes_since_the_first(fake, http):
    fake.add("Account", Name="one")
    token = login(http)
    assert query(http, token, "SELECT Id, Name FROM Account").json()["totalSize"] == 1
    fake.advance(minutes=15)
    fake.add("Account", Name="two")
    soql = "SELECT Id, Name FROM Account WHERE SystemModstamp > 2026-11-01T09:00:00Z ORDER BY SystemModstamp"
    assert [r["Name"] for r in query(http, token, soql).json()["records"]] == ["two"]
    call = fake.calls_of("query", "Account")[-1]
    assert call.soql == soql and call.status == 200 and call.method == "GET"
    assert call.headers["Authorization"] == f"Bearer {token}"
    assert fake.queries("Account") == ["SELECT Id, Name FROM Account", soql]


def test_lazy_records_are_paged_and_filtered_without_building_the_object(fake, http):
    made: list[int] = []
    source = LazyRecords.generated("Lead", 1_000_000, start=START, fields=lambda i: {"Company": f"Co {i}"})
    fake.objects["Lead"] = LazyRecords(source.count, lambda i: made.append(i) or source.make(i))
    token = login(http)

    page = query(
        http, token, "SELECT Id, Company FROM Lead WHERE SystemModstamp > 2026-11-12T22:46:37Z"
    ).json()
    assert page["totalSize"] == 1_000_000 - 999_998  # records 999998 and 999999 are later
    assert [r["Company"] for r in page["records"]] == ["Co 999998", "Co 999999"]
    assert len(made) < 100
    paged = query(http, token, "SELECT Id FROM Lead ORDER BY SystemModstamp").json()
    assert paged["totalSize"] == 1_000_000 and len(paged["records"]) == 3 and not paged["done"]
    assert len(made) < 200
