"""A small Pipedrive company, synced through the real client over real HTTP from tests/fakes/pipedrive_api.py.

Pipedrive's leads carry labels, not stages: Cold → lead, Warm → mql, Hot → sql (the defaults), archived →
disqualified, each recorded when a sync first sees it, at the lead's update_time; the org below is synced after each
day's changes, as the scheduler would. Deals keep their stage history in their flow. The team keeps the lead a deal
was converted from in a custom deal field (`lead_key`, mapped by crm.pipedrive.fields.deals.lead_id) and says who
manages whom in crm.pipedrive.managers.

The org, worked out by hand (November 2026, UTC, changes at 09:00 unless said):
- Mia manages Rob and Rita; Ann (crm.admins) is the admin. One pipeline, stages Qualified, Proposal, Negotiation.
- Leads: L1 (Rob) created Nov 2 → Warm (Nov 3) → Hot (Nov 4) → converted into D1 (Nov 5); L2 (Rob) Nov 2 → Warm
  (Nov 3); L3 (Rita) Cold, Nov 3; L4 (Rita) Nov 3 → archived (Nov 4).
  Funnel of November: 4 leads, 2 MQL (L1, L2), 1 SQL (L1), 1 opportunity, 1 won (L1 through D1).
- Deals: D1 (Rob, from L1, Acme) Qualified (Nov 5) → Proposal (Nov 6) → won (Nov 9), 1 000 USD; D2 (Rita) Qualified
  (Nov 5) → Negotiation (Nov 10), 500, open; D3 (Rita) Qualified Nov 10, 300, open.
  Stage Qualified: D1 1 day, D2 5 days → median 3 days, 2 exits.
- Activities: A1 Rob's call about L1, added Nov 2 18:00, due Nov 3 10:00, done 10:30; A2 Rita's deadline (a task)
  due Nov 20; A3 Rob's meeting about D1, due Nov 6 10:00, done 11:00.
Then (Nov 12) L2 goes Hot, D2 is won and D3 deleted: the second sync reads only those, the funnel has 2 SQL and the
deals won are 2 of 2.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.pipedrive import PipedriveAuth, PipedriveConnector
from storage.crm.sync import CrmError, sync
from storage.schema import Activity, Deal, DealStageEvent, Lead, LeadStageEvent, SyncRun, SyncWatermark, User
from tests.fakes.pipedrive_api import FakePipedriveApi
from tests.fixtures.crm_org import NOV, import_canonical, numbers

MIA, ROB, RITA, ANN = "1", "2", "3", "4"
ACME = "21"
HOT, WARM, COLD = "lbl-hot", "lbl-warm", "lbl-cold"


@pytest.fixture(scope="module")
def server():
    api = FakePipedriveApi(now=NOV(1))
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def fake(server):
    """The module's server, its CRM emptied for each test."""
    server.now = NOV(1)
    for records in server.objects.values():
        records.clear()
    server.flows.clear()
    server.calls.clear()
    server.labels = []
    server.daily_budget = 10_000
    server.burst(0)
    server.fail(0)
    return server


def settings_for(fake: FakePipedriveApi, token: str | None = None) -> Settings:
    env = {"PIPEDRIVE_URL": fake.base_url, "PIPEDRIVE_API_TOKEN": token or fake.token}
    crm = {
        "admins": ["ann@example.com"],
        "pipedrive": {
            "page_size": 2,
            "fields": {"deals": {"lead_id": "lead_key"}},
            "managers": {"rob@example.com": "mia@example.com", "Rita@Example.com": "mia@example.com"},
        },
    }
    return load_settings(env=env, crm=crm)


def connector(settings: Settings, **options) -> PipedriveConnector:
    return PipedriveConnector.from_settings(
        settings, sleep=options.pop("sleep", lambda seconds: None), **options
    )


