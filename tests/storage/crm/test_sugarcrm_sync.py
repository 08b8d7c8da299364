"""A small SugarCRM instance, synced through the real client over real HTTP from tests/fakes/sugarcrm_api.py.

SugarCRM's REST API keeps no history a sync can read in bulk, so the stage a sync sees is recorded at the record's
`date_modified`; the org below is synced after each day's changes, as the scheduler would (every crm.sync_every).
The team maps its custom use of "In Process" to sql (crm.sugarcrm.lead_stages); the rest is Sugar's default
lead_status_dom: Assigned → mql, Converted → opportunity, Dead → disqualified.

The org, worked out by hand (all of November 2026, UTC, changes at 09:00 unless said):
- Mia manages Rob and Rita (Sugar's reports_to_id); Ann (named in crm.admins) is the admin.
- Leads: L1 (Rob) New (Nov 2) → Assigned (Nov 3) → In Process (Nov 4) → Converted into O1 (Nov 5); L2 (Rob) New
  (Nov 2) → Assigned (Nov 3); L3 (Rita) stays New (Nov 3); L4 (Rita) New (Nov 3) → Dead (Nov 4).
  Funnel of November: 4 leads, 2 MQL (L1, L2), 1 SQL (L1), 1 opportunity, 1 won (L1 through O1).
- Opportunities: O1 (Rob, from L1, account Acme) Prospecting (Nov 5) → Proposal/Price Quote (Nov 6) → Closed Won
  (Nov 9), 1 000; O2 (Rita) Prospecting (Nov 5) → Negotiation/Review (Nov 10), 500, open.
- Activities: C1 Rob's call about L1, created Nov 2 18:00 for Nov 3 10:00–10:30, held; T2 Rita's task due Nov 20,
  not started; M1 Rob's meeting about O1, Nov 6 10:00–11:00, held.
The same org written as canonical CSV files and imported gives the same numbers. Then (Nov 12) L2 goes In Process,
O2 is won and L3 deleted: the second sync reads only those records, and the funnel moves to 3 leads, 2 SQL, and the
deals won to 2.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.sugarcrm import SugarcrmConnector
from storage.crm.sync import sync
from storage.schema import (
    Deal,
    DealStageEvent,
    Lead,
    LeadStageEvent,
    SyncRun,
    SyncWatermark,
    User,
)
from tests.fakes.sugarcrm_api import FakeSugarcrmApi
from tests.fixtures.crm_org import NOV, empty_crm_tables, import_canonical, numbers

EXPORTED = ("Users", "Accounts", "Campaigns", "Leads", "Opportunities", "Calls", "Meetings", "Tasks")

MIA, ROB, RITA, ANN = "u-mia", "u-rob", "u-rita", "u-ann"
L1, L2, L3, L4 = "lead-1", "lead-2", "lead-3", "lead-4"
O1, O2 = "opp-1", "opp-2"
ACME = "acct-acme"


@pytest.fixture
def fake():
    api = FakeSugarcrmApi(page_size=3, now=NOV(1))
    api.start()
    try:
        yield api
    finally:
        api.stop()


def settings_for(fake: FakeSugarcrmApi) -> Settings:
    env = {
        "SUGARCRM_URL": fake.base_url,
        "SUGARCRM_USERNAME": fake.username,
        "SUGARCRM_PASSWORD": fake.password,
        "SUGARCRM_PLATFORM": "kpibot",
    }
    crm = {"admins": ["ann@example.com"], "sugarcrm": {"lead_stages": {"In Process": "sql"}, "page_size": 50}}
    return load_settings(env=env, crm=crm)


def connector(settings: Settings, **options) -> SugarcrmConnector:
    return SugarcrmConnector.from_settings(settings, sleep=lambda seconds: None, **options)


def build_org(fake: FakeSugarcrmApi, after_each_day=lambda: None) -> None:
    """The org above, day by day; `after_each_day` runs after each day's changes (a sync, as scheduled)."""
    add, change = fake.add, fake.update
    add(
        "Users",
        id=MIA,
        user_name="mia",
        full_name="Mia Manager",
        email1="mia@example.com",
        status="Active",
        preferred_language="en_us",
    )
    add(
        "Users",
        id=ROB,
        user_name="rob",
        first_name="Rob",
        last_name="Rep",
        email1="rob@example.com",
        status="Active",
        reports_to_id=MIA,
        preferred_language="en_us",
    )
    add(
        "Users",
        id=RITA,
        user_name="rita",
        full_name="Rita Rep",
        status="Active",
        reports_to_id=MIA,
        email=[
            {"email_address": "rita.old@example.com", "primary_address": False},
            {"email_address": "rita@example.com", "primary_address": True},
        ],
        preferred_language="ru_RU",
    )
    add(
        "Users",
        id=ANN,
        user_name="ann",
        full_name="Ann Admin",
        email1="Ann@Example.com",
        status="Active",
        preferred_language="en_us",
    )
    add("Accounts", id=ACME, name="Acme Corp", assigned_user_id=ROB, industry="Technology")
    add(
        "Campaigns",
        id="camp-1",
        name="November webinar",
        campaign_type="Web",
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        assigned_user_id=MIA,
    )
    after_each_day()
    fake.now = NOV(2)
    add("Leads", id=L1, assigned_user_id=ROB, lead_source="Web Site", account_name="Acme", status="New")
    add("Leads", id=L2, assigned_user_id=ROB, lead_source="Web Site", account_name="Beta", status="New")
    fake.now = NOV(2, 18)
    add(
        "Calls",
        id="call-1",
        assigned_user_id=ROB,
        status="Planned",
        date_start=NOV(3, 10),
        date_end=NOV(3, 10, 30),
        parent_type="Leads",
        parent_id=L1,
    )
    after_each_day()
    fake.now = NOV(3)
    add("Leads", id=L3, assigned_user_id=RITA, lead_source="Partner", account_name="Gamma", status="New")
    add("Leads", id=L4, assigned_user_id=RITA, lead_source="Partner", account_name="Delta", status="New")
    change("Leads", L1, status="Assigned")
    change("Leads", L2, status="Assigned")
    fake.now = NOV(3, 11)
    change("Calls", "call-1", status="Held")
    after_each_day()
    fake.now = NOV(4)
    change("Leads", L1, status="In Process")
    change("Leads", L4, status="Dead")
    add("Tasks", id="task-2", assigned_user_id=RITA, status="Not Started", date_due=NOV(20, 0))
    after_each_day()
    fake.now = NOV(5)
    add(
        "Opportunities",
        id=O1,
        assigned_user_id=ROB,
        sales_stage="Prospecting",
        amount="1000",
        date_closed=date(2026, 11, 30),
        account_id=ACME,
    )
    add(
        "Opportunities",
        id=O2,
        assigned_user_id=RITA,
        sales_stage="Prospecting",
        amount="500",
        date_closed=date(2026, 11, 30),
    )
    change("Leads", L1, status="Converted", converted=True, opportunity_id=O1, account_id=ACME)
    add(
        "Meetings",
        id="meeting-1",
        assigned_user_id=ROB,
        status="Planned",
        date_start=NOV(6, 10),
        date_end=NOV(6, 11),
        parent_type="Opportunities",
        parent_id=O1,
    )
    after_each_day()
    fake.now = NOV(6)
    change("Opportunities", O1, sales_stage="Proposal/Price Quote")
    fake.now = NOV(6, 12)
    change("Meetings", "meeting-1", status="Held")
    after_each_day()
    fake.now = NOV(9)
    change("Opportunities", O1, sales_stage="Closed Won", date_closed=date(2026, 11, 9))
    after_each_day()
    fake.now = NOV(10)
    change("Opportunities", O2, sales_stage="Negotiation/Review", amount="550")
    after_each_day()
    fake.now = NOV(11)


