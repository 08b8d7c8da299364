"""A small amoCRM account, synced through the real client over real HTTP from tests/fakes/amocrm_api.py.

The org, worked out by hand (November 2026, UTC, changes at 09:00), synced after each day as the scheduler would:
- Mia heads the group "Отдел продаж" (crm.amocrm.group_managers), Rob and Rita are in it; Ann (crm.admins) admin.
- Pipeline "Продажи": Неразобранное (unsorted) → Первичный контакт → Переговоры (mql) → Принимают решение (sql)
  → Согласование договора (opportunity) → 142 won / 143 lost.
- L201 (Rob, company Acme) Первичный контакт (Nov 2) → Переговоры (Nov 3) → Принимают решение (Nov 4) →
  Согласование договора (Nov 5) → won (Nov 9), 1 000. L202 (Rob) Первичный контакт (Nov 2) → Переговоры (Nov 3),
  500. L203 (Rita) unsorted (Nov 3). L204 (Rita) Первичный контакт (Nov 3) → lost (Nov 4): a lost lead, not a
  deal. L205 (Rita) created straight into Согласование договора (Nov 5, no event), 700 → lost (Nov 10): a lost deal.
  Funnel of November: 5 leads, 3 MQL (L201, L202, L205), 2 SQL, 2 opportunities, 1 won; deals: L201 won, L205 lost.
- A task (Rob, call, about L201, due Nov 3, done Nov 3), a task (Rita, meeting, open), a call note on L202.
Then (Nov 12) L202 moves to Принимают решение and L203 is deleted: the second sync reads only those, and the
funnel becomes 4 leads, 3 MQL, 3 SQL, 2 opportunities, 1 won.
"""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.amocrm import AmocrmConnector
from storage.crm.cli import CONNECTORS
from storage.crm.sync import sync
from storage.schema import (
    Account,
    Activity,
    Deal,
    DealStageEvent,
    Lead,
    LeadStageEvent,
    SyncRejected,
    SyncRun,
    SyncWatermark,
    User,
)
from tests.fakes.amocrm_api import FakeAmocrmApi
from tests.fixtures.crm_org import NOV, numbers

MIA, ROB, RITA, ANN = 1001, 1002, 1003, 1004
FIRST, TALKS, DECIDE, CONTRACT = 71, 72, 73, 74
UNSORTED = 700 * 10
PIPELINE = 700


class VirtualTime:
    """One clock for the client's pacing and the fake's rate limit; sleeping moves it on (no real sleeps)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def server():
    api = FakeAmocrmApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def fake(server):
    """The module's running server with a fresh, empty account, its clock at Nov 1."""
    server.reset(NOV(1))
    return server


def settings_for(fake: FakeAmocrmApi, **env: str) -> Settings:
    environment = {"AMOCRM_URL": fake.base_url, "AMOCRM_ACCESS_TOKEN": "fake-long-lived-token-0001", **env}
    amocrm = {
        "group_managers": {"Отдел продаж": "mia@example.com"},
        "page_size": 2,
    }  # pages of two: paging walked
    crm = {"admins": ["ann@example.com"], "amocrm": amocrm}
    return load_settings(env=environment, crm=crm)


def connector(settings: Settings, time: VirtualTime, fake: FakeAmocrmApi) -> AmocrmConnector:
    fake.clock = time.clock
    time.now += 60  # the next sync starts a while after the last
    return AmocrmConnector.from_settings(settings, sleep=time.sleep, clock=time.clock)


