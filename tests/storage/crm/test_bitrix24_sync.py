"""A small Bitrix24 portal, synced through the real client over real HTTP from tests/fakes/bitrix24_api.py.

Bitrix24 keeps each lead's and deal's stage history (crm.stagehistory.list), so a sync reads real stage entries,
however seldom it runs. The portal, worked out by hand (November 2026; the portal answers in Moscow time):
- Departments: Продажи (1), headed by Mia (1), with Rob (2) and Rita (3); Администрация (3), no head, with Ann (4),
  named in crm.admins. So Mia manages Rob and Rita.
- Leads: 101 (Rob) NEW Nov 2 → IN_PROCESS Nov 3 → PROCESSED Nov 4 → CONVERTED Nov 5 into deal 201; 102 (Rob) NEW
  Nov 2 → IN_PROCESS Nov 3; 103 (Rita) NEW Nov 3; 104 (Rita) NEW Nov 3 → JUNK Nov 4.
  Funnel: 4 leads, 2 MQL (101, 102), 1 SQL (101), 1 opportunity, 1 won (101 through 201).
- Deals: 201 (Rob, lead 101, company 10) NEW Nov 5 → PREPARATION Nov 6 → WON Nov 9, 1000; 202 (Rita) NEW Nov 5 →
  EXECUTING Nov 10, 500, open.
- Activities: 301 Rob's call about lead 101, logged Nov 2 18:00, done (ended Nov 3 10:30); 302 Rita's task due
  Nov 20, open; 303 Rob's meeting about deal 201, ended Nov 6 11:00, done.
Then (Nov 12) lead 102 is PROCESSED, deal 202 WON and lead 103 deleted: the second sync reads only those records,
finds 103 gone by id reconciliation, and the funnel moves to 3 leads, 2 SQL.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.bitrix24 import Bitrix24Connector
from storage.crm.sync import sync
from storage.schema import Activity, Deal, DealStageEvent, Lead, LeadStageEvent, SyncRun, SyncWatermark, User
from tests.fakes.bitrix24_api import FakeBitrix24Api
from tests.fixtures.crm_org import NOV, empty_crm_tables, numbers

LEADS, DEALS, ACTS, USERS = "crm.lead.list", "crm.deal.list", "crm.activity.list", "user.get"
ANN = "4"


@pytest.fixture
def fake():
    api = FakeBitrix24Api(page_size=3, now=NOV(1))
    api.start()
    try:
        yield api
    finally:
        api.stop()


def settings_for(fake: FakeBitrix24Api, **bitrix24) -> Settings:
    crm = {"admins": ["ann@example.com"], "bitrix24": {"reconcile_every": "0", **bitrix24}}
    return load_settings(env={"BITRIX24_WEBHOOK_URL": fake.webhook_url}, crm=crm)


def connector(settings: Settings, waits: list[float] | None = None) -> Bitrix24Connector:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    return Bitrix24Connector.from_settings(settings, sleep=sleep, page_size=3)


def build_org(fake: FakeBitrix24Api, after_each_day=lambda: None) -> None:
    fake.departments = {
        1: {"ID": "1", "NAME": "Продажи", "PARENT": None, "UF_HEAD": "1"},
        3: {"ID": "3", "NAME": "Администрация", "PARENT": None, "UF_HEAD": ""},
    }
    people = [
        ("1", "Mia", "Manager", 1),
        ("2", "Rob", "Rep", 1),
        ("3", "Rita", "Rep", 1),
        ("4", "Ann", "Admin", 3),
    ]
    for uid, name, last, department in people:
        fake.add(USERS, int(uid), NAME=name, LAST_NAME=last, EMAIL=f"{name.lower()}@example.com", ACTIVE=True,
                 UF_DEPARTMENT=[department], TIME_ZONE="Europe/Moscow")  # fmt: skip
    fake.add("crm.company.list", 10, TITLE="Acme", ASSIGNED_BY_ID="2", INDUSTRY="IT")
    after_each_day()
    fake.now = NOV(2)
    fake.add(
        LEADS,
        101,
        TITLE="Acme lead",
        STATUS_ID="NEW",
        ASSIGNED_BY_ID="2",
        SOURCE_ID="WEB",
        COMPANY_TITLE="Acme",
    )
    fake.add(
        LEADS,
        102,
        TITLE="Beta lead",
        STATUS_ID="NEW",
        ASSIGNED_BY_ID="2",
        SOURCE_ID="WEB",
        COMPANY_TITLE="Beta",
    )
    fake.now = NOV(2, 18)
    fake.add(ACTS, 301, TYPE_ID="2", RESPONSIBLE_ID="2", OWNER_TYPE_ID="1", OWNER_ID="101", COMPLETED="N",
             DEADLINE=NOV(3, 10), END_TIME=NOV(3, 10, 30))  # fmt: skip
    after_each_day()
    fake.now = NOV(3)
    fake.add(LEADS, 103, STATUS_ID="NEW", ASSIGNED_BY_ID="3", SOURCE_ID="PARTNER", COMPANY_TITLE="Gamma")
    fake.add(LEADS, 104, STATUS_ID="NEW", ASSIGNED_BY_ID="3", SOURCE_ID="PARTNER", COMPANY_TITLE="Delta")
    fake.update(LEADS, 101, STATUS_ID="IN_PROCESS")
    fake.update(LEADS, 102, STATUS_ID="IN_PROCESS")
    fake.now = NOV(3, 11)
    fake.update(ACTS, 301, COMPLETED="Y")
    after_each_day()
    fake.now = NOV(4)
    fake.update(LEADS, 101, STATUS_ID="PROCESSED")
    fake.update(LEADS, 104, STATUS_ID="JUNK")
    fake.add(ACTS, 302, TYPE_ID="3", RESPONSIBLE_ID="3", COMPLETED="N", DEADLINE=NOV(20, 0))
    after_each_day()
    fake.now = NOV(5)
    fake.add(DEALS, 201, STAGE_ID="NEW", CATEGORY_ID="0", ASSIGNED_BY_ID="2", OPPORTUNITY="1000.00",
             LEAD_ID="101", COMPANY_ID="10", CLOSEDATE="2026-11-30T03:00:00+03:00")  # fmt: skip
    fake.add(DEALS, 202, STAGE_ID="NEW", CATEGORY_ID="0", ASSIGNED_BY_ID="3", OPPORTUNITY="500.00",
             LEAD_ID=None, COMPANY_ID="0", CLOSEDATE="2026-11-30T03:00:00+03:00")  # fmt: skip
    fake.update(LEADS, 101, STATUS_ID="CONVERTED")
    fake.add(ACTS, 303, TYPE_ID="1", RESPONSIBLE_ID="2", OWNER_TYPE_ID="2", OWNER_ID="201", COMPLETED="N",
             DEADLINE=NOV(6, 10), END_TIME=NOV(6, 11))  # fmt: skip
    after_each_day()
    fake.now = NOV(6)
    fake.update(DEALS, 201, STAGE_ID="PREPARATION")
    fake.now = NOV(6, 12)
    fake.update(ACTS, 303, COMPLETED="Y")
    after_each_day()
    fake.now = NOV(9)
    fake.update(DEALS, 201, STAGE_ID="WON", CLOSEDATE="2026-11-09T03:00:00+03:00")
    after_each_day()
    fake.now = NOV(10)
    fake.update(DEALS, 202, STAGE_ID="EXECUTING", OPPORTUNITY="550.00")
    after_each_day()
    fake.now = NOV(11)


def funnel_of(engine, settings: Settings) -> tuple:
    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    return tuple(funnel[stage] for stage in ("lead", "mql", "sql", "opportunity", "won"))


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_daily_syncs_and_one_late_sync_land_the_same_history_then_only_what_changed_is_read(engine, fake):
    settings = settings_for(fake)
    runs = []

    def daily() -> None:
        fake.now = fake.now.replace(minute=30)  # the sync runs a little after the day's changes
        runs.append(sync(engine, settings, connector(settings), now=fake.now))

    build_org(fake, daily)
    assert [r.error for r in runs] == [None] * 8 and [r.rejects for r in runs] == [[]] * 8
    daily_numbers = numbers(engine, settings, ANN)
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    with engine.connect() as conn:
        leads = set(
            conn.execute(select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at))
        )
        deals = set(
            conn.execute(select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at))
        )
        users = {u.user_id: u for u in conn.execute(select(User)).all()}
        stored = {d.deal_id: d for d in conn.execute(select(Deal)).all()}
        acts = {a.activity_id: a for a in conn.execute(select(Activity)).all()}
    assert leads == {
        ("101", "mql", naive(NOV(3))), ("101", "sql", naive(NOV(4))), ("101", "opportunity", naive(NOV(5))),
        ("102", "mql", naive(NOV(3))), ("104", "disqualified", naive(NOV(4))),
    }  # fmt: skip
    assert deals == {
        ("201", "NEW", naive(NOV(5))), ("201", "PREPARATION", naive(NOV(6))), ("201", "WON", naive(NOV(9))),
        ("202", "NEW", naive(NOV(5))), ("202", "EXECUTING", naive(NOV(10))),
    }  # fmt: skip
    assert {k: (u.role, u.manager_id, u.team_id) for k, u in users.items()} == {
        "1": ("manager", None, "team-1"), "2": ("rep", "1", "team-1"), "3": ("rep", "1", "team-1"),
        "4": ("admin", None, None),
    }  # fmt: skip
    assert users["2"].name == "Rob Rep" and users["2"].timezone == "Europe/Moscow"
    assert (stored["201"].status, stored["201"].lead_id, stored["201"].account_id) == ("won", "101", "10")
    assert stored["201"].closed_at == naive(NOV(9, 0)) and stored["201"].amount == 1000
    assert (stored["202"].status, stored["202"].account_id, stored["202"].amount) == ("open", None, 550)
    assert (acts["301"].type, acts["301"].status, acts["301"].lead_id) == ("call", "done", "101")
    assert acts["301"].completed_at == naive(NOV(3, 10, 30))
    assert (acts["302"].type, acts["302"].status) == ("task", "planned")
    assert (acts["303"].type, acts["303"].deal_id) == ("meeting", "201")

    empty_crm_tables(engine)  # one late sync: the portal's history gives the same stage entries
    with engine.begin() as conn:
        conn.execute(SyncWatermark.__table__.delete())
    late = sync(engine, settings, connector(settings), now=fake.now)
    assert late.completed and not late.rejects, late.error
    assert numbers(engine, settings, ANN) == daily_numbers

    calls_before = len(fake.calls)
    fake.now = NOV(12)
    fake.update(LEADS, 102, STATUS_ID="PROCESSED")
    fake.update(DEALS, 202, STAGE_ID="WON", CLOSEDATE="2026-11-12T03:00:00+03:00")
    fake.delete(LEADS, 103)
    fake.now = NOV(12, 10)
    second = sync(engine, settings, connector(settings), now=fake.now)
    assert second.completed, second.error
    read = {(o.object, o.table): (o.read, o.deleted) for o in second.objects}
    assert read == {
        ("user", "users"): (4, 0),  # read whole: teams follow from all of them
        ("company", "accounts"): (0, 0),
        ("lead", "leads"): (1, 1),  # 102 changed; 103 gone from the portal's ids
        ("lead_history", "lead_stage_events"): (1, 0),
        ("deal", "deals"): (1, 0),
        ("deal_history", "deal_stage_events"): (1, 0),
        ("activity", "activities"): (0, 0),
    }
    walks = [c.body for c in fake.calls_of(LEADS, after=calls_before)]
    assert walks[0] == {
        "order": {"ID": "ASC"},
        "filter": {">DATE_MODIFY": "2026-11-05T09:00:00+00:00", ">ID": 0},  # the last change read
        "select": ["ID", "DATE_CREATE", "ASSIGNED_BY_ID", "SOURCE_ID", "COMPANY_TITLE", "DATE_MODIFY"],
        "start": -1,
    }
    assert walks[1]["select"] == ["ID"] and walks[1]["filter"] == {">ID": 0}  # the reconciliation's id walk
    assert funnel_of(engine, settings) == (3, 2, 2, 1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "103")).first() is None
        won = conn.execute(select(Deal.deal_id).where(Deal.status == "won")).scalars().all()
        statuses = conn.execute(select(SyncRun.status).order_by(SyncRun.id)).scalars().all()
    assert sorted(won) == ["201", "202"] and statuses == ["ok"] * 10


def test_limits_are_waited_out_5xx_retried_and_a_status_it_cannot_place_rejected_while_the_rest_lands(
    engine, fake
):
    settings = settings_for(fake, lead_stages={"Горячий": "sql"})
    build_org(fake)
    fake.statuses.append({"ID": "6", "ENTITY_ID": "STATUS", "STATUS_ID": "UC_HOT", "NAME": "Горячий"})
    fake.statuses.append({"ID": "7", "ENTITY_ID": "STATUS", "STATUS_ID": "UC_ODD", "NAME": "Странный"})
    fake.add(LEADS, 105, STATUS_ID="UC_HOT", ASSIGNED_BY_ID="2")
    fake.add(LEADS, 106, STATUS_ID="UC_ODD", ASSIGNED_BY_ID="2")
    fake.limit(2)
    fake.fail(1)
    waits: list[float] = []
    result = sync(engine, settings, connector(settings, waits), now=fake.now)
    assert result.completed, result.error
    assert waits == [2.0, 4.0, 8.0]  # 503 QUERY_LIMIT_EXCEEDED twice, then a 500, with backoff
    assert [
        (r.key, "UC_ODD" in r.reason and "crm.bitrix24.lead_stages" in r.reason) for r in result.rejects
    ] == [("106", True)]
    with engine.connect() as conn:
        assert {"105", "106"} <= set(conn.execute(select(Lead.lead_id)).scalars())
        hot = (
            conn.execute(select(LeadStageEvent.stage).where(LeadStageEvent.lead_id == "105")).scalars().all()
        )
    assert hot == ["sql"]  # mapped by the status's name


def test_a_wrong_webhook_fails_in_one_line_without_its_secret_and_keeps_the_data(
    engine, db_url, fake, capsys, monkeypatch
):
    build_org(fake)
    fake.page_size = 50  # a real portal's page, as the CLI's client expects
    monkeypatch.setenv("BITRIX24_WEBHOOK_URL", fake.webhook_url)
    monkeypatch.setenv("KPIBOT_CONFIG", "/nonexistent")
    assert main(["--db", db_url, "sync", "bitrix24"]) == 0
    out = capsys.readouterr().out
    assert f"{'lead':<20} → {'leads':<18} read {4:>8}" in out
    wrong = fake.webhook_url.replace(fake.secret, "n0t-the-s3cret-at-all")
    monkeypatch.setenv("BITRIX24_WEBHOOK_URL", wrong)
    assert main(["--db", db_url, "sync", "bitrix24", "--full"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kpibot: bitrix24 sync failed: Bitrix24 refused the webhook "
        "(401 INVALID_CREDENTIALS: Invalid request credentials): check BITRIX24_WEBHOOK_URL"
    ]
    assert "n0t-the-s3cret-at-all" not in captured.out + captured.err
    assert main(["--db", db_url, "syncs"]) == 0
    listing = capsys.readouterr().out
    assert "bitrix24" in listing and "failed" in listing and "n0t-the-s3cret" not in listing
    with engine.connect() as conn:
        assert len(conn.execute(select(Lead.lead_id)).all()) == 4  # the failed run removed nothing


def test_a_missing_or_malformed_webhook_is_refused_before_any_call(fake, db_url, capsys, monkeypatch):
    monkeypatch.delenv("BITRIX24_WEBHOOK_URL", raising=False)
    assert main(["--db", db_url, "sync", "bitrix24"]) == 2
    assert "BITRIX24_WEBHOOK_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("BITRIX24_WEBHOOK_URL", f"{fake.base_url}/crm/s3cr3ts3cr3t")
    assert main(["--db", db_url, "sync", "bitrix24"]) == 2
    err = capsys.readouterr().err
    assert "must be an inbound webhook's address" in err and "s3cr3ts3cr3t" not in err
    assert fake.calls == []


def _write(path, rows, encoding: str) -> None:
    with path.open("w", newline="", encoding=encoding) as out:
        csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8-sig"])
def test_the_portals_csv_export_of_leads_and_deals_imports(engine, db_url, fake, tmp_path, capsys, encoding):
    """Bitrix24's "Экспорт в CSV" of leads and deals: Russian column names, `;`, Windows-1251 (or UTF-8), dates as
    the interface shows them in the portal's zone; each record at the stage the export shows."""
    settings = settings_for(fake)
    build_org(fake)
    assert sync(engine, settings, connector(settings), now=fake.now).completed  # the users
    empty_crm_tables_but_users(engine)
    export = tmp_path / "export"
    export.mkdir()
    head = ["ID", "Название лида", "Стадия", "Ответственный", "Источник", "Название компании", "Дата создания",
            "Дата изменения"]  # fmt: skip
    _write(export / "LEAD_20261111.csv", [head,
        ["101", "Acme lead", "Качественный лид", "Rob Rep", "WEB", "Acme", "02.11.2026 12:00:00", "05.11.2026 12:00:00"],
        ["102", "Beta lead", "В работе", "Rob Rep", "WEB", "Beta", "02.11.2026 12:00:00", "03.11.2026 12:00:00"],
        ["103", "", "Не обработан", "Rita  Rep", "PARTNER", "Gamma", "03.11.2026 12:00:00", "03.11.2026 12:00:00"],
        ["104", "", "Некачественный лид", "Rita  Rep", "PARTNER", "Delta", "03.11.2026 12:00:00", "04.11.2026 12:00:00"],
    ], encoding)  # fmt: skip
    head = ["ID", "Название сделки", "Стадия сделки", "Ответственный", "Сумма", "Дата создания", "Дата изменения",
            "Предполагаемая дата закрытия", "Лид"]  # fmt: skip
    _write(export / "DEAL_20261111.csv", [head,
        ["201", "Acme", "Сделка успешна", "Rob Rep", "1 000,00", "05.11.2026 12:00:00", "09.11.2026 12:00:00", "09.11.2026", "101"],
        ["202", "Beta", "В работе", "Rita  Rep", "550,00", "05.11.2026 12:00:00", "10.11.2026 12:00:00", "30.11.2026", ""],
    ], encoding)  # fmt: skip
    config = tmp_path / "kpibot.yaml"
    config.write_text("crm:\n  admins: [ann@example.com]\n  bitrix24:\n    export_timezone: Europe/Moscow\n")
    assert (
        main(["--config", str(config), "--db", db_url, "import", "--from", "bitrix24", str(export)]) == 0
    ), capsys.readouterr().err
    assert funnel_of(engine, settings) == (4, 2, 1, 1, 1)
    with engine.connect() as conn:
        deal = conn.execute(select(Deal).where(Deal.deal_id == "201")).one()
        lead = conn.execute(select(Lead).where(Lead.lead_id == "101")).one()
    assert (deal.status, deal.amount, deal.owner_id, deal.lead_id) == ("won", 1000, "2", "101")
    assert lead.created_at == naive(NOV(2)) and lead.owner_id == "2"  # 12:00 in Moscow is 09:00 UTC