# The same org as kpibot's canonical files, written by hand from the description above.
CANONICAL = {
    "teams": [{"team_id": f"team-{MIA}", "name": "Mia Manager", "manager_id": MIA}],
    "users": [
        {"user_id": MIA, "name": "Mia Manager", "email": "mia@example.com", "role": "manager",
         "team_id": f"team-{MIA}", "locale": "en", "active": "true"},
        {"user_id": ROB, "name": "Rob Rep", "email": "rob@example.com", "role": "rep", "team_id": f"team-{MIA}",
         "manager_id": MIA, "locale": "en", "active": "true"},
        {"user_id": RITA, "name": "Rita Rep", "email": "rita@example.com", "role": "rep",
         "team_id": f"team-{MIA}", "manager_id": MIA, "locale": "ru", "active": "true"},
        {"user_id": ANN, "name": "Ann Admin", "email": "Ann@Example.com", "role": "admin", "locale": "en",
         "active": "true"},
    ],
    "accounts": [
        {"account_id": ACME, "name": "Acme Corp", "created_at": NOV(1), "owner_id": ROB, "segment": "Technology"},
    ],
    "campaigns": [
        {"campaign_id": "camp-1", "name": "November webinar", "channel": "Web", "started_at": "2026-11-01",
         "ended_at": "2026-11-30"},
    ],
    "leads": [
        {"lead_id": L1, "created_at": NOV(2), "owner_id": ROB, "source": "Web Site", "company": "Acme"},
        {"lead_id": L2, "created_at": NOV(2), "owner_id": ROB, "source": "Web Site", "company": "Beta"},
        {"lead_id": L3, "created_at": NOV(3), "owner_id": RITA, "source": "Partner", "company": "Gamma"},
        {"lead_id": L4, "created_at": NOV(3), "owner_id": RITA, "source": "Partner", "company": "Delta"},
    ],
    "lead_stage_events": [
        {"lead_id": L1, "stage": "mql", "entered_at": NOV(3), "owner_id": ROB},
        {"lead_id": L2, "stage": "mql", "entered_at": NOV(3), "owner_id": ROB},
        {"lead_id": L1, "stage": "sql", "entered_at": NOV(4), "owner_id": ROB},
        {"lead_id": L4, "stage": "disqualified", "entered_at": NOV(4), "owner_id": RITA},
        {"lead_id": L1, "stage": "opportunity", "entered_at": NOV(5), "owner_id": ROB},
    ],
    "deals": [
        {"deal_id": O1, "owner_id": ROB, "created_at": NOV(5), "status": "won", "closed_at": NOV(9, 0),
         "amount": "1000", "lead_id": L1, "account_id": ACME},
        {"deal_id": O2, "owner_id": RITA, "created_at": NOV(5), "status": "open", "amount": "550"},
    ],
    "deal_stage_events": [
        {"deal_id": O1, "stage": "Prospecting", "entered_at": NOV(5)},
        {"deal_id": O1, "stage": "Proposal/Price Quote", "entered_at": NOV(6)},
        {"deal_id": O1, "stage": "Closed Won", "entered_at": NOV(9)},
        {"deal_id": O2, "stage": "Prospecting", "entered_at": NOV(5)},
        {"deal_id": O2, "stage": "Negotiation/Review", "entered_at": NOV(10)},
    ],
    "activities": [
        {"activity_id": "call-1", "owner_id": ROB, "type": "call", "created_at": NOV(2, 18),
         "due_at": NOV(3, 10), "completed_at": NOV(3, 10, 30), "status": "done", "lead_id": L1},
        {"activity_id": "task-2", "owner_id": RITA, "type": "task", "created_at": NOV(4),
         "due_at": NOV(20, 0), "status": "planned"},
        {"activity_id": "meeting-1", "owner_id": ROB, "type": "meeting", "created_at": NOV(5),
         "due_at": NOV(6, 10), "completed_at": NOV(6, 11), "status": "done", "deal_id": O1},
    ],
}  # fmt: skip