def build_org(fake: FakePipedriveApi, after_each_day=lambda: None) -> dict[str, str]:
    """The org above, day by day; `after_each_day` runs after each day's changes (a sync, as scheduled)."""
    add, change = fake.add, fake.update
    add("users", id=MIA, name="Mia Manager", email="mia@example.com")
    add("users", id=ROB, name="Rob Rep", email="rob@example.com")
    add(
        "users",
        id=RITA,
        name="Rita Rep",
        email="rita@example.com",
        locale="ru_RU",
        timezone_name="Europe/Moscow",
    )
    add("users", id=ANN, name="Ann Admin", email="Ann@Example.com")
    add("pipelines", id=1, name="Sales")
    for stage_id, name in ((11, "Qualified"), (12, "Proposal"), (13, "Negotiation")):
        add("stages", id=stage_id, name=name, pipeline_id=1)
    fake.labels = [{"id": HOT, "name": "Hot"}, {"id": WARM, "name": "Warm"}, {"id": COLD, "name": "Cold"}]
    add("organizations", id=ACME, name="Acme Corp", owner_id=ROB)
    after_each_day()
    fake.now = NOV(2)
    l1 = add("leads", title="Acme deal", owner_id=ROB, source_name="Web forms")
    l2 = add("leads", title="Beta deal", owner_id=ROB, source_name="Web forms")
    fake.now = NOV(2, 18)
    add(
        "activities",
        id=31,
        type="call",
        owner_id=ROB,
        lead_id=l1,
        due_date="2026-11-03",
        due_time="10:00",
        done=False,
    )
    after_each_day()
    fake.now = NOV(3)
    change("leads", l1, label_ids=[WARM])
    change("leads", l2, label_ids=[WARM])
    l3 = add("leads", title="Gamma", owner_id=RITA, source_name="API", label_ids=[COLD])
    l4 = add("leads", title="Delta", owner_id=RITA, source_name="API")
    fake.now = NOV(3, 10, 30)
    change("activities", 31, done=True, marked_as_done_time=fake.now)
    after_each_day()
    fake.now = NOV(4)
    change("leads", l1, label_ids=[HOT, WARM])
    change("leads", l4, is_archived=True)
    add("activities", id=32, type="deadline", owner_id=RITA, due_date="2026-11-20", done=False)
    after_each_day()
    fake.now = NOV(5)
    fake.convert(l1, id=41, owner_id=ROB, org_id=ACME, stage_id=11, value=1000, currency="USD",
                 custom_fields={"lead_key": l1})  # fmt: skip
    add("deals", id=42, owner_id=RITA, stage_id=11, value=500, currency="USD")
    add(
        "activities", id=33, type="meeting", owner_id=ROB, deal_id=41, due_date="2026-11-06", due_time="10:00"
    )
    after_each_day()
    fake.now = NOV(6)
    change("deals", 41, stage_id=12)
    fake.now = NOV(6, 11)
    change("activities", 33, done=True, marked_as_done_time=fake.now)
    after_each_day()
    fake.now = NOV(9)
    change("deals", 41, status="won")
    after_each_day()
    fake.now = NOV(10)
    change("deals", 42, stage_id=13)
    add("deals", id=43, owner_id=RITA, stage_id=11, value=300, currency="USD")
    after_each_day()
    return {"L1": l1, "L2": l2, "L3": l3, "L4": l4}