def build_org(fake: FakeAmocrmApi, after_each_day=lambda: None) -> None:
    fake.pipeline(PIPELINE, "Продажи", [(FIRST, "Первичный контакт"), (TALKS, "Переговоры"),
                                       (DECIDE, "Принимают решение"), (CONTRACT, "Согласование договора")])  # fmt: skip
    fake.groups = {5: "Отдел продаж"}
    for uid, name, email, lang, group in (
        (MIA, "Mia Manager", "mia@example.com", "en", 5),
        (ROB, "Rob Rep", "rob@example.com", "en", 5),
        (RITA, "Рита Реп", "rita@example.com", "ru", 5),
        (ANN, "Ann Admin", "Ann@Example.com", "en", 0),
    ):
        fake.add("users", uid, name=name, email=email, lang=lang,
                 rights={"is_admin": uid == ANN, "is_free": False, "is_active": True, "group_id": group or None,
                         "role_id": None})  # fmt: skip
    fake.add("companies", 301, name="Acme Corp", responsible_user_id=ROB)
    after_each_day()

    def lead(lid: int, owner: int, status: int, price: int, companies=()) -> None:
        fake.add("leads", lid, name=f"Сделка #{lid}", price=price, responsible_user_id=owner, status_id=status,
                 pipeline_id=PIPELINE, company_ids=list(companies))  # fmt: skip

    fake.now = NOV(2)
    lead(201, ROB, FIRST, 1000, [301])
    lead(202, ROB, FIRST, 500)
    fake.add("tasks", 401, responsible_user_id=ROB, entity_id=201, entity_type="leads", task_type_id=1,
             is_completed=False, complete_till=int(NOV(3, 10).timestamp()), text="Позвонить")  # fmt: skip
    after_each_day()
    fake.now = NOV(3)
    lead(203, RITA, UNSORTED, 0)
    lead(204, RITA, FIRST, 300)
    fake.update("leads", 201, status_id=TALKS)
    fake.update("leads", 202, status_id=TALKS)
    fake.update("tasks", 401, is_completed=True)
    fake.add("notes", 501, entity_id=202, note_type="call_out", responsible_user_id=ROB, created_by=ROB,
             params={"duration": 120, "phone": "+79990000000"})  # fmt: skip
    after_each_day()
    fake.now = NOV(4)
    fake.update("leads", 201, status_id=DECIDE)
    fake.update("leads", 204, status_id=143)
    fake.add("tasks", 402, responsible_user_id=RITA, entity_id=301, entity_type="companies", task_type_id=2,
             is_completed=False, complete_till=int(NOV(20, 12).timestamp()))  # fmt: skip
    after_each_day()
    fake.now = NOV(5)
    fake.update("leads", 201, status_id=CONTRACT)
    lead(205, RITA, CONTRACT, 700)
    after_each_day()
    fake.now = NOV(9)
    fake.update("leads", 201, status_id=142)
    after_each_day()
    fake.now = NOV(10)
    fake.update("leads", 205, status_id=143)
    after_each_day()
    fake.now = NOV(11)