def funnel_of(engine, settings: Settings) -> tuple:
    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    return tuple(funnel[stage] for stage in ("lead", "mql", "sql", "opportunity", "won"))


def test_syncs_give_the_same_numbers_as_the_canonical_files_then_read_only_what_changed(
    engine, fake, tmp_path
):
    settings = settings_for(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    empty_crm_tables(engine)

    runs = []
    build_org(fake, lambda: runs.append(sync(engine, settings, connector(settings), now=fake.now)))
    assert [r.error for r in runs] == [None] * 8 and [r.rejects for r in runs] == [[]] * 8
    assert numbers(engine, settings, ANN) == from_files
    win = dict(from_files["win_rate"])  # O1 won, O2 open; 4 leads
    assert (win["won"], win["lost"], win["close_rate"], win["leads_per_deal"]) == (1, 0, 0.25, 4.0)
    stages = dict(from_files["stages"])  # Prospecting: O1 1 day (Nov 5 → 6), O2 5 days (Nov 5 → 10)
    assert stages["deal:Prospecting:median_days"] == 3.0 and stages["deal:Prospecting:exits"] == 2

    with engine.connect() as conn:
        roles = dict(conn.execute(select(User.user_id, User.role)).all())
        emails = dict(conn.execute(select(User.user_id, User.email)).all())
        names = dict(conn.execute(select(User.user_id, User.name)).all())
        locales = dict(conn.execute(select(User.user_id, User.locale)).all())
        teams = dict(conn.execute(select(User.user_id, User.team_id)).all())
    assert roles == {MIA: "manager", ROB: "rep", RITA: "rep", ANN: "admin"}
    assert names[ROB] == "Rob Rep" and emails[RITA] == "rita@example.com" and locales[RITA] == "ru"
    assert teams[ROB] == teams[RITA] == teams[MIA] == f"team-{MIA}" and teams[ANN] is None
    with engine.begin() as conn:  # Rob links his Telegram account; the next sync must keep it
        conn.execute(update(User).where(User.user_id == ROB).values(telegram_user_id=4242))

    calls_before = len(fake.calls)
    fake.now = NOV(12)
    fake.update("Leads", L2, status="In Process")
    fake.update("Opportunities", O2, sales_stage="Closed Won", date_closed=date(2026, 11, 12))
    fake.delete("Leads", L3)
    second = sync(engine, settings, connector(settings), now=fake.now)
    assert second.completed, second.error
    read = {(o.object, o.table): (o.read, o.deleted) for o in second.objects}
    assert read == {
        ("Users", "users"): (0, 0),
        ("Accounts", "accounts"): (0, 0),
        ("Campaigns", "campaigns"): (0, 0),
        ("Leads", "leads"): (2, 1),  # L2 changed, L3 deleted
        ("Leads", "lead_stage_events"): (1, 0),  # L2 (a deleted record is not asked for here)
        ("Opportunities", "deals"): (1, 0),
        ("Opportunities", "deal_stage_events"): (1, 0),
        ("Calls", "activities"): (0, 0),
        ("Meetings", "activities"): (0, 0),
        ("Tasks", "activities"): (0, 0),
    }
    leads = fake.calls_of("filter", "Leads", after=calls_before)
    assert [c.body["filter"] for c in leads] == [
        [{"date_modified": {"$gt": "2026-11-05T09:00:00+00:00"}}]
    ] * 2
    assert [c.body.get("deleted") for c in leads] == [True, None]
    assert all(c.headers["OAuth-Token"].startswith("fake-access-") for c in leads)

    assert funnel_of(engine, settings) == (3, 2, 2, 1, 1)
    win = dict(numbers(engine, settings, ANN)["win_rate"])  # O1 and O2 won; 3 leads
    assert (win["won"], win["lost"], win["close_rate"], win["leads_per_deal"]) == (2, 0, 2 / 3, 1.5)
    with engine.connect() as conn:
        assert conn.execute(select(User.telegram_user_id).where(User.user_id == ROB)).scalar() == 4242
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == L3)).first() is None
        assert conn.execute(select(LeadStageEvent).where(LeadStageEvent.lead_id == L3)).first() is None
        won = conn.execute(select(Deal.deal_id, Deal.closed_at).where(Deal.status == "won")).all()
        statuses = conn.execute(select(SyncRun.status, SyncRun.deleted).order_by(SyncRun.id)).all()
    assert sorted(won) == [(O1, NOV(9, 0).replace(tzinfo=None)), (O2, NOV(12, 0).replace(tzinfo=None))]
    assert [s.status for s in statuses] == ["ok"] * 9 and statuses[-1].deleted == 1