def empty_crm_tables_but_users(engine) -> None:
    with engine.connect() as conn:
        users = [dict(r._mapping) for r in conn.execute(select(User))]
    empty_crm_tables(engine)
    with engine.begin() as conn:
        conn.execute(User.__table__.insert(), users)


def test_deletions_are_looked_for_when_due_and_on_a_full_sync(engine, fake):
    settings = settings_for(fake, reconcile_every="6h")
    build_org(fake)
    clock = [NOV(11)]

    def run(**options):
        made = Bitrix24Connector.from_settings(
            settings, sleep=lambda s: None, page_size=3, now=lambda: clock[0]
        )
        result = sync(engine, settings, made, now=clock[0], **options)
        assert result.completed, result.error
        return {o.object: o.deleted for o in result.objects if o.table != "users"}

    def id_walks(after: int) -> int:
        walks = fake.calls_of(LEADS, after=after)  # each walk of the ids starts from the first id
        return sum(c.body["select"] == ["ID"] and c.body["filter"] == {">ID": 0} for c in walks)

    assert run()["lead"] == 0  # the first sync reconciles: nothing to delete yet
    fake.delete(LEADS, 103)
    clock[0] = NOV(11, 12)  # three hours on: not due
    before = len(fake.calls)
    assert run()["lead"] == 0 and id_walks(before) == 0
    before = len(fake.calls)
    assert run(full=True)["lead"] == 1 and id_walks(before) == 1
    fake.delete(DEALS, 202)
    clock[0] = NOV(11, 19)  # seven hours after the first: due again
    assert run() == {"company": 0, "lead": 0, "lead_history": 0, "deal": 1, "deal_history": 0, "activity": 0}
    with engine.connect() as conn:
        assert conn.execute(select(DealStageEvent).where(DealStageEvent.deal_id == "202")).first() is None