def records_gone_users_kept(engine) -> None:
    """The CRM's records gone, its users kept (an export names them)."""
    with engine.begin() as conn:
        for table in ("activities", "deal_stage_events", "lead_stage_events", "deals", "leads", "accounts"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM lead_journeys"))


def funnel_of(engine, settings: Settings) -> tuple:
    funnel = dict(numbers(engine, settings, str(ANN))["funnel"])
    return tuple(funnel[stage] for stage in ("lead", "mql", "sql", "opportunity", "won"))


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def test_daily_syncs_land_the_funnel_deals_and_history_then_read_only_what_changed(engine, fake):
    settings = settings_for(fake)
    time = VirtualTime()
    runs = []
    build_org(
        fake, lambda: runs.append(sync(engine, settings, connector(settings, time, fake), now=fake.now))
    )
    assert [r.error for r in runs] == [None] * 7 and [r.rejects for r in runs] == [[]] * 7
    assert funnel_of(engine, settings) == (5, 3, 2, 2, 1)
    with engine.connect() as conn:
        users = {u.user_id: u for u in conn.execute(select(User)).all()}
        deals = {d.deal_id: d for d in conn.execute(select(Deal)).all()}
        stages = conn.execute(
            select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at).order_by(
                LeadStageEvent.lead_id, LeadStageEvent.entered_at
            )
        ).all()
        deal_stages = conn.execute(
            select(DealStageEvent.deal_id, DealStageEvent.stage, DealStageEvent.entered_at).order_by(
                DealStageEvent.deal_id, DealStageEvent.entered_at
            )
        ).all()
        activities = {a.activity_id: a for a in conn.execute(select(Activity)).all()}
        company = conn.execute(select(Lead.company).where(Lead.lead_id == "201")).scalar()
    assert {k: (u.role, u.team_id, u.manager_id, u.locale) for k, u in users.items()} == {
        "1001": ("manager", "team-1001", None, "en"),
        "1002": ("rep", "team-1001", "1001", "en"),
        "1003": ("rep", "team-1001", "1001", "ru"),
        "1004": ("admin", None, None, "en"),
    }
    assert company == "Acme Corp"
    assert {k: (d.status, d.amount, d.closed_at, d.account_id) for k, d in deals.items()} == {
        "201": ("won", Decimal("1000"), naive(NOV(9)), "301"),
        "205": ("lost", Decimal("700"), naive(NOV(10)), None),
    }
    assert [(lead, stage, naive_at.day) for lead, stage, naive_at in stages] == [
        ("201", "mql", 3), ("201", "sql", 4), ("201", "opportunity", 5), ("201", "won", 9),
        ("202", "mql", 3), ("204", "lost", 4), ("205", "opportunity", 5), ("205", "lost", 10),
    ]  # fmt: skip
    assert [(deal, stage, at.day) for deal, stage, at in deal_stages] == [
        ("201", "Согласование договора", 5), ("201", "Успешно реализовано", 9),
        ("205", "Согласование договора", 5), ("205", "Закрыто и не реализовано", 10),
    ]  # fmt: skip
    assert {
        k: (a.type, a.status, a.lead_id, a.account_id, a.completed_at) for k, a in activities.items()
    } == {
        "task-401": ("call", "done", "201", None, naive(NOV(3))),  # a lead's, not yet a deal's
        "task-402": ("meeting", "planned", None, "301", None),
        "note-501": ("call", "done", "202", None, naive(NOV(3))),
    }
    assert all(wait < 1 for wait in time.waits)  # only pacing: never over the limit
    # Nov 3 stamped four leads in one second, two a page: that second was walked by page, then the next asked for
    ties = [c for c in fake.calls_to("/api/v4/leads") if c.param("filter[updated_at][to]")]
    assert {(c.param("filter[updated_at][to]"), c.param("page")) for c in ties} == {
        (str(int(NOV(3).timestamp())), "2")
    }
    assert all(c.authorization == "Bearer fake-long-lived-token-0001" for c in fake.calls)

    before = len(fake.calls)
    fake.now = NOV(12)
    fake.update("leads", 202, status_id=DECIDE)
    fake.delete("leads", 203)
    second = sync(engine, settings, connector(settings, time, fake), now=fake.now)
    assert second.completed, second.error
    read = {(o.object, o.table): (o.read, o.deleted) for o in second.objects}
    assert read == {
        ("users", "users"): (4, 0),  # read whole: teams follow from all of them
        ("companies", "accounts"): (0, 0),
        ("leads", "leads"): (1, 1),  # L202 changed, L203 deleted (lead_deleted)
        ("leads", "deals"): (1, 0),  # L202 is no deal yet; L203 was none
        ("events", "lead_stage_events"): (1, 0),
        ("events", "deal_stage_events"): (1, 0),
        ("leads", "lead_stage_events"): (1, 0),
        ("leads", "deal_stage_events"): (1, 0),
        ("tasks", "activities"): (0, 0),
        ("leads/notes", "activities"): (0, 0),
    }
    leads = fake.calls_to("/api/v4/leads", after=before)
    assert {c.param("filter[updated_at][from]") for c in leads} == {str(int(NOV(10).timestamp()) + 1)}
    with engine.connect() as conn:
        marks = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.watermark)).all())
    assert marks["leads>leads"] == naive(NOV(12)) and marks["events>lead_stage_events"] == naive(NOV(12))
    assert funnel_of(engine, settings) == (4, 3, 3, 2, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "203")).first() is None
        assert [s.status for s in conn.execute(select(SyncRun.status)).all()] == ["ok"] * 8