def test_one_late_sync_sees_only_each_records_last_stage(engine, fake):
    """Without the scheduled syncs in between, what Sugar's REST API shows is where each record is now."""
    settings = settings_for(fake)
    build_org(fake)
    result = sync(engine, settings, connector(settings), now=fake.now)
    assert result.completed, result.error
    with engine.connect() as conn:
        leads = set(
            conn.execute(select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at))
        )
        deals = set(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
    naive = lambda moment: moment.replace(tzinfo=None)  # noqa: E731
    assert leads == {
        (L1, "opportunity", naive(NOV(5))),
        (L2, "mql", naive(NOV(3))),
        (L4, "disqualified", naive(NOV(4))),
    }
    assert deals == {(O1, "Closed Won", naive(NOV(9))), (O2, "Negotiation/Review", naive(NOV(10)))}


@pytest.mark.parametrize("one_stamp", [True, False], ids=["one stamp (a mass update)", "a stamp each"])
def test_a_record_changed_between_two_pages_is_still_read(fake, one_stamp):
    """Seven leads, three a page: lead-1, read on the first page, is edited before the second; an offset walk would
    now skip lead-3 (every record after lead-1 moved one place up)."""
    settings = settings_for(fake)
    for number in range(7):
        fake.now = NOV(1) if one_stamp else NOV(1, 9, number)
        fake.add("Leads", id=f"lead-{number}", assigned_user_id=ROB, status="New")
    fake.now = NOV(2)

    def touch(page: int) -> None:
        if page == 2:
            fake.update("Leads", "lead-1", status="Assigned")

    fake.before_page = touch
    sugar = connector(settings)
    mapped = next(m for m in sugar.mapping.objects if m.key == "Leads>leads")
    ids = [record["id"] for record in sugar.read(mapped, None)]
    sugar.close()
    assert ids == ["lead-0", "lead-1", "lead-2", "lead-3", "lead-4", "lead-5", "lead-6", "lead-1"]
    bodies = [c.body for c in fake.calls_of("filter", "Leads")]
    assert all(b["offset"] == 0 and b["max_num"] == 50 for b in bodies)
    if one_stamp:
        assert bodies[1]["filter"] == [
            {"date_modified": {"$gte": "2026-11-01T09:00:00+00:00"}},
            {"date_modified": {"$lte": "2026-11-01T09:00:00+00:00"}},
            {"id": {"$gt": "lead-2"}},
        ]
    else:
        assert bodies[1]["filter"] == [{"date_modified": {"$gte": "2026-11-01T09:02:00+00:00"}}]


def test_a_limit_is_waited_out_an_expired_token_refreshed_and_a_bad_record_listed(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    fake.add("Leads", id="lead-bad", assigned_user_id=ROB, status="Some Custom Status")
    fake.limit(calls=2, retry_after=7)
    waits: list[float] = []

    def expire(page: int) -> None:
        if page == 5:
            fake.expire_tokens()

    fake.before_page = expire
    result = sync(
        engine, settings, SugarcrmConnector.from_settings(settings, sleep=waits.append), now=fake.now
    )
    assert result.completed, result.error
    assert waits == [7.0, 7.0]  # 429 twice, Retry-After honoured, then the filter went through
    grants = [c.body["grant_type"] for c in fake.calls_of("token")]
    assert grants == ["password", "refresh_token"]
    assert [c.status for c in fake.calls_of("filter")].count(401) == 1
    bad = [r for r in result.rejects if r.key == "lead-bad"]
    assert len(bad) == 1 and "Some Custom Status" in bad[0].reason and "lead_stages" in bad[0].reason
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "lead-bad")).first() is not None
        marks = set(conn.execute(select(SyncWatermark.object)).scalars())
    assert {"Leads>leads", "Leads>lead_stage_events", "Opportunities>deal_stage_events"} <= marks


