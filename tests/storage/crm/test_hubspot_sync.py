"""A small HubSpot portal, synced through the real client over real HTTP from tests/fakes/hubspot_api.py.

HubSpot keeps when each record entered each stage (`hs_v2_date_entered_<stage>`), so one sync at the end of the
month gives the whole history. The org, worked out by hand (November 2026, UTC, changes at 09:00):
- Owners: Ann (admin by crm.admins), Rob and Rita (team "East", HubSpot team 9001), Old (archived → inactive).
- Pipeline "Sales": Appointment Scheduled, Qualified To Buy, Contract Signed (closed, probability 1.0 → won),
  Closed Lost (closed, 0.0 → lost).
- Contacts: P1 (Rob) lead Nov 2 → MQL Nov 3 → SQL Nov 4 → opportunity Nov 5 → customer Nov 9; P2 (Rob) lead Nov 2
  → MQL Nov 3; P3 (Rita) subscriber Nov 3; P4 (Rita) lead Nov 3 → other Nov 4 (disqualified).
  Funnel of November: 4 leads, 2 MQL, 1 SQL, 1 opportunity, 1 won.
- Deals: D1 (Rob, contact P1, company Acme) Appointment Scheduled Nov 5 → Qualified To Buy Nov 6 → Contract Signed
  Nov 9, 1 000, won; D2 (Rita) Appointment Scheduled Nov 5 → Qualified To Buy Nov 10, 500, open.
- Activities: K1 Rob's call with P1 at Nov 3 10:00, logged at 18:00, completed; M1 Rob's meeting on D1 Nov 6
  10:00–11:00, completed; E1 Rob's email to P2 Nov 4; T1 Rita's task due Nov 20, not started.
Then (Nov 12) P2 becomes an SQL, D2 is lost and P3 deleted: the second sync reads only those, deletes P3, and the
funnel moves to 3 leads, 2 SQL.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from metrics.catalogue import MetricQuery, query
from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.cli import EXPORTS
from storage.crm.hubspot import HubspotAuth, HubspotClient, HubspotConnector
from storage.crm.sync import CrmError, sync
from storage.schema import (
    Account,
    Activity,
    Deal,
    DealStageEvent,
    Lead,
    LeadStageEvent,
    SyncRun,
    SyncWatermark,
    Team,
    User,
)
from tests.fakes.hubspot_api import FakeHubspotApi


def NOV(day: int, hour: int = 9, minute: int = 0) -> datetime:  # noqa: N802 - reads as a date
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


ANN, ROB, RITA, OLD = "501", "502", "503", "504"
P1, P2, P3, P4 = "201", "202", "203", "204"
D1, D2 = "301", "302"
ACME = "101"


@pytest.fixture(scope="module")
def server():
    api = FakeHubspotApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def fake(server: FakeHubspotApi) -> FakeHubspotApi:
    server.reset(NOV(1))
    server.token = "pat-na1-test-token"
    return server


def env_of(fake: FakeHubspotApi) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": fake.token, "HUBSPOT_BASE_URL": fake.base_url}


def settings_for(fake: FakeHubspotApi, **hubspot) -> Settings:
    crm = {"admins": ["ann@example.com"], "hubspot": {"page_size": 2, **hubspot}}
    return load_settings(env=env_of(fake), crm=crm)


def connector(settings: Settings, waits: list[float] | None = None, **options) -> HubspotConnector:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    return HubspotConnector.from_settings(settings, sleep=sleep, searches_per_second=0, **options)


def lifecycle(**entered: datetime) -> dict[str, datetime]:
    return {f"hs_v2_date_entered_{stage}": at for stage, at in entered.items()}


def build_org(fake: FakeHubspotApi) -> None:
    build_owners(fake)
    build_records(fake)


def build_owners(fake: FakeHubspotApi) -> None:
    fake.add_owner(ANN, "ann@example.com", "Ann", "Admin")
    fake.add_owner(ROB, "rob@example.com", "Rob", "Rep", team=("9001", "East"))
    fake.add_owner(RITA, "rita@example.com", "Rita", "Rep", team=("9001", "East"))
    fake.add_owner(OLD, "old@example.com", "Old", "Timer")
    fake.owners[-1]["archived"] = True
    fake.add_pipeline(
        "default",
        "Sales",
        [
            ("appointmentscheduled", "Appointment Scheduled", False, "0.2"),
            ("qualifiedtobuy", "Qualified To Buy", False, "0.4"),
            ("contractsigned", "Contract Signed", True, "1.0"),
            ("closedlost", "Closed Lost", True, "0.0"),
        ],
    )


def build_records(fake: FakeHubspotApi) -> None:
    fake.now = NOV(2)
    fake.add(
        "companies", {"name": "Acme Corp", "hubspot_owner_id": ROB, "industry": "COMPUTER_SOFTWARE"}, ACME
    )
    contact = {"hubspot_owner_id": ROB, "hs_analytics_source": "ORGANIC_SEARCH", "company": "Acme Corp"}
    fake.add(
        "contacts",
        {**contact, "lifecyclestage": "customer", **lifecycle(lead=NOV(2), marketingqualifiedlead=NOV(3),
         salesqualifiedlead=NOV(4), opportunity=NOV(5), customer=NOV(9))},
        P1,
    )  # fmt: skip
    fake.add(
        "contacts",
        {**contact, "lifecyclestage": "marketingqualifiedlead", **lifecycle(lead=NOV(2), marketingqualifiedlead=NOV(3))},
        P2,
    )  # fmt: skip
    fake.now = NOV(3)
    fake.add(
        "contacts",
        {"hubspot_owner_id": RITA, "lifecyclestage": "subscriber", **lifecycle(subscriber=NOV(3))},
        P3,
    )
    # P4's dates are the older properties (hs_lifecyclestage_<stage>_date) only.
    fake.add(
        "contacts",
        {"hubspot_owner_id": RITA, "lifecyclestage": "other", "hs_lifecyclestage_lead_date": NOV(3),
         "hs_lifecyclestage_other_date": NOV(4)},
        P4,
    )  # fmt: skip
    fake.now = NOV(5)
    fake.add(
        "deals",
        {"dealname": "Acme licences", "hubspot_owner_id": ROB, "amount": "1000", "pipeline": "default",
         "dealstage": "contractsigned", "closedate": NOV(9, 15), "hs_date_entered_appointmentscheduled": NOV(5),
         "hs_v2_date_entered_qualifiedtobuy": NOV(6), "hs_v2_date_entered_contractsigned": NOV(9)},
        D1,
    )  # fmt: skip
    fake.add(
        "deals",
        {"dealname": "Small deal", "hubspot_owner_id": RITA, "amount": "500.00", "pipeline": "default",
         "dealstage": "qualifiedtobuy", "closedate": NOV(30), "hs_v2_date_entered_appointmentscheduled": NOV(5),
         "hs_v2_date_entered_qualifiedtobuy": NOV(10)},
        D2,
    )  # fmt: skip
    fake.associate("deals", D1, "companies", ACME, 5)
    fake.associate("deals", D1, "contacts", P1, 3)
    fake.now = NOV(6)
    call = fake.add(
        "calls",
        {"hubspot_owner_id": ROB, "hs_call_status": "COMPLETED", "hs_timestamp": NOV(3, 10), "hs_createdate": NOV(3, 18)},
        "401",
    )  # fmt: skip
    fake.associate("calls", call, "contacts", P1)
    meeting = fake.add(
        "meetings",
        {"hubspot_owner_id": ROB, "hs_meeting_outcome": "COMPLETED", "hs_meeting_start_time": NOV(6, 10),
         "hs_meeting_end_time": NOV(6, 11), "hs_timestamp": NOV(6, 10), "hs_createdate": NOV(5, 12)},
        "402",
    )  # fmt: skip
    fake.associate("meetings", meeting, "deals", D1)
    fake.associate("meetings", meeting, "companies", ACME)
    email = fake.add(
        "emails", {"hubspot_owner_id": ROB, "hs_timestamp": NOV(4, 8), "hs_email_status": "SENT"}, "403"
    )
    fake.associate("emails", email, "contacts", P2)
    fake.add(
        "tasks",
        {"hubspot_owner_id": RITA, "hs_task_status": "NOT_STARTED", "hs_timestamp": NOV(20), "hs_createdate": NOV(6)},
        "404",
    )  # fmt: skip


def funnel_of(engine, settings: Settings) -> tuple:
    result = query(engine, settings, MetricQuery("funnel", viewer_id=ANN, now=NOV(30, 12), period="2026-11"))
    funnel = {m.key: m.value for m in result.measures}
    return tuple(funnel[stage] for stage in ("lead", "mql", "sql", "opportunity", "won"))


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def test_a_sync_lands_the_org_with_its_history_then_reads_only_what_changed(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    fake.now = NOV(11)
    first = sync(engine, settings, connector(settings), now=fake.now)
    assert first.completed, first.error
    assert first.rejects == []
    with engine.connect() as conn:
        users = {u.user_id: u for u in conn.execute(select(User))}
        assert {k: (u.name, u.role, u.team_id, u.active) for k, u in users.items()} == {
            ANN: ("Ann Admin", "admin", None, True),
            ROB: ("Rob Rep", "rep", "hubspot-team-9001", True),
            RITA: ("Rita Rep", "rep", "hubspot-team-9001", True),
            OLD: ("Old Timer", "rep", None, False),
        }
        assert conn.execute(select(Team.team_id, Team.name)).all() == [("hubspot-team-9001", "East")]
        account = conn.execute(select(Account)).one()
        assert (account.account_id, account.name, account.owner_id, account.segment) == (
            ACME, "Acme Corp", ROB, "COMPUTER_SOFTWARE",
        )  # fmt: skip
        leads = {lead.lead_id: lead for lead in conn.execute(select(Lead))}
        assert set(leads) == {P1, P2, P3, P4}
        assert (leads[P1].owner_id, leads[P1].source, leads[P1].created_at) == (
            ROB,
            "ORGANIC_SEARCH",
            naive(NOV(2)),
        )
        stages = sorted(
            conn.execute(select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at))
        )
        assert stages == sorted([
            (P1, "mql", naive(NOV(3))), (P1, "sql", naive(NOV(4))), (P1, "opportunity", naive(NOV(5))),
            (P1, "won", naive(NOV(9))), (P2, "mql", naive(NOV(3))), (P4, "disqualified", naive(NOV(4))),
        ])  # fmt: skip
        deals = {d.deal_id: d for d in conn.execute(select(Deal))}
        d1, d2 = deals[D1], deals[D2]
        assert (d1.status, d1.closed_at, d1.amount, d1.lead_id, d1.account_id) == (
            "won", naive(NOV(9, 15)), Decimal("1000"), P1, ACME,
        )  # fmt: skip
        assert (d2.status, d2.closed_at, d2.amount, d2.lead_id, d2.account_id) == (
            "open", None, Decimal("500"), None, None,
        )  # fmt: skip
        events = sorted(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
        assert events == [
            (D1, "Appointment Scheduled", naive(NOV(5))), (D1, "Contract Signed", naive(NOV(9))),
            (D1, "Qualified To Buy", naive(NOV(6))), (D2, "Appointment Scheduled", naive(NOV(5))),
            (D2, "Qualified To Buy", naive(NOV(10))),
        ]  # fmt: skip
        acts = {
            a.activity_id: (a.type, a.status, a.owner_id, a.created_at, a.due_at, a.completed_at, a.lead_id, a.deal_id,
                            a.account_id)
            for a in conn.execute(select(Activity))
        }  # fmt: skip
    assert acts == {
        "401": ("call", "done", ROB, naive(NOV(3, 10)), naive(NOV(3, 10)), naive(NOV(3, 10)), P1, None, None),
        "402": (
            "meeting",
            "done",
            ROB,
            naive(NOV(5, 12)),
            naive(NOV(6, 10)),
            naive(NOV(6, 11)),
            None,
            D1,
            ACME,
        ),
        "403": ("email", "done", ROB, naive(NOV(4, 8)), naive(NOV(4, 8)), naive(NOV(4, 8)), P2, None, None),
        "404": ("task", "planned", RITA, naive(NOV(6)), naive(NOV(20)), None, None, None, None),
    }
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    # Every search asked for at most a page and within the search API's documented shape.
    assert all(c.body["limit"] == 2 and c.status == 200 for c in fake.searches())
    # D2 and the task have no associations: those batch reads were answered 207 with errors, and still read.
    assert any(c.status == 207 and "/crm/v4/associations/deals/" in c.path for c in fake.calls)

    # Nov 12: P2 becomes an SQL, D2 is lost, P3 is deleted.
    fake.now = NOV(12)
    fake.update(
        "contacts", P2, lifecyclestage="salesqualifiedlead", hs_v2_date_entered_salesqualifiedlead=NOV(12)
    )
    fake.update("deals", D2, dealstage="closedlost", closedate=NOV(12), hs_v2_date_entered_closedlost=NOV(12))
    fake.archive("contacts", P3)
    fake.calls.clear()
    fake.now = NOV(13)
    second = sync(engine, settings, connector(settings), now=fake.now)
    assert second.completed, second.error
    counts = {(o.object, o.table): (o.read, o.deleted) for o in second.objects}
    assert counts[("companies", "accounts")] == (0, 0)
    assert counts[("contacts", "leads")] == (1, 1)
    assert counts[("contacts", "lead_stage_events")] == (3, 0)  # P2's lead, mql and sql entries
    assert counts[("deals", "deals")] == (1, 0)
    assert counts[("calls", "activities")] == (0, 0)
    contact_filters = [c.body["filterGroups"] for c in fake.searches("contacts")]
    assert contact_filters and all(
        g[0]["filters"][0]["propertyName"] == "lastmodifieddate" and g[0]["filters"][0]["operator"] == "GT"
        for g in contact_filters
    )
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == P3)).first() is None
        d2 = conn.execute(select(Deal).where(Deal.deal_id == D2)).one()
        assert (d2.status, d2.closed_at) == ("lost", naive(NOV(12)))
        marks = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.watermark)).tuples().all())
    assert marks["contacts>leads"] == naive(NOV(12))
    assert marks["deals>deals"] == naive(NOV(12))
    assert marks["companies>accounts"] == naive(NOV(2))
    assert "contacts>leads#deleted" in marks
    assert funnel_of(engine, settings) == (3, 2, 2, 1, 1)
    # A third sync finds nothing new and deletes nothing twice.
    third = sync(engine, settings, connector(settings), now=NOV(14))
    assert sum(o.deleted for o in third.objects) == 0
    assert sum(o.read for o in third.objects if o.table != "users") == 0


def test_limits_and_5xx_are_waited_out_and_a_bad_record_is_listed_while_the_rest_lands(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    fake.add(
        "contacts",
        {"hubspot_owner_id": ROB, "lifecyclestage": "1234567", "hs_v2_date_entered_1234567": NOV(7)},
        "299",
    )
    fake.fail(429, times=2, retry_after="7")
    fake.fail(502)
    waits: list[float] = []
    result = sync(engine, settings, connector(settings, waits), now=NOV(11))
    assert result.completed, result.error
    assert waits[:3] == [7.0, 7.0, 8.0]  # Retry-After twice, then the backoff after a 502
    bad = [r for r in result.rejects if r.key == "299"]
    assert len(bad) == 1 and "1234567" in bad[0].reason and "crm.hubspot.lead_stages" in bad[0].reason
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "299")).first() is not None
        run = conn.execute(select(SyncRun)).one()
    assert run.status == "ok" and run.rejected == 1
    # The team maps its custom stage: the same contact lands at sal.
    mapped = settings_for(fake, lead_stages={"1234567": "sal"})
    again = sync(engine, mapped, connector(mapped), full=True, now=NOV(11))
    assert again.completed and again.rejects == []
    with engine.connect() as conn:
        assert (
            conn.execute(select(LeadStageEvent.stage).where(LeadStageEvent.lead_id == "299")).scalar()
            == "sal"
        )


def test_the_search_cap_is_kept_by_asking_again_from_the_last_stamp(fake):
    settings = settings_for(fake)
    fake.search_cap = 4
    for day in (2, 3, 4, 5, 6):
        fake.now = NOV(day)
        fake.add("companies", {"name": f"Company {day}"})
    fake.now = NOV(7)
    for n in range(5):  # more records at one stamp than a query holds
        fake.add("companies", {"name": f"Mass {n}"})
    fake.now = NOV(8)
    fake.add("companies", {"name": "Last"})
    auth = HubspotAuth.from_settings(settings)
    client = HubspotClient(auth, page_size=2, search_cap=4, searches_per_second=0)
    names = [
        r["properties"]["name"] for r in client.search("companies", ["name"], "hs_lastmodifieddate", None)
    ]
    client.close()
    assert sorted(names) == sorted(
        [f"Company {d}" for d in (2, 3, 4, 5, 6)] + [f"Mass {n}" for n in range(5)] + ["Last"]
    )
    assert len(names) == len(set(names)) == 11
    assert all(c.status == 200 for c in fake.searches())
    operators = {f["operator"] for c in fake.searches() for g in c.body["filterGroups"] for f in g["filters"]}
    assert operators == {"GTE", "EQ", "GT"}


def write_config(folder: Path) -> str:
    path = folder / "kpibot.yaml"
    path.write_text(
        "crm:\n  admins: [ann@example.com]\n  hubspot:\n    searches_per_second: 0\n", encoding="utf-8"
    )
    return str(path)


def test_a_wrong_token_is_one_clear_line_and_the_data_stays(
    engine, db_url, fake, capsys, monkeypatch, tmp_path
):
    build_org(fake)
    for name, value in env_of(fake).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path)
    assert main(["--config", config, "--db", db_url, "sync", "hubspot"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-revoked-token-value")
    assert main(["--config", config, "--db", db_url, "sync", "hubspot", "--full"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kpibot: hubspot sync failed: HubSpot refused the access token "
        "(INVALID_AUTHENTICATION: Authentication credentials not found.): check HUBSPOT_ACCESS_TOKEN"
    ]
    assert "revoked-token-value" not in captured.out + captured.err
    with engine.connect() as conn:
        assert len(conn.execute(select(Lead.lead_id)).all()) == 4
        assert [r.status for r in conn.execute(select(SyncRun).order_by(SyncRun.id))] == ["ok", "failed"]
    assert main(["--db", db_url, "syncs"]) == 0
    listing = capsys.readouterr().out
    assert "hubspot" in listing and "failed" in listing and "INVALID_AUTHENTICATION" in listing


def test_a_missing_token_is_refused_before_any_call(fake, db_url, capsys, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    assert main(["--db", db_url, "sync", "hubspot"]) == 2
    assert "HUBSPOT_ACCESS_TOKEN is not set" in capsys.readouterr().err
    assert fake.calls == []


def berlin(moment: datetime) -> str:
    """A moment as HubSpot's export writes it for a user in Europe/Berlin (CET in November: UTC+1)."""
    return (moment.replace(tzinfo=None) + (datetime(2026, 1, 1, 1) - datetime(2026, 1, 1))).strftime(
        "%Y-%m-%d %H:%M"
    )