def test_one_late_sync_recovers_each_stage_entry_from_the_events(engine, fake):
    """Without the daily syncs, the lead_status_changed events still give every move at its time; only what left
    no event is lost: L205's creation straight into Согласование договора (seen first lost, so a lost lead)."""
    settings = settings_for(fake)
    build_org(fake)
    late = sync(engine, settings, connector(settings, VirtualTime(), fake), now=fake.now)
    assert late.completed and not late.rejects, late.error
    assert funnel_of(engine, settings) == (5, 2, 1, 1, 1)
    with engine.connect() as conn:
        stages = conn.execute(
            select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at).order_by(
                LeadStageEvent.lead_id, LeadStageEvent.entered_at
            )
        ).all()
        deals = conn.execute(select(Deal.deal_id, Deal.status)).all()
        deal_stages = conn.execute(select(DealStageEvent.stage, DealStageEvent.entered_at)).all()
    assert [(lead, stage, at.day) for lead, stage, at in stages] == [
        ("201", "mql", 3), ("201", "sql", 4), ("201", "opportunity", 5), ("201", "won", 9),
        ("202", "mql", 3), ("204", "lost", 4), ("205", "lost", 10),
    ]  # fmt: skip
    assert deals == [("201", "won")]
    assert sorted((stage, at.day) for stage, at in deal_stages) == [
        ("Согласование договора", 5),
        ("Успешно реализовано", 9),
    ]


def test_a_limit_and_a_bad_gateway_are_waited_out_and_a_bad_record_is_kept_with_its_reason(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    fake.pipeline(800, "Партнёры", [(81, "Первичный контакт"), (82, "Спим")])
    fake.add("leads", 299, name="?", price=1, responsible_user_id=ROB, status_id=82, pipeline_id=800)
    fake.limit(2)
    fake.fail(1)
    time = VirtualTime()
    result = sync(engine, settings, connector(settings, time, fake), now=fake.now)
    assert result.completed, result.error
    assert [w for w in time.waits if w >= 1] == [2.0, 4.0, 8.0]  # 429, 429, 502: backoff 2, 4, 8 s
    bad = [(r.key, r.reason) for r in result.rejects]
    assert bad == [
        ("299", "lead status 'Спим' is not mapped to a funnel stage (crm.amocrm.lead_stages in kpibot.yaml)")
    ]
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == "299")).first() is not None
        kept = conn.execute(select(SyncRejected.record_id, SyncRejected.object)).all()
    assert kept == [("299", "leads")]  # its stage; the lead itself landed