def funnel_of(engine, settings: Settings) -> tuple:
    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    return tuple(funnel[stage] for stage in ("lead", "mql", "sql", "opportunity", "won"))


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_daily_syncs_give_the_hand_worked_numbers_then_read_only_what_changed(engine, fake):
    settings = settings_for(fake)
    runs = []
    leads = build_org(fake, lambda: runs.append(sync(engine, settings, connector(settings), now=fake.now)))
    assert [r.error for r in runs] == [None] * 8 and [r.rejects for r in runs] == [[]] * 8
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    figures = numbers(engine, settings, ANN)
    win = dict(figures["win_rate"])
    assert (win["won"], win["lost"]) == (1, 0)
    stages = dict(figures["stages"])
    assert stages["deal:Qualified:median_days"] == 3.0 and stages["deal:Qualified:exits"] == 2

    with engine.connect() as conn:
        users = {u.user_id: u for u in conn.execute(select(User))}
        events = set(
            conn.execute(select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at))
        )
        deal_stages = set(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
        deals = {d.deal_id: d for d in conn.execute(select(Deal))}
        activities = {a.activity_id: a for a in conn.execute(select(Activity))}
    assert {k: u.role for k, u in users.items()} == {MIA: "manager", ROB: "rep", RITA: "rep", ANN: "admin"}
    assert users[ROB].team_id == users[RITA].team_id == users[MIA].team_id == f"team-{MIA}"
    assert (
        users[RITA].locale == "ru" and users[RITA].timezone == "Europe/Moscow" and users[ANN].team_id is None
    )
    assert events == {
        (leads["L1"], "mql", naive(NOV(3))),
        (leads["L2"], "mql", naive(NOV(3))),
        (leads["L1"], "sql", naive(NOV(4))),
        (leads["L4"], "disqualified", naive(NOV(4))),
    }
    assert deal_stages == {
        ("41", "Qualified", naive(NOV(5))),
        ("41", "Proposal", naive(NOV(6))),
        ("42", "Qualified", naive(NOV(5))),
        ("42", "Negotiation", naive(NOV(10))),
        ("43", "Qualified", naive(NOV(10))),
    }
    d1 = deals["41"]
    assert (d1.status, d1.closed_at, d1.amount, d1.lead_id, d1.account_id) == (
        "won", naive(NOV(9)), Decimal("1000"), leads["L1"], ACME
    )  # fmt: skip
    a1, a2, a3 = activities["31"], activities["32"], activities["33"]
    assert (a1.type, a1.status, a1.due_at, a1.completed_at, a1.lead_id) == (
        "call", "done", naive(NOV(3, 10)), naive(NOV(3, 10, 30)), leads["L1"]
    )  # fmt: skip
    assert (a2.type, a2.status, a2.due_at) == ("task", "planned", naive(NOV(20, 0)))
    assert (a3.type, a3.completed_at, a3.deal_id) == ("meeting", naive(NOV(6, 11)), "41")

    calls_before = len(fake.calls)
    fake.now = NOV(12)
    fake.update("leads", leads["L2"], label_ids=[HOT])
    fake.update("deals", 42, status="won")
    fake.delete("deals", 43)
    second = sync(engine, settings, connector(settings), now=fake.now)
    assert second.completed, second.error
    read = {(o.object, o.table): (o.read, o.deleted) for o in second.objects}
    assert read == {
        ("users", "users"): (4, 0),  # read whole: teams follow from all of them
        # updated_since includes its own moment: the record at each watermark is read again (Acme, L4, A3)
        ("organizations", "accounts"): (1, 0),
        ("leads", "leads"): (2, 0),  # L2 changed, and L4
        ("leads", "lead_stage_events"): (2, 0),
        ("deals", "deals"): (2, 1),  # D2 won, D3 deleted
        ("deals", "deal_stage_events"): (2, 0),  # D2's flow: Qualified, Negotiation (already kept)
        ("activities", "activities"): (1, 0),
    }
    deal_calls = fake.calls_of("v2/deals", after=calls_before)
    assert {c.query["updated_since"] for c in deal_calls} == {"2026-11-10T09:00:00Z"}
    assert all(c.query["status"] == "open,won,lost,deleted" and c.query["limit"] == "2" for c in deal_calls)
    assert all(c.headers["x-api-token"] == fake.token and "api_token" not in c.query for c in deal_calls)
    assert len(fake.calls_of("v1/deals/42/flow", after=calls_before)) == 1
    assert (
        fake.calls_of("v1/deals/43/flow", after=calls_before) == []
    )  # a deleted deal's flow is not asked for

    assert funnel_of(engine, settings) == (4, 2, 2, 1, 1)
    with engine.connect() as conn:
        won = dict(conn.execute(select(Deal.deal_id, Deal.closed_at).where(Deal.status == "won")).all())
        assert conn.execute(select(Deal).where(Deal.deal_id == "43")).first() is None
        assert conn.execute(select(DealStageEvent).where(DealStageEvent.deal_id == "43")).first() is None
        assert (
            conn.execute(select(Lead).where(Lead.lead_id == leads["L1"])).first() is not None
        )  # converted, kept
        marks = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.watermark)).all())
        runs_kept = conn.execute(select(SyncRun.status, SyncRun.deleted).order_by(SyncRun.id)).all()
    assert won == {"41": naive(NOV(9)), "42": naive(NOV(12))}
    assert marks["deals>deals"] == naive(NOV(12)) and marks["leads>leads"] == naive(NOV(12))
    assert [r.status for r in runs_kept] == ["ok"] * 9 and runs_kept[-1].deleted == 1


def test_limits_and_5xx_are_waited_out_and_a_bad_record_is_kept_with_its_reason(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    fake.add("deals", id=49, owner_id=ROB, stage_id=11, value=70, currency="JPY")
    fake.add("leads", title="Odd", owner_id=ROB, label_ids=["lbl-gone"])
    fake.burst(2, reset=3)
    waits: list[float] = []
    first = sync(engine, settings, connector(settings, sleep=waits.append), now=fake.now)
    assert first.completed, first.error
    assert waits == [3.0, 3.0]  # the burst window's x-ratelimit-reset, twice
    rejected = {r.key: r.reason for r in first.rejects}
    odd = next(k for k, v in fake.objects["leads"].items() if v["title"] == "Odd")
    assert set(rejected) == {
        "49",
        odd,
        "49/Qualified/2026-11-10T09:00:00Z",
    }  # the deal, its stage, the lead's stage
    assert "JPY" in rejected["49"]
    assert any("lbl-gone" in reason and "crm.pipedrive.lead_stages" in reason for reason in rejected.values())
    with engine.connect() as conn:
        assert set(conn.execute(select(Deal.deal_id)).scalars()) == {"41", "42", "43"}
        kept = conn.execute(select(SyncRun.rejected).order_by(SyncRun.id.desc())).scalar()
    assert kept == 3

    fake.fail(2, status=503)
    waits.clear()
    again = sync(engine, settings, connector(settings, sleep=waits.append), now=fake.now)
    assert again.completed and waits == [2.0, 4.0]

    fake.burst(1, reset=40_000)  # a wait to the next day is not slept through
    waits.clear()
    stopped = sync(engine, settings, connector(settings, sleep=waits.append), now=fake.now)
    assert waits == [] and stopped.error is not None and "retry after 40000 s" in stopped.error


def test_a_spent_daily_budget_stops_the_sync_clearly_and_keeps_what_was_there(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    assert sync(engine, settings, connector(settings), now=fake.now).completed
    fake.now = NOV(12)
    fake.update("deals", 42, status="won")
    fake.daily_budget = 3  # users, organizations and the label list; the leads are refused
    failed = sync(engine, settings, connector(settings), now=fake.now)
    assert failed.error == (
        "Pipedrive's daily API budget of this token is spent (429, x-daily-requests-left: 0); "
        "the next sync after midnight goes on from here"
    )
    with engine.connect() as conn:
        assert conn.execute(select(Deal.status).where(Deal.deal_id == "42")).scalar() == "open"
        run = conn.execute(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert run.status == "failed" and "daily API budget" in run.error


def test_the_cli_syncs_and_a_refused_token_is_one_line_without_the_token(
    engine, db_url, fake, capsys, monkeypatch
):
    build_org(fake)
    monkeypatch.setenv("PIPEDRIVE_URL", fake.base_url)
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", fake.token)
    assert main(["--db", db_url, "sync", "pipedrive"]) == 0
    assert "pipedrive: read" in capsys.readouterr().out
    monkeypatch.setenv("PIPEDRIVE_API_TOKEN", "not-the-token-at-all")
    assert main(["--db", db_url, "sync", "pipedrive"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kpibot: pipedrive sync failed: Pipedrive refused the API token "
        "(401 You need to be authorized to make this request.); check PIPEDRIVE_API_TOKEN"
    ]
    assert "not-the-token-at-all" not in captured.out + captured.err
    assert main(["--db", db_url, "syncs"]) == 0
    assert "pipedrive" in capsys.readouterr().out
    monkeypatch.delenv("PIPEDRIVE_URL")
    assert main(["--db", db_url, "sync", "pipedrive"]) == 2
    assert "PIPEDRIVE_COMPANY_DOMAIN" in capsys.readouterr().err


def test_the_company_domain_gives_the_origin_and_a_missing_token_is_named():
    settings = load_settings(env={"PIPEDRIVE_COMPANY_DOMAIN": "acme", "PIPEDRIVE_API_TOKEN": "t" * 20})
    assert PipedriveAuth.from_settings(settings).url == "https://acme.pipedrive.com"
    with pytest.raises(CrmError, match="PIPEDRIVE_API_TOKEN is not set"):
        PipedriveAuth.from_settings(load_settings(env={"PIPEDRIVE_COMPANY_DOMAIN": "acme"}))
    with pytest.raises(CrmError, match="company's name"):
        PipedriveAuth.from_settings(
            load_settings(env={"PIPEDRIVE_COMPANY_DOMAIN": "a b", "PIPEDRIVE_API_TOKEN": "x"})
        )


EXPORT = {
    "organizations.csv": [
        ["Organization - ID", "Organization - Name", "Organization - Owner", "Organization - Organization created"],
        [ACME, "Acme Corp", "Rob Rep", "2026-11-01 09:00:00"],
    ],
    "deals.csv": [
        ["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Currency", "Deal - Status", "Deal - Owner",
         "Deal - Deal created", "Deal - Update time", "Deal - Won time", "Deal - Lost time", "Deal - Stage",
         "Deal - Last stage change", "Organization - ID", "Deal - Pipeline"],
        ["41", "Acme deal", "1000", "USD", "Won", "Rob Rep", "2026-11-05 10:00:00", "2026-11-09 10:00:00",
         "2026-11-09 10:00:00", "", "Proposal", "2026-11-06 10:00:00", ACME, "Sales"],
        ["42", "Beta", "500", "USD", "Open", "rita@example.com", "2026-11-05 10:00:00", "2026-11-10 10:00:00",
         "", "", "Negotiation", "2026-11-10 10:00:00", "", "Sales"],
    ],
    "activities.csv": [
        ["Activity - ID", "Activity - Subject", "Activity - Type", "Activity - Assigned to user",
         "Activity - Add time", "Activity - Due date", "Activity - Due time", "Activity - Done",
         "Activity - Marked as done time", "Deal - ID"],
        ["33", "Demo", "Meeting", "Rob Rep", "2026-11-05 10:00:00", "2026-11-06", "10:00", "Done",
         "2026-11-06 12:00:00", "41"],
        ["32", "Call back", "Deadline", "Rita Rep", "2026-11-04 10:00:00", "2026-11-20", "", "Not done", "", ""],
    ],
}  # fmt: skip


def write_export(folder: Path, files: dict[str, list[list[str]]]) -> Path:
    folder.mkdir()
    for name, rows in files.items():
        with (folder / name).open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)
    return folder


def test_pipedrives_export_files_are_read_by_their_own_column_names(engine, db_url, tmp_path, capsys):
    import_canonical(
        engine, load_settings(env={}), tmp_path,
        {"users": [{"user_id": ROB, "name": "Rob Rep", "email": "rob@example.com"},
                   {"user_id": RITA, "name": "Rita Rep", "email": "rita@example.com"}]},
    )  # fmt: skip
    config = tmp_path / "kpibot.yaml"
    config.write_text("org:\n  timezone: Europe/Berlin\n", encoding="utf-8")  # the export's moments: UTC+1
    export = write_export(tmp_path / "export", EXPORT)
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "pipedrive", str(export)]) == 0
    capsys.readouterr()
    with engine.connect() as conn:
        deals = {d.deal_id: d for d in conn.execute(select(Deal))}
        stages = set(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
        activities = {a.activity_id: a for a in conn.execute(select(Activity))}
    assert (deals["41"].status, deals["41"].closed_at, deals["41"].owner_id, deals["41"].account_id) == (
        "won", naive(NOV(9)), ROB, ACME
    )  # fmt: skip
    assert (deals["42"].status, deals["42"].owner_id, deals["42"].closed_at) == ("open", RITA, None)
    assert stages == {("41", "Proposal", naive(NOV(6))), ("42", "Negotiation", naive(NOV(10)))}
    assert (activities["33"].type, activities["33"].status, activities["33"].completed_at) == (
        "meeting", "done", naive(NOV(6, 11))
    )  # fmt: skip
    assert activities["33"].due_at == naive(NOV(6, 9))  # 10:00 on the exporting user's (Berlin's) clock
    assert (activities["32"].type, activities["32"].status, activities["32"].deal_id) == (
        "task",
        "planned",
        None,
    )

    bad = dict(EXPORT)
    bad["deals.csv"] = [*EXPORT["deals.csv"][:2], ["44", *EXPORT["deals.csv"][2][1:5], "Nobody Known",
                                                   *EXPORT["deals.csv"][2][6:]]]  # fmt: skip
    del bad["activities.csv"], bad["organizations.csv"]
    export = write_export(tmp_path / "bad", bad)
    assert main(["--db", db_url, "import", "--from", "pipedrive", str(export)]) == 1
    err = capsys.readouterr().err
    assert "deals.csv:3 44: owner_id=" in err and "Nobody Known" in err


def test_a_deal_owner_two_users_share_the_name_of_is_named_with_both_and_nothing_is_written(
    engine, db_url, tmp_path, capsys
):
    import_canonical(
        engine, load_settings(env={}), tmp_path,
        {"users": [{"user_id": ROB, "name": "Rob Rep", "email": "rob@example.com"},
                   {"user_id": "7", "name": "Anna Lee", "email": "anna@example.com"},
                   {"user_id": "8", "name": "Anna  Lee", "email": "anna.lee@example.com"}]},
    )  # fmt: skip
    head, acme, beta = EXPORT["deals.csv"]
    acme = [*acme[:12], "", *acme[13:]]  # no organization: only the owner is wrong
    beta = [*beta[:5], "anna lee", *beta[6:]]
    export = write_export(tmp_path / "export", {"deals.csv": [head, acme, beta]})
    assert main(["--db", db_url, "import", "--from", "pipedrive", str(export)]) == 1
    err = capsys.readouterr().err
    assert f"{export / 'deals.csv'}:3 42: " in err
    assert "Deal - Owner='anna lee' is the name of 7 and 8; give the owner's email or id" in err
    with engine.connect() as conn:
        assert conn.execute(select(Deal.deal_id)).all() == []


def test_a_custom_lead_field_can_carry_the_stage_instead_of_the_labels(engine, fake):
    env = {"PIPEDRIVE_URL": fake.base_url, "PIPEDRIVE_API_TOKEN": fake.token}
    pipedrive = {"lead_stage_field": "9f8e7d", "lead_stages": {"Accepted": "sal", "Ready": "sql"}}
    settings = load_settings(env=env, crm={"pipedrive": pipedrive})
    fake.add("users", id=ROB, name="Rob Rep", email="rob@example.com")
    fake.now = NOV(2)
    accepted = fake.add("leads", owner_id=ROB, label_ids=[HOT], **{"9f8e7d": "Accepted"})
    plain = fake.add("leads", owner_id=ROB, label_ids=[HOT])
    result = sync(engine, settings, connector(settings), now=fake.now)
    assert result.completed and result.rejects == []
    with engine.connect() as conn:
        events = set(conn.execute(select(LeadStageEvent.lead_id, LeadStageEvent.stage)).all())
    assert events == {(accepted, "sal")}  # the labels are not read; a lead without the field is at `lead`
    assert plain != accepted


def test_organizations_and_activities_deleted_in_pipedrive_are_found_once_a_day(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    day = [datetime(2026, 12, 1, 9, tzinfo=UTC)]

    def run():
        pipedrive = connector(settings)
        pipedrive.clock = lambda: day[0]
        return sync(engine, settings, pipedrive, now=fake.now)

    assert run().completed
    fake.delete("activities", 32)
    fake.add("organizations", id=22, name="Beta")
    fake.delete("organizations", 22)
    day[0] = datetime(2026, 12, 1, 20, tzinfo=UTC)  # the same day: no comparison yet
    quiet = run()
    assert {o.table: o.deleted for o in quiet.objects}["activities"] == 0
    day[0] = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    listing_before = len(fake.calls_of("v2/activities"))
    found = run()
    assert found.completed, found.error
    deleted = {(o.object, o.table): o.deleted for o in found.objects}
    assert deleted[("activities", "activities")] == 1 and deleted[("organizations", "accounts")] == 0
    assert any("updated_since" not in c.query for c in fake.calls_of("v2/activities")[listing_before:])
    with engine.connect() as conn:
        assert set(conn.execute(select(Activity.activity_id)).scalars()) == {"31", "33"}