def test_an_export_row_whose_responsible_is_no_known_user_is_named_and_its_file_not_written(
    engine, db_url, fake, tmp_path, capsys
):
    settings = settings_for(fake)
    build_org(fake)
    assert sync(engine, settings, connector(settings), now=fake.now).completed
    empty_crm_tables_but_users(engine)
    path = tmp_path / "Лиды.csv"
    _write(path, [
        ["ID", "Стадия", "Ответственный", "Дата создания", "Дата изменения"],
        ["101", "В работе", "Rob Rep", "02.11.2026 12:00:00", "03.11.2026 12:00:00"],
        ["105", "В работе", "Некто Неизвестный", "02.11.2026 12:00:00", "03.11.2026 12:00:00"],
        ["106", "Горячий", "Rob Rep", "02.11.2026 12:00:00", "31.11.2026 12:00:00"],
    ], "cp1251")  # fmt: skip
    assert main(["--db", db_url, "import", "--from", "bitrix24", str(path)]) == 1
    err = capsys.readouterr().err
    # Named by the user's own file (a Windows-1251 one, read as such; no copy of it anywhere else).
    assert f"{path}:3 105" in err and "Ответственный 'Некто Неизвестный' is no user kpibot knows" in err
    assert f"{path}:4 106" in err and "DATE_MODIFY='31.11.2026 12:00:00' is not a date and time" in err
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []


def portal_users(engine) -> None:
    """Rob and Rita as a sync stores them, and two users who share the name Anna Lee."""
    with engine.begin() as conn:
        conn.execute(insert(User), [
            dict(user_id="2", name="Rob Rep", email="rob@example.com", role="rep"),
            dict(user_id="3", name="Rita Rep", email="rita@example.com", role="rep"),
            dict(user_id="5", name="Anna Lee", email="anna@example.com", role="rep"),
            dict(user_id="6", name="Anna Lee", email="anna.lee@example.com", role="rep"),
        ])  # fmt: skip


LEAD_HEAD = ["ID", "Стадия", "Ответственный", "Дата создания", "Дата изменения"]


def lead_row(lead_id: str, responsible: str) -> list[str]:
    return [lead_id, "В работе", responsible, "02.11.2026 12:00:00", "03.11.2026 12:00:00"]


def test_a_responsible_two_users_share_the_name_of_is_named_with_both_and_the_file_not_written(
    engine, db_url, tmp_path, capsys
):
    portal_users(engine)
    path = tmp_path / "LEAD_20261111.csv"
    _write(path, [LEAD_HEAD, lead_row("101", "Rob Rep"), lead_row("102", "Anna Lee")], "utf-8-sig")
    assert main(["--db", db_url, "import", "--from", "bitrix24", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3 102: " in err
    assert "Ответственный='Anna Lee' is the name of 5 and 6; give the owner's email or id" in err
    assert "no user kpibot knows" not in err
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []


def test_every_lead_file_of_a_folder_is_read_and_a_bad_row_named_in_its_own_file(
    engine, db_url, tmp_path, capsys
):
    """A portal's leads exported in two parts: leads 101 and 102, then 103 and 104, whose responsible kpibot does
    not know. With --skip-invalid three leads land and 104 is named at line 3 of the second file."""
    portal_users(engine)
    export = tmp_path / "export"
    export.mkdir()
    first, second = export / "leads_1.csv", export / "leads_2.csv"
    _write(first, [LEAD_HEAD, lead_row("101", "Rob Rep"), lead_row("102", "Rita Rep")], "utf-8")
    _write(second, [LEAD_HEAD, lead_row("103", "Rita Rep"), lead_row("104", "Некто")], "utf-8")
    assert main(["--db", db_url, "import", "--from", "bitrix24", str(export), "--skip-invalid"]) == 0
    err = capsys.readouterr().err
    assert f"{second}:3 104: " in err and "Ответственный 'Некто' is no user kpibot knows" in err
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Lead.lead_id)).scalars()) == ["101", "102", "103"]
        assert sorted(conn.execute(select(LeadStageEvent.lead_id)).scalars()) == ["101", "102", "103"]


def test_a_custom_field_is_read_and_one_the_portal_lacks_is_named(engine, fake):
    build_org(fake)
    fake.update(LEADS, 101, UF_CRM_CHANNEL="Выставка")
    settings = settings_for(fake, fields={"lead": {"source": "UF_CRM_CHANNEL"}})
    assert sync(engine, settings, connector(settings), now=fake.now).completed
    with engine.connect() as conn:
        sources = dict(conn.execute(select(Lead.lead_id, Lead.source)).all())
    assert sources == {"101": "Выставка", "102": None, "103": None, "104": None}
    settings = settings_for(fake, fields={"deal": {"amount": "UF_CRM_TYPO"}})
    failed = sync(engine, settings, connector(settings), now=fake.now)
    assert failed.error == (
        "crm.bitrix24.fields.deal.amount: Bitrix24 has no field 'UF_CRM_TYPO' on deal (crm.deal.fields)"
    )