def test_oauth_refreshes_keeps_the_rotated_token_in_the_store_and_a_refused_one_fails_the_run(
    engine, db_url, fake, capsys, monkeypatch
):
    seed = fake.issue_refresh_token()
    env = {"AMOCRM_ACCESS_TOKEN": "", "AMOCRM_CLIENT_ID": fake.client_id, "AMOCRM_CLIENT_SECRET": fake.client_secret,
           "AMOCRM_REFRESH_TOKEN": seed, "AMOCRM_REDIRECT_URI": fake.redirect_uri}  # fmt: skip
    settings = settings_for(fake, **env)
    fake.add("companies", 301, name="Acme Corp", responsible_user_id=None)
    time = VirtualTime()
    assert sync(engine, settings, connector(settings, time, fake), now=fake.now).completed
    fake.expire_tokens()  # the next sync's kept access token is refused: refreshed with the kept refresh token
    second = sync(engine, settings, connector(settings, time, fake), now=fake.now)
    assert second.completed, second.error
    grants = [c.status for c in fake.calls_to("/oauth2/access_token")]
    assert grants == [200, 200]  # the seed once, then the rotated one from the store (the seed is spent)
    fake.expire_tokens()
    fake._refresh.clear()  # the integration was revoked
    for name, value in {"AMOCRM_URL": fake.base_url, **env}.items():
        monkeypatch.setenv(name, value)
    assert main(["--db", db_url, "sync", "amocrm"]) == 1
    err = capsys.readouterr().err
    assert "amoCRM refused the refresh token (400 Некорректный запрос: Invalid refresh token" in err
    assert seed not in err and fake.client_secret not in err
    with engine.connect() as conn:
        last = conn.execute(select(SyncRun.status, SyncRun.error).order_by(SyncRun.id.desc())).first()
        accounts = conn.execute(select(Account.account_id)).scalars().all()
    assert last.status == "failed" and "refresh token" in last.error
    assert accounts == ["301"]  # what the earlier syncs wrote stays


def test_two_processes_share_the_rotating_token_through_the_store(engine, fake):
    """One process refreshes; the other, holding the spent refresh token, takes up the new one the store keeps."""
    env = {"AMOCRM_ACCESS_TOKEN": "", "AMOCRM_CLIENT_ID": fake.client_id, "AMOCRM_CLIENT_SECRET": fake.client_secret,
           "AMOCRM_REFRESH_TOKEN": fake.issue_refresh_token(), "AMOCRM_REDIRECT_URI": fake.redirect_uri}  # fmt: skip
    settings = settings_for(fake, **env)
    fake.add("companies", 301, name="Acme Corp")
    time = VirtualTime()
    assert sync(engine, settings, connector(settings, time, fake), now=fake.now).completed
    first, second = connector(settings, time, fake), connector(settings, time, fake)
    first.bind(engine)
    second.bind(engine)  # both hold the same kept pair
    companies = next(m for m in first.mapping.objects if m.object == "companies")
    fake.expire_tokens()
    assert [r["id"] for r in first.read(companies, None)] == [
        "301"
    ]  # refreshed: the kept refresh token is spent
    assert [r["id"] for r in second.read(companies, None)] == ["301"]  # refused, then the newer kept one
    first.close()
    second.close()
    assert [c.status for c in fake.calls_to("/oauth2/access_token")] == [200, 200, 400, 200]


def test_a_refused_long_lived_token_or_a_blocked_account_is_one_clear_line(engine, fake):
    settings = settings_for(fake, AMOCRM_ACCESS_TOKEN="not-the-token-at-all-0001")
    failed = sync(engine, settings, connector(settings, VirtualTime(), fake), now=fake.now)
    assert failed.error == "amoCRM refused AMOCRM_ACCESS_TOKEN (401 Unauthorized); make a new one"
    assert [o.object for o in failed.objects] == ["users"]
    fake.blocked = True
    settings = settings_for(fake)
    blocked = sync(engine, settings, connector(settings, VirtualTime(), fake), now=fake.now)
    assert blocked.error == (
        "amoCRM refused /api/v4/users (403 Forbidden: Account is blocked): the account may be blocked for "
        "exceeding the request limit, or the integration's user lacks the rights"
    )