def test_a_wrong_password_is_one_clear_line_and_the_run_says_why(engine, db_url, fake, capsys, monkeypatch):
    for name, value in {
        "SUGARCRM_URL": fake.base_url,
        "SUGARCRM_USERNAME": fake.username,
        "SUGARCRM_PASSWORD": "not-the-password-at-all",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["--db", db_url, "sync", "sugarcrm"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kpibot: sugarcrm sync failed: SugarCRM refused the login "
        "(401 need_login: You must specify a valid username and password.)"
    ]
    assert "not-the-password-at-all" not in captured.out + captured.err
    assert main(["--db", db_url, "syncs"]) == 0
    listing = capsys.readouterr().out
    assert "sugarcrm" in listing and "failed" in listing and "You must specify a valid username" in listing


def test_a_token_past_its_lifetime_is_refreshed_first_and_a_refused_refresh_logs_in_again(fake):
    settings = settings_for(fake)
    fake.token_lifetime = 20  # under the 30 s the client keeps in hand: every token is stale at once
    fake.add("Accounts", id=ACME, name="Acme Corp", assigned_user_id=ROB)
    sugar = connector(settings)
    accounts = next(m for m in sugar.mapping.objects if m.key == "Accounts>accounts")
    assert [r["id"] for r in sugar.read(accounts, None)] == [ACME]
    assert [r["id"] for r in sugar.read(accounts, None)] == [ACME]
    fake.revoke_refresh_tokens()
    assert [r["id"] for r in sugar.read(accounts, None)] == [ACME]
    sugar.close()
    grants = [(c.body["grant_type"], c.status) for c in fake.calls_of("token")]
    assert grants == [("password", 200), ("refresh_token", 200), ("refresh_token", 400), ("password", 200)]
    assert all(
        c.body["platform"] == "kpibot" and c.body["client_id"] == "sugar" for c in fake.calls_of("token")
    )
    assert [c.status for c in fake.calls_of("filter")] == [200, 200, 200]


def test_missing_credentials_and_a_wrong_stage_are_refused_before_any_call(fake, db_url, capsys, monkeypatch):
    monkeypatch.setenv("SUGARCRM_URL", fake.base_url)
    monkeypatch.delenv("SUGARCRM_USERNAME", raising=False)
    monkeypatch.delenv("SUGARCRM_PASSWORD", raising=False)
    assert main(["--db", db_url, "sync", "sugarcrm"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "kpibot: sugarcrm: SugarCRM needs SUGARCRM_USERNAME and SUGARCRM_PASSWORD (OAuth 2.0 password grant)"
    ]
    assert fake.calls == []
    with pytest.raises(
        ValueError, match=r"crm\.sugarcrm\.lead_stages\.Assigned: 'hot' is not a funnel stage"
    ):
        load_settings(env={}, crm={"sugarcrm": {"lead_stages": {"Assigned": "hot"}}})


# Sugar's English export headers (modules/<Module>/language/en_us.lang.php, the colon dropped), some in another
# case; a meeting's parent_type and parent_id are both "Related to", in that order. A field without one keeps its name.
_COMMON_LABELS = {
    "id": "ID",
    "date_entered": "Date Created",
    "date_modified": "Date Modified",
    "deleted": "Deleted",
}
LABELS = {
    "Users": {"user_name": "Username", "first_name": "First Name", "last_name": "Last Name", "full_name": "Full Name",
              "email1": "Email Address", "status": "Status", "reports_to_id": "Reports to ID",
              "created_by": "Created By", "is_admin": "Is Administrator"},
    "Accounts": {"name": "Name", "industry": "INDUSTRY", "assigned_user_id": "Assigned User"},
    "Campaigns": {"name": "Name", "campaign_type": "Type", "start_date": "Start Date", "end_date": "End Date",
                  "status": "Status"},
    "Leads": {"assigned_user_id": "Assigned User", "lead_source": "Lead Source", "account_name": "Account Name",
              "status": "Status:", "opportunity_id": "Opportunity ID", "first_name": "First Name"},
    "Opportunities": {"assigned_user_id": "Assigned User", "amount": "Opportunity Amount", "account_id": "Account ID",
                      "sales_stage": "Sales Stage", "date_closed": "Expected Close Date",
                      "amount_usdollar": "Amount"},
    "Calls": {"status": "Status", "date_start": "Start Date", "date_end": "End Date", "parent_type": "Parent Type",
              "parent_id": "Related to ID", "assigned_user_id": "Assigned User"},
    "Meetings": {"status": "status", "date_start": "Start Date", "date_end": "End Date", "parent_type": "Related to",
                 "parent_id": "Related to"},
    "Tasks": {"status": "Status", "date_due": "Due Date", "parent_type": "Parent Type", "parent_id": "Parent ID",
              "date_start": "Start Date"},
}  # fmt: skip


def write_export(
    fake: FakeSugarcrmApi,
    folder: Path,
    iso: tuple[str, ...] = (),
    labels: bool = False,
    shown_in: ZoneInfo | None = None,
) -> None:
    """The fake instance as Sugar's list view Export writes it: one CSV per module with a byte order mark, every cell
    quoted, CRLF line ends; field names as headers (their English labels with `labels`), `deleted` as `1`/`0`,
    datetimes as Sugar stores them (`2026-11-02 09:00:00`, UTC) except in the modules named in `iso`
    (`2026-11-02T09:00:00+00:00`); with `shown_in`, datetimes and dates as a user whose preferences are Sugar's
    defaults (m/d/Y, h:ia) in that time zone sees them (`11/02/2026 10:00am`, `11/09/2026`); a user's list of
    addresses as the primary one in `email1`."""

    def cell(value, module: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, datetime):
            if shown_in is not None:
                return value.astimezone(shown_in).strftime("%m/%d/%Y %I:%M%p").lower()
            moment = value.astimezone(UTC)
            return moment.isoformat() if module in iso else moment.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, date):
            return value.strftime("%m/%d/%Y") if shown_in is not None else value.isoformat()
        if isinstance(value, Decimal):
            return f"{value:.6f}"
        return str(value)

    folder.mkdir()
    for module in EXPORTED:
        records = fake.records(module)
        for record in records:
            addresses = record.pop("email", None) or []
            primary = [a["email_address"] for a in addresses if a.get("primary_address")]
            if primary and not record.get("email1"):
                record["email1"] = primary[0]
        columns = list(dict.fromkeys(k for r in records for k in r))
        with (folder / f"{module}.csv").open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            named = {**_COMMON_LABELS, **LABELS[module]} if labels else {}
            writer.writerow([named.get(c, c) for c in columns])
            for record in records:
                writer.writerow([cell(record.get(c), module) for c in columns])


@pytest.mark.parametrize("labels", [False, True], ids=["field-names", "labels"])
def test_the_same_org_from_export_files_gives_the_same_numbers(
    engine, db_url, fake, tmp_path, capsys, labels
):
    """An export is one look at the instance, like one late sync: each record at its last stage, so the stage
    durations are those of that sync; everything else is the canonical import's. A lead deleted before the export
    (its row marked `deleted` 1, at a stage) is left out of leads and stages. Headed by field names or by Sugar's
    English labels, the numbers are the same; so they are when (with the labels) every datetime and date is written
    as a user in Berlin sees it, in Sugar's default display formats (crm.sugarcrm.export_timezone says the zone)."""
    settings = settings_for(fake)
    build_org(fake)
    fake.add("Leads", id="lead-gone", assigned_user_id=RITA, lead_source="Partner", status="Assigned")
    fake.delete("Leads", "lead-gone")
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    empty_crm_tables(engine)
    late = sync(engine, settings, connector(settings), now=fake.now)
    assert late.completed and not late.rejects, late.error
    from_one_sync = numbers(engine, settings, ANN)
    assert from_one_sync["stages"] != from_files["stages"]  # L1 seen only at opportunity, O1 only Closed Won
    empty_crm_tables(engine)
    marks = select(SyncWatermark.crm, SyncWatermark.object, SyncWatermark.watermark)
    with engine.connect() as conn:
        marks_before = set(conn.execute(marks).all())
    assert marks_before and {m.crm for m in marks_before} == {"sugarcrm"}
    export = tmp_path / "export"
    berlin = ZoneInfo("Europe/Berlin") if labels else None
    write_export(fake, export, iso=("Calls", "Opportunities"), labels=labels, shown_in=berlin)
    head = b'"ID","Date Created"' if labels else b'"id","date_entered"'
    assert (export / "Leads.csv").read_bytes().startswith(b"\xef\xbb\xbf" + head)
    if labels:
        meetings = (export / "Meetings.csv").read_text(encoding="utf-8-sig").splitlines()
        assert meetings[0].count('"Related to"') == 2
        # M1, Nov 6 10:00–11:00 UTC, as the Berlin user sees it (CET, an hour ahead)
        assert '"11/06/2026 11:00am","11/06/2026 12:00pm"' in meetings[1]
        o1 = next(
            r for r in (export / "Opportunities.csv").read_text(encoding="utf-8-sig").splitlines() if O1 in r
        )
        assert '"11/09/2026"' in o1  # a date alone: no time zone
    config = tmp_path / "kpibot.yaml"
    zone = "    export_timezone: Europe/Berlin\n" if labels else ""
    config.write_text(
        "crm:\n  admins: [ann@example.com]\n  sugarcrm:\n    lead_stages: {In Process: sql}\n" + zone,
        encoding="utf-8",
    )
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "sugarcrm", str(export)]) == 0
    out = capsys.readouterr().out
    assert "Leads                → leads              read        5" in out  # lead-gone read, then left out
    from_export = numbers(engine, settings, ANN)
    assert from_export == from_one_sync
    assert {k: v for k, v in from_export.items() if k != "stages"} == {
        k: v for k, v in from_files.items() if k != "stages"
    }
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    with engine.connect() as conn:
        assert set(conn.execute(marks).all()) == marks_before  # an export moves no sync watermark
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "lead-gone")).first() is None
        gone = select(LeadStageEvent).where(LeadStageEvent.lead_id == "lead-gone")
        assert conn.execute(gone).first() is None
        emails = dict(conn.execute(select(User.user_id, User.email)).all())
    assert emails[RITA] == "rita@example.com"


def test_an_export_row_that_fails_is_named_by_file_line_and_id_and_its_table_is_not_written(
    engine, db_url, fake, tmp_path, capsys
):
    build_org(fake)
    export = tmp_path / "export"
    write_export(fake, export)
    path = export / "Leads.csv"
    with path.open(newline="", encoding="utf-8-sig") as source:
        rows = list(csv.reader(source))
    header = rows[0]
    rows[2][header.index("status")] = "Sleeping"  # lead-2
    rows[3][header.index("date_entered")] = "11/33/2026 9 am"  # lead-3, garbled
    rows[4][header.index("deleted")] = "maybe"  # lead-4
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    assert main(["--db", db_url, "import", "--from", "sugarcrm", str(export)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert f"Leads.csv:3 {L2}" in err and "'Sleeping' is not mapped to a funnel stage" in err
    assert f"Leads.csv:4 {L3}" in err and "date_entered='11/33/2026 9 am' is not a date and time" in err
    assert (
        "(expected m/d/Y h:ia in UTC (crm.sugarcrm.export_date_format, export_time_format, export_timezone)"
        in err
    )
    assert f"Leads.csv:5 {L4}" in err and "deleted='maybe' is not true or false" in err
    leads = [line for line in captured.out.splitlines() if line.startswith("Leads ") and "→ leads " in line]
    assert "written        0" in leads[0] and "nothing of Leads written: 2 bad record(s)" in leads[0]
    with engine.connect() as conn:
        # Leads.csv is refused whole, so nothing of it is in the store, and the files whose rows point at its
        # leads are refused in turn; the users, who point at nothing of it, land.
        assert conn.execute(select(Lead.lead_id)).all() == []
        assert len(conn.execute(select(User.user_id)).all()) == 4


def test_an_export_format_is_sugars_and_a_bad_one_names_its_key():
    sugar = load_settings(env={}).crm.sugarcrm
    assert (sugar.export_date_format, sugar.export_time_format, sugar.export_timezone) == (
        "m/d/Y",
        "h:ia",
        None,
    )
    for key, value, says in (
        ("export_date_format", "M d, Y", "'M d, Y' has 'M', not a letter of Sugar's date formats"),
        ("export_date_format", "m/d", "must hold exactly one year (Y), month (m) and day (d)"),
        ("export_time_format", "h:i", "takes a 12-hour clock (h) with am/pm (a or A)"),
        ("export_timezone", "Europe/Atlantis", "'Europe/Atlantis' is not a time zone"),
    ):
        with pytest.raises(ValueError, match=rf"crm\.sugarcrm\.{key}: .*{re.escape(says)}"):
            load_settings(env={}, crm={"sugarcrm": {key: value}})
