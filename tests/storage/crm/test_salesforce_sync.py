"""A small Salesforce org, synced through the real client over real HTTP from tests/fakes/salesforce_api.py.

The org, worked out by hand (all of November 2026, UTC):
- Mia manages Rob and Rita; Ann (named in crm.admins) is the admin.
- Leads: L1 (Rob) Open → Working (Nov 3) → Qualified (Nov 4) → converted into O1 (Nov 5); L2 (Rob) → Working
  (Nov 3); L3 (Rita) stays open; L4 (Rita) → Unqualified (Nov 4).
  Funnel of November: 4 leads, 2 MQL (L1, L2), 1 SQL, 1 opportunity, 1 won (L1 through O1).
- Opportunities: O1 (Rob, from L1) Prospecting (Nov 5) → Proposal (Nov 6) → Closed Won (Nov 9), 1 000;
  O2 (Rita) Prospecting (Nov 5) → Closed Lost (Nov 10). Win rate 1 of 2.
- Activities: T1 Rob's call, done Nov 3; T2 Rita's email, planned for Nov 20; E1 Rob's meeting Nov 6 10–11.
The same org written as canonical CSV files and imported gives the same numbers. Then L2 becomes Qualified and L3
is deleted (Nov 12): the second sync reads only those two leads and one history row, and the funnel moves to 3
leads, 2 SQL.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.salesforce import SalesforceConnector
from storage.crm.sync import sync
from storage.schema import Lead, LeadStageEvent, SyncRun, SyncWatermark, User
from tests.fakes.salesforce_api import FakeSalesforceApi
from tests.fixtures.crm_org import NOV, empty_crm_tables, import_canonical, numbers
from tests.fixtures.kept import kept_and_live_spans, waiting_marks

MIA, ROB, RITA, ANN = "005000000000MIA", "005000000000ROB", "005000000000RIT", "005000000000ANN"
L1, L2, L3, L4 = "00Q0000000000L1", "00Q0000000000L2", "00Q0000000000L3", "00Q0000000000L4"
O1, O2 = "0060000000000O1", "0060000000000O2"


@pytest.fixture
def fake():
    api = FakeSalesforceApi(page_size=3, now=NOV(1))
    api.start()
    try:
        yield api
    finally:
        api.stop()


def settings_for(fake: FakeSalesforceApi) -> Settings:
    env = {
        "SALESFORCE_INSTANCE_URL": fake.base_url,
        "SALESFORCE_CLIENT_ID": fake.client_id,
        "SALESFORCE_CLIENT_SECRET": fake.client_secret,
    }
    return load_settings(env=env, crm={"admins": ["ann@example.com"], "salesforce": {"page_size": 200}})


def connector(fake: FakeSalesforceApi, settings: Settings, **options) -> SalesforceConnector:
    return SalesforceConnector.from_settings(settings, sleep=lambda seconds: None, **options)


def build_org(fake: FakeSalesforceApi) -> None:
    add = fake.add
    add(
        "User",
        Id=MIA,
        Name="Mia Manager",
        Email="mia@example.com",
        IsActive=True,
        TimeZoneSidKey="UTC",
        LanguageLocaleKey="en_US",
    )
    add(
        "User",
        Id=ROB,
        Name="Rob Rep",
        Email="rob@example.com",
        IsActive=True,
        ManagerId=MIA,
        TimeZoneSidKey="Europe/Berlin",
        LanguageLocaleKey="en_US",
    )
    add(
        "User",
        Id=RITA,
        Name="Rita Rep",
        Email="rita@example.com",
        IsActive=True,
        ManagerId=MIA,
        TimeZoneSidKey="UTC",
        LanguageLocaleKey="ru",
    )
    add(
        "User",
        Id=ANN,
        Name="Ann Admin",
        Email="Ann@Example.com",
        IsActive=True,
        TimeZoneSidKey="UTC",
        LanguageLocaleKey="en_US",
    )
    fake.now = NOV(2)
    add("Lead", Id=L1, OwnerId=ROB, LeadSource="Web", Company="Acme", Status="Open - Not Contacted")
    add("Lead", Id=L2, OwnerId=ROB, LeadSource="Web", Company="Beta", Status="Open - Not Contacted")
    fake.now = NOV(2, 18)
    add(
        "Task",
        Id="00T0000000000T1",
        OwnerId=ROB,
        TaskSubtype="Call",
        Status="Completed",
        ActivityDate=date(2026, 11, 3),
        CompletedDateTime=NOV(3, 10),
        WhoId=L1,
    )
    fake.now = NOV(3)
    add("Lead", Id=L3, OwnerId=RITA, LeadSource="Referral", Company="Gamma", Status="Open - Not Contacted")
    add("Lead", Id=L4, OwnerId=RITA, LeadSource="Referral", Company="Delta", Status="Open - Not Contacted")
    fake.update("Lead", L1, Status="Working - Contacted")
    fake.update("Lead", L2, Status="Working - Contacted")
    fake.now = NOV(4)
    fake.update("Lead", L1, Status="Qualified")
    fake.update("Lead", L4, Status="Unqualified")
    add(
        "Task",
        Id="00T0000000000T2",
        OwnerId=RITA,
        TaskSubtype="Email",
        Status="Not Started",
        ActivityDate=date(2026, 11, 20),
    )
    fake.now = NOV(5)
    add(
        "Opportunity",
        Id=O1,
        OwnerId=ROB,
        StageName="Prospecting",
        IsClosed=False,
        IsWon=False,
        Amount=1000,
        CloseDate=date(2026, 11, 30),
    )
    add(
        "Opportunity",
        Id=O2,
        OwnerId=RITA,
        StageName="Prospecting",
        IsClosed=False,
        IsWon=False,
        Amount=500,
        CloseDate=date(2026, 11, 30),
    )
    fake.update(
        "Lead",
        L1,
        Status="Closed - Converted",
        IsConverted=True,
        ConvertedDate=date(2026, 11, 5),
        ConvertedOpportunityId=O1,
    )
    add(
        "Event",
        Id="00U0000000000E1",
        OwnerId=ROB,
        StartDateTime=NOV(6, 10),
        EndDateTime=NOV(6, 11),
        WhatId=O1,
    )
    fake.now = NOV(6)
    fake.update("Opportunity", O1, StageName="Proposal/Price Quote")
    fake.now = NOV(9)
    fake.update(
        "Opportunity", O1, StageName="Closed Won", IsClosed=True, IsWon=True, CloseDate=date(2026, 11, 9)
    )
    fake.now = NOV(10)
    fake.update(
        "Opportunity", O2, StageName="Closed Lost", IsClosed=True, IsWon=False, CloseDate=date(2026, 11, 10)
    )
    fake.now = NOV(11)


# The same org as kpibot's canonical files, written by hand from the description above.
CANONICAL = {
    "teams": [{"team_id": f"team-{MIA}", "name": "Mia Manager", "manager_id": MIA}],
    "users": [
        {"user_id": MIA, "name": "Mia Manager", "email": "mia@example.com", "role": "manager",
         "team_id": f"team-{MIA}", "timezone": "UTC", "locale": "en", "active": "true"},
        {"user_id": ROB, "name": "Rob Rep", "email": "rob@example.com", "role": "rep", "team_id": f"team-{MIA}",
         "manager_id": MIA, "timezone": "Europe/Berlin", "locale": "en", "active": "true"},
        {"user_id": RITA, "name": "Rita Rep", "email": "rita@example.com", "role": "rep",
         "team_id": f"team-{MIA}", "manager_id": MIA, "timezone": "UTC", "locale": "ru", "active": "true"},
        {"user_id": ANN, "name": "Ann Admin", "email": "Ann@Example.com", "role": "admin", "timezone": "UTC",
         "locale": "en", "active": "true"},
    ],
    "leads": [
        {"lead_id": L1, "created_at": NOV(2), "owner_id": ROB, "source": "Web", "company": "Acme"},
        {"lead_id": L2, "created_at": NOV(2), "owner_id": ROB, "source": "Web", "company": "Beta"},
        {"lead_id": L3, "created_at": NOV(3), "owner_id": RITA, "source": "Referral", "company": "Gamma"},
        {"lead_id": L4, "created_at": NOV(3), "owner_id": RITA, "source": "Referral", "company": "Delta"},
    ],
    "lead_stage_events": [
        {"lead_id": L1, "stage": "mql", "entered_at": NOV(3)},
        {"lead_id": L2, "stage": "mql", "entered_at": NOV(3)},
        {"lead_id": L1, "stage": "sql", "entered_at": NOV(4)},
        {"lead_id": L4, "stage": "disqualified", "entered_at": NOV(4)},
        {"lead_id": L1, "stage": "opportunity", "entered_at": NOV(5)},
    ],
    "deals": [
        {"deal_id": O1, "owner_id": ROB, "created_at": NOV(5), "status": "won", "closed_at": NOV(9, 0),
         "amount": "1000", "lead_id": L1},
        {"deal_id": O2, "owner_id": RITA, "created_at": NOV(5), "status": "lost", "closed_at": NOV(10, 0),
         "amount": "500"},
    ],
    "deal_stage_events": [
        {"deal_id": O1, "stage": "Prospecting", "entered_at": NOV(5)},
        {"deal_id": O1, "stage": "Proposal/Price Quote", "entered_at": NOV(6)},
        {"deal_id": O1, "stage": "Closed Won", "entered_at": NOV(9)},
        {"deal_id": O2, "stage": "Prospecting", "entered_at": NOV(5)},
        {"deal_id": O2, "stage": "Closed Lost", "entered_at": NOV(10)},
    ],
    "activities": [
        {"activity_id": "00T0000000000T1", "owner_id": ROB, "type": "call", "created_at": NOV(2, 18),
         "due_at": NOV(3, 0), "completed_at": NOV(3, 10), "status": "done", "lead_id": L1},
        {"activity_id": "00T0000000000T2", "owner_id": RITA, "type": "email", "created_at": NOV(4),
         "due_at": NOV(20, 0), "status": "planned"},
        {"activity_id": "00U0000000000E1", "owner_id": ROB, "type": "meeting", "created_at": NOV(5),
         "due_at": NOV(6, 10), "completed_at": NOV(6, 11), "status": "done", "deal_id": O1},
    ],
}  # fmt: skip


def measure(answer: list, key: str):
    return dict(answer)[key]


def test_a_sync_gives_the_same_numbers_as_the_canonical_files_then_reads_only_what_changed(
    engine, fake, tmp_path
):
    settings = settings_for(fake)
    build_org(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    funnel = dict(from_files["funnel"])
    assert (funnel["lead"], funnel["mql"], funnel["sql"], funnel["opportunity"], funnel["won"]) == (
        4,
        2,
        1,
        1,
        1,
    )
    empty_crm_tables(engine)

    first = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert first.completed, first.error
    assert first.rejects == []
    read = {(o.object, o.table): o.read for o in first.objects}
    assert (
        read[("User", "users")] == 4 and read[("Lead", "leads")] == 4 and read[("Opportunity", "deals")] == 2
    )
    assert numbers(engine, settings, ANN) == from_files

    with engine.connect() as conn:
        roles = dict(conn.execute(select(User.user_id, User.role)).all())
        teams = dict(conn.execute(select(User.user_id, User.team_id)).all())
    assert roles == {MIA: "manager", ROB: "rep", RITA: "rep", ANN: "admin"}
    assert teams[ROB] == teams[RITA] == teams[MIA] == f"team-{MIA}" and teams[ANN] is None
    with engine.begin() as conn:  # Rob links his Telegram account; the next sync must keep it
        conn.execute(update(User).where(User.user_id == ROB).values(telegram_user_id=4242))

    calls_before = len(fake.calls)
    fake.now = NOV(12)
    fake.update("Lead", L2, Status="Qualified")
    fake.delete("Lead", L3)
    second = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert second.completed, second.error
    by_object = {(o.object, o.table): o for o in second.objects}
    assert by_object[("Lead", "leads")].read == 2 and by_object[("Lead", "leads")].deleted == 1
    assert by_object[("LeadHistory", "lead_stage_events")].read == 1
    assert by_object[("Opportunity", "deals")].read == 0
    # Users are read whole: teams and roles follow from all of them.
    assert by_object[("User", "users")].read == 4
    lead_queries = fake.queries("Lead", after=calls_before)
    assert lead_queries and all("WHERE SystemModstamp > 2026-11-05T09:00:00Z" in q for q in lead_queries)

    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    assert (funnel["lead"], funnel["mql"], funnel["sql"], funnel["opportunity"], funnel["won"]) == (
        3,
        2,
        2,
        1,
        1,
    )
    with engine.connect() as conn:
        assert conn.execute(select(User.telegram_user_id).where(User.user_id == ROB)).scalar() == 4242
        assert conn.execute(select(User.team_id).where(User.user_id == RITA)).scalar() == f"team-{MIA}"
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == L3)).first() is None
        runs = conn.execute(select(SyncRun.status, SyncRun.read, SyncRun.deleted).order_by(SyncRun.id)).all()
    assert [r.status for r in runs] == ["ok", "ok"] and runs[1].deleted == 1


class _Killed(Exception):
    pass


def test_a_sync_killed_mid_object_and_run_again_ends_with_the_same_data(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    killing = connector(fake, settings)
    real_read = killing.read

    def read_then_die(mapped, since):
        for count, record in enumerate(real_read(mapped, since), start=1):
            if mapped.table == "deal_stage_events" and count == 3:
                raise _Killed("the process was killed")
            yield record

    killing.read = read_then_die  # type: ignore[method-assign]
    broken = sync(engine, settings, killing, now=fake.now)
    assert not broken.completed and "killed" in (broken.error or "")
    with engine.connect() as conn:
        marks = set(conn.execute(select(SyncWatermark.object)).scalars())
    assert "Opportunity>deals" in marks and "OpportunityHistory>deal_stage_events" not in marks
    again = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert again.completed, again.error
    after_rerun = numbers(engine, settings, ANN)
    empty_crm_tables(engine)
    with engine.begin() as conn:
        conn.execute(SyncWatermark.__table__.delete())
    clean = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert clean.completed and numbers(engine, settings, ANN) == after_rerun


def test_limits_and_an_expired_token_are_waited_out_and_a_bad_record_is_listed_while_the_rest_lands(
    engine, fake
):
    settings = settings_for(fake)
    build_org(fake)
    fake.add("Lead", Id="00Q00000000BAD1", OwnerId=ROB, Status="Some Custom Status")
    waits: list[float] = []
    fake.exceed_limit(calls=2)
    sf = SalesforceConnector.from_settings(settings, sleep=waits.append)
    result = sync(engine, settings, sf, now=fake.now)
    assert result.completed, result.error
    assert len(waits) == 2  # REQUEST_LIMIT_EXCEEDED twice, then the query went through
    bad = [r for r in result.rejects if r.key == "00Q00000000BAD1"]
    assert len(bad) == 1 and "Some Custom Status" in bad[0].reason and "lead_stages" in bad[0].reason
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "00Q00000000BAD1")).first() is not None
        stages = set(conn.execute(select(LeadStageEvent.stage).where(LeadStageEvent.lead_id == L1)).scalars())
    assert {"mql", "sql", "opportunity"} <= stages

    fake.expire_tokens()
    fake.now = NOV(13)
    fake.update("Lead", L2, Status="Qualified")
    tokens_before = len(fake.calls_of("token"))
    again = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert again.completed, again.error
    assert len(fake.calls_of("token")) == tokens_before + 1


def test_a_wrong_secret_is_one_clear_line_and_the_run_says_why(engine, db_url, fake, capsys, monkeypatch):
    for name, value in {
        "SALESFORCE_INSTANCE_URL": fake.base_url,
        "SALESFORCE_CLIENT_ID": fake.client_id,
        "SALESFORCE_CLIENT_SECRET": "not-the-secret-at-all",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["--db", db_url, "sync", "salesforce"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "kpibot: salesforce sync failed: Salesforce refused the credentials (400): invalid client credentials"
    ]
    assert "not-the-secret-at-all" not in capsys.readouterr().out
    assert main(["--db", db_url, "syncs"]) == 0
    listing = capsys.readouterr().out
    assert "failed" in listing and "invalid client credentials" in listing


def write_export(fake: FakeSalesforceApi, folder: Path) -> None:
    """The fake org as Salesforce's Data Loader writes it: one CSV per object, upper-case API names as headers,
    `…000Z` moments, `true`/`false`."""

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    folder.mkdir()
    for sobject in ("User", "Lead", "LeadHistory", "Opportunity", "OpportunityHistory", "Task", "Event"):
        records = fake.records(sobject)
        columns = list(dict.fromkeys(k for r in records for k in r))
        with (folder / f"{sobject}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([c.upper() for c in columns])
            for record in records:
                writer.writerow([cell(record.get(c)) for c in columns])


def test_the_same_org_from_export_files_gives_the_same_numbers(engine, db_url, fake, tmp_path, capsys):
    settings = settings_for(fake)
    build_org(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    empty_crm_tables(engine)
    export = tmp_path / "export"
    write_export(fake, export)
    config = tmp_path / "kpibot.yaml"
    config.write_text("crm:\n  admins: [ann@example.com]\n", encoding="utf-8")
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "salesforce", str(export)]) == 0
    out = capsys.readouterr().out
    assert "Lead" in out and "read        4" in out
    assert numbers(engine, settings, ANN) == from_files
    kept, live = kept_and_live_spans(engine, settings)  # the import refreshed what kpibot keeps
    assert waiting_marks(engine) == 0 and kept == live and kept
    with engine.connect() as conn:  # an export moves no sync watermark
        assert conn.execute(select(SyncWatermark.object)).first() is None


def test_an_export_row_that_fails_is_named_by_file_line_and_id_and_its_table_is_not_written(
    engine, db_url, fake, tmp_path, capsys
):
    build_org(fake)
    export = tmp_path / "export"
    write_export(fake, export)
    leads = (export / "Lead.csv").read_text(encoding="utf-8").splitlines()
    status = leads[0].split(",").index("STATUS")
    cells = leads[2].split(",")
    cells[status] = "Sleeping"
    leads[2] = ",".join(cells)
    (export / "Lead.csv").write_text("\n".join(leads) + "\n", encoding="utf-8")
    assert main(["--db", db_url, "import", "--from", "salesforce", str(export)]) == 1
    captured = capsys.readouterr()
    assert (
        f"Lead.csv:3 {L2}" in captured.err
    )  # the header is line 1 and "'Sleeping' is not mapped to a funnel stage" in captured.err
    # The leads themselves do not read the status and land; the stages read from Lead.csv are refused whole.
    refused = [
        line for line in captured.out.splitlines() if "→ lead_stage_events" in line and "Lead " in line
    ]
    assert refused and "nothing of Lead written: 1 bad record(s)" in refused[0]
    with engine.connect() as conn:
        assert len(conn.execute(select(Lead.lead_id)).all()) == 4


def test_an_access_token_alone_works_until_it_expires_and_then_says_what_to_set(engine, fake):
    build_org(fake)
    token = fake.issue_token()
    settings = load_settings(
        env={"SALESFORCE_INSTANCE_URL": fake.base_url, "SALESFORCE_ACCESS_TOKEN": token},
        crm={"admins": ["ann@example.com"]},
    )
    first = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert first.completed, first.error
    assert fake.calls_of("token") == []  # the given token was used as it is
    fake.expire_tokens()
    second = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert (
        second.error
        == "the Salesforce access token was refused and there are no credentials to get a new one"
    )


def test_the_jwt_bearer_flow_signs_an_assertion_for_the_configured_user(engine, fake, tmp_path):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "server.key"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    build_org(fake)
    env = {
        "SALESFORCE_INSTANCE_URL": fake.base_url,
        "SALESFORCE_CLIENT_ID": fake.client_id,
        "SALESFORCE_USERNAME": fake.username,
        "SALESFORCE_PRIVATE_KEY_FILE": str(pem),
    }
    settings = load_settings(env=env)
    result = sync(engine, settings, connector(fake, settings), now=fake.now)
    assert result.completed, result.error
    (call,) = fake.calls_of("token")
    assert call.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        call.form["assertion"], key.public_key(), algorithms=["RS256"], audience=fake.base_url
    )
    assert claims["iss"] == fake.client_id and claims["sub"] == fake.username


def test_a_dry_run_says_what_the_next_sync_would_do_and_writes_nothing(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    assert sync(engine, settings, connector(fake, settings), now=fake.now).completed
    with engine.connect() as conn:
        marks = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.watermark)).all())
    fake.now = NOV(12)
    fake.update("Lead", L2, Status="Qualified")
    fake.delete("Lead", L3)
    result = sync(engine, settings, connector(fake, settings), now=fake.now, dry_run=True)
    assert result.completed and result.run_id is None
    leads = {(o.object, o.table): o for o in result.objects}[("Lead", "leads")]
    assert (leads.read, leads.written, leads.deleted) == (2, 1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == L3)).first() is not None
        assert dict(conn.execute(select(SyncWatermark.object, SyncWatermark.watermark)).all()) == marks
        assert len(conn.execute(select(SyncRun.id)).all()) == 1