def test_missing_credentials_are_refused_before_any_call(fake, db_url, capsys, monkeypatch):
    monkeypatch.setenv("AMOCRM_URL", fake.base_url)
    for name in ("AMOCRM_ACCESS_TOKEN", "AMOCRM_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--db", db_url, "sync", "amocrm"]) == 2
    assert "amoCRM needs AMOCRM_ACCESS_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("AMOCRM_REFRESH_TOKEN", "fake-refresh-without-its-client")
    assert main(["--db", db_url, "sync", "amocrm"]) == 2
    assert capsys.readouterr().err.strip() == (
        "kpibot: amocrm: amoCRM OAuth with AMOCRM_REFRESH_TOKEN also needs AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET, "
        "AMOCRM_REDIRECT_URI"
    )
    assert fake.calls == []
    with pytest.raises(
        ValueError, match=r"crm\.amocrm\.lead_stages\.Переговоры: 'hot' is not a funnel stage"
    ):
        load_settings(env={}, crm={"amocrm": {"lead_stages": {"Переговоры": "hot"}}})
    with pytest.raises(ValueError, match="requests_per_second must be above 0 and at most 7"):
        load_settings(env={}, crm={"amocrm": {"requests_per_second": 10}})


def test_the_cli_syncs_and_the_leads_export_csv_imports(engine, db_url, fake, tmp_path, capsys, monkeypatch):
    build_org(fake)
    monkeypatch.setenv("AMOCRM_URL", fake.base_url)
    monkeypatch.setenv("AMOCRM_ACCESS_TOKEN", "fake-long-lived-token-0001")
    config = tmp_path / "kpibot.yaml"
    config.write_text(
        "crm:\n  admins: [ann@example.com]\n  amocrm:\n    requests_per_second: 7\n", encoding="utf-8"
    )
    time = VirtualTime()
    fake.clock = time.clock
    monkeypatch.setitem(  # the CLI's own connector, its pacing on the virtual clock
        CONNECTORS, "amocrm", lambda s: AmocrmConnector.from_settings(s, sleep=time.sleep, clock=time.clock)
    )
    assert (
        main(["--config", str(config), "--db", db_url, "sync", "kommo"]) == 0
    )  # Kommo is amoCRM's other name
    assert "amocrm: read" in capsys.readouterr().out
    settings = settings_for(fake)
    users = {"1002": "Rob Rep", "1003": "Рита Реп"}
    with engine.connect() as conn:
        assert {u for (u,) in conn.execute(select(User.user_id))} >= set(users)
    empty = [
        t for t in ("activities", "deal_stage_events", "lead_stage_events", "deals", "leads", "accounts")
    ]

    with engine.begin() as conn:
        for table in empty:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM lead_journeys"))
    export = tmp_path / "amocrm_export_leads_2026-11-30.csv"
    header = ["ID", "Название сделки", "Бюджет", "Ответственный", "Этап сделки", "Воронка", "Дата создания",
              "Дата закрытия", "Компания"]  # fmt: skip
    rows = [
        ["201", "Сделка #201", "1 000", "Rob Rep", "Успешно реализовано", "Продажи", "02.11.2026 09:00:00",
         "09.11.2026 09:00:00", "Acme Corp"],
        ["202", "Сделка #202", "500", "Rob Rep", "Переговоры", "Продажи", "02.11.2026 09:00:00", "", ""],
        ["203", "Сделка #203", "0", "Рита Реп", "Неразобранное", "Продажи", "03.11.2026 09:00:00", "", ""],
        ["204", "Сделка #204", "300", "Рита Реп", "Закрыто и не реализовано", "Продажи", "03.11.2026 09:00:00",
         "04.11.2026 09:00:00", ""],
        ["205", "Сделка #205", "700", "Рита Реп", "Согласование договора", "Продажи", "05.11.2026 09:00:00", "", ""],
    ]  # fmt: skip
    with export.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "amocrm", str(export)]) == 0, (
        capsys.readouterr()
    )
    # One look at the account: each lead at its stage now; L205 open at opportunity (the export shows no history).
    assert funnel_of(engine, settings) == (5, 3, 2, 2, 1)
    with engine.connect() as conn:
        deals = {d.deal_id: (d.status, d.amount, d.owner_id) for d in conn.execute(select(Deal)).all()}
    assert deals == {"201": ("won", Decimal("1000"), "1002"), "205": ("open", Decimal("700"), "1003")}

    # A responsible user kpibot does not know, and a garbled date: named by file, line and id; with --skip-invalid
    # the rest lands.
    rows[1][3] = "Нет Такого"
    rows[2][6] = "33.11.2026 09:00"
    with export.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)
    records_gone_users_kept(engine)
    assert main(["--db", db_url, "import", "--from", "amocrm", str(export), "--skip-invalid"]) == 0
    err = capsys.readouterr().err
    assert f"{export}:4 203: " in err
    assert "Дата создания='33.11.2026 09:00': not a date (expected DD.MM.YYYY HH:MM:SS)" in err
    assert f"{export}:3 202: owner_id='Нет Такого': unknown id: no such row in users" in err
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Lead.lead_id)).scalars()) == ["201", "204", "205"]