def write_export(folder: Path, contact_owner_of_p4: str = "Rita Rep") -> Path:
    folder.mkdir()
    entered = 'Date entered "{} (Sales Pipeline)"'
    files = {
        "companies.csv": [
            ["Record ID", "Company name", "Company owner", "Create Date", "Industry"],
            [ACME, "Acme Corp", "Rob Rep", berlin(NOV(2)), "COMPUTER_SOFTWARE"],
        ],
        "contacts.csv": [
            ["Record ID", "First Name", "Last Name", "Contact owner", "Lifecycle Stage", "Create Date",
             "Last Modified Date", "Original Source", "Company Name", "Became a Lead Date",
             "Became a Marketing Qualified Lead Date", "Became a Sales Qualified Lead Date",
             "Became an Opportunity Date", "Became a Customer Date",
             'Date entered "Other (Lifecycle Stage Pipeline)"'],
            [P1, "Pia", "One", "Rob Rep", "Customer", berlin(NOV(2)), berlin(NOV(9)), "ORGANIC_SEARCH", "Acme Corp",
             berlin(NOV(2)), berlin(NOV(3)), berlin(NOV(4)), berlin(NOV(5)), berlin(NOV(9)), ""],
            [P2, "Pat", "Two", "rob@example.com", "Marketing Qualified Lead", berlin(NOV(2)), berlin(NOV(3)), "", "",
             berlin(NOV(2)), berlin(NOV(3)), "", "", "", ""],
            [P3, "Sam", "Three", "Rita Rep", "Subscriber", berlin(NOV(3)), berlin(NOV(3)), "", "", "", "", "", "",
             "", ""],
            [P4, "Ola", "Four", contact_owner_of_p4, "Other", berlin(NOV(3)), berlin(NOV(4)), "", "", berlin(NOV(3)),
             "", "", "", "", berlin(NOV(4))],
        ],
        "deals.csv": [
            ["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner", "Pipeline",
             "Associated Company IDs", "Associated Contact IDs", entered.format("Appointment Scheduled"),
             entered.format("Qualified To Buy"), entered.format("Closed Won")],
            [D1, "Acme licences", "Closed Won", "1000", berlin(NOV(9, 15)), berlin(NOV(5)), "Rob Rep", "Sales Pipeline",
             ACME, P1, berlin(NOV(5)), berlin(NOV(6)), berlin(NOV(9))],
            [D2, "Small deal", "Qualified To Buy", "500", berlin(NOV(30)), berlin(NOV(5)), "rita@example.com",
             "Sales Pipeline", "", "", berlin(NOV(5)), berlin(NOV(10)), ""],
        ],
    }  # fmt: skip
    for name, rows in files.items():
        with (folder / name).open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)
    return folder


def test_the_same_org_from_export_files_gives_the_same_numbers(
    engine, db_url, fake, capsys, monkeypatch, tmp_path
):
    build_owners(fake)  # the owners come from a sync (the export has owners' names only)
    for name, value in env_of(fake).items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "kpibot.yaml"
    config.write_text(
        "crm:\n  admins: [ann@example.com]\n  hubspot:\n    searches_per_second: 0\n"
        "    export_timezone: Europe/Berlin\n", encoding="utf-8",
    )  # fmt: skip
    assert main(["--config", str(config), "--db", db_url, "sync", "hubspot"]) == 0
    folder = write_export(tmp_path / "export")
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "hubspot", str(folder)]) == 0
    capsys.readouterr()
    settings = settings_for(fake, export_timezone="Europe/Berlin")
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    with engine.connect() as conn:
        deals = {
            d.deal_id: (d.status, d.closed_at, d.owner_id, d.lead_id, d.account_id)
            for d in conn.execute(select(Deal))
        }
        assert deals == {
            D1: ("won", naive(NOV(9, 15)), ROB, P1, ACME),
            D2: ("open", None, RITA, None, None),
        }
        events = sorted(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
        assert events[:3] == [
            (D1, "Appointment Scheduled", naive(NOV(5))), (D1, "Closed Won", naive(NOV(9))),
            (D1, "Qualified To Buy", naive(NOV(6))),
        ]  # fmt: skip
        assert conn.execute(select(Lead.owner_id).where(Lead.lead_id == P2)).scalar() == ROB
        before = len(conn.execute(select(Lead.lead_id)).all())
    # An owner kpibot does not know: that file is not written, its row named by file, line and id.
    bad = write_export(tmp_path / "bad", contact_owner_of_p4="Nobody Known")
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "hubspot", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "contacts.csv:5" in err and P4 in err and "Nobody Known" in err
    with engine.connect() as conn:
        assert len(conn.execute(select(Lead.lead_id)).all()) == before


def users_of_the_export(engine) -> None:
    """The users the export names, stored as `kpibot import users` would, and two who share the name Anna Lee."""
    with engine.begin() as conn:
        conn.execute(insert(User), [
            dict(user_id=ROB, name="Rob Rep", email="rob@example.com", role="rep"),
            dict(user_id=RITA, name="Rita Rep", email="rita@example.com", role="rep"),
            dict(user_id="505", name="Anna Lee", email="anna@example.com", role="rep"),
            dict(user_id="506", name="Anna Lee", email="anna.lee@example.com", role="rep"),
        ])  # fmt: skip


def test_an_owner_two_users_share_the_name_of_is_named_with_both_and_the_file_not_written(
    engine, db_url, tmp_path, capsys
):
    users_of_the_export(engine)
    folder = write_export(tmp_path / "export", contact_owner_of_p4="Anna Lee")
    assert main(["--db", db_url, "import", "--from", "hubspot", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'contacts.csv'}:5 {P4}: " in err
    assert "Contact owner='Anna Lee' is the name of 505 and 506; give the owner's email or id" in err
    assert "kpibot sync hubspot" not in err  # a sync would not tell the two apart
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []
        assert conn.execute(select(LeadStageEvent.lead_id)).all() == []


def test_a_contact_with_a_bad_owner_is_one_reject_however_many_stages_it_entered(engine, tmp_path):
    """P4 entered two lifecycle stages (lead, other), each a column of its row: its unknown owner is one reject
    of the leads and one of their stage entries, not one per stage."""
    users_of_the_export(engine)
    settings = load_settings(env={}, crm={"hubspot": {"export_timezone": "Europe/Berlin"}})
    folder = write_export(tmp_path / "export", contact_owner_of_p4="Nobody Known")
    export = EXPORTS["hubspot"].open("hubspot", settings, folder)
    result = sync(engine, settings, export, skip_invalid=True, watermarks=False)
    assert {o.table: o.rejected for o in result.objects if o.rejected} == {"leads": 1, "lead_stage_events": 1}
    assert [(r.line, r.key) for r in result.rejects] == [(5, P4), (5, P4)]
    with engine.connect() as conn:
        entered = {lead for (lead,) in conn.execute(select(LeadStageEvent.lead_id))}
    assert entered == {P1, P2}  # the rest lands (P3, a subscriber, entered no funnel stage)


def test_a_wrong_stage_or_page_size_is_refused_naming_its_key(fake):
    with pytest.raises(
        ValueError, match=r"crm.hubspot.lead_stages.partner: 'nonsense' is not a funnel stage"
    ):
        settings_for(fake, lead_stages={"partner": "nonsense"})
    with pytest.raises(ValueError, match="page_size must be from 1 to 200"):
        settings_for(fake, page_size=500)
    settings = settings_for(fake)
    hubspot = connector(settings)
    fake.fail(403)  # a scope the private app lacks
    companies = next(m for m in hubspot.mapping.objects if m.key == "companies>accounts")
    with pytest.raises(
        CrmError, match=r"^HubSpot answered /crm/v3/objects/companies/search: 403 MISSING_SCOPES: "
    ):
        list(hubspot.read(companies, None))
    hubspot.close()


def test_a_custom_stage_field_is_recorded_when_the_sync_sees_it(engine, fake):
    settings = settings_for(fake, lead_stage_field="hs_lead_status", lead_stages={"CONNECTED": "mql"})
    build_owners(fake)
    fake.now = NOV(4)
    fake.add(
        "contacts", {"hubspot_owner_id": ROB, "hs_lead_status": "CONNECTED", **lifecycle(customer=NOV(3))}, P1
    )
    result = sync(engine, settings, connector(settings), now=NOV(5))
    assert result.completed and result.rejects == []
    with engine.connect() as conn:
        events = conn.execute(select(LeadStageEvent.stage, LeadStageEvent.entered_at)).all()
    assert events == [("mql", naive(NOV(4)))]  # at its modification; lifecycle's dates are not this field's
    contacts = [c for c in fake.searches("contacts") if "hs_lead_status" in c.body["properties"]]
    assert contacts and not any("hs_v2_date_entered_customer" in c.body["properties"] for c in contacts)