EXPORT_HEAD = ["ID", "Название сделки", "Бюджет", "Ответственный", "Этап сделки", "Воронка", "Дата создания"]


def write_leads(path, *rows: list[str]) -> None:
    """An amoCRM leads export as the account writes it (`;`, UTF-8 with a byte order mark)."""
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(EXPORT_HEAD)
        writer.writerows(rows)


def lead(lead_id: str, responsible: str) -> list[str]:
    return [lead_id, f"Сделка #{lead_id}", "500", responsible, "Переговоры", "Продажи", "02.11.2026 09:00:00"]


def account_users(engine) -> None:
    """Rob and Rita as a sync stores them, and two users who share the name Anna Lee."""
    with engine.begin() as conn:
        conn.execute(insert(User), [
            dict(user_id=str(ROB), name="Rob Rep", email="rob@example.com", role="rep"),
            dict(user_id=str(RITA), name="Рита Реп", email="rita@example.com", role="rep"),
            dict(user_id="1005", name="Anna Lee", email="anna@example.com", role="rep"),
            dict(user_id="1006", name="Anna Lee", email="anna.lee@example.com", role="rep"),
        ])  # fmt: skip


def test_a_folder_of_one_export_names_a_bad_row_by_its_file_and_line(engine, db_url, tmp_path, capsys):
    account_users(engine)
    export = tmp_path / "exports"
    export.mkdir()
    write_leads(export / "leads.csv", lead("201", "Rob Rep"), lead("202", "Нет Такого"))
    assert main(["--db", db_url, "import", "--from", "amocrm", str(export)]) == 1
    err = capsys.readouterr().err
    assert f"{export / 'leads.csv'}:3 202: owner_id='Нет Такого': unknown id: no such row in users" in err
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []


def test_a_bad_row_after_a_file_of_no_rows_is_named_in_its_own_file(engine, db_url, tmp_path, capsys):
    account_users(engine)
    export = tmp_path / "exports"
    export.mkdir()
    write_leads(export / "a.csv")  # the header alone
    write_leads(export / "b.csv", lead("202", "Нет Такого"), lead("203", "Рита Реп"))
    assert main(["--db", db_url, "import", "--from", "amocrm", str(export), "--skip-invalid"]) == 0
    err = capsys.readouterr().err
    assert f"{export / 'b.csv'}:2 202: owner_id='Нет Такого'" in err and str(export / "a.csv") not in err
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).scalars().all() == ["203"]


def test_a_responsible_two_users_share_the_name_of_is_named_with_both_and_nothing_is_written(
    engine, db_url, tmp_path, capsys
):
    account_users(engine)
    export = tmp_path / "leads.csv"
    write_leads(export, lead("201", "Rob Rep"), lead("202", "Anna Lee"))
    assert main(["--db", db_url, "import", "--from", "amocrm", str(export)]) == 1
    err = capsys.readouterr().err
    assert f"{export}:3 202: " in err
    assert "Ответственный='Anna Lee' is the name of 1005 and 1006; give the owner's email or id" in err
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []
