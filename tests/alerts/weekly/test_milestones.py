"""Plan milestones through December 2026: a team channel hears "Enterprise passed 50% / 90% / 100% of the
December 2026 plan for revenue" once per level, however often the pass runs; several levels passed at once are
announced by the highest only. Plans: Enterprise 20,000, SMB 10,000 of revenue (tests/fixtures/weekly_org.py);
the December deals are added here, between the passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from alerts.delivery.payload import payload_to_reply
from alerts.rules.milestones import passed_level, run_milestones
from bot.conversation import Conversation
from bot.reply.messages import Request
from run_bot import build_registry, main
from storage.config.milestones import MilestoneRule
from storage.config.settings import Settings
from storage.schema import Deal, OutboxMessage
from tests.fixtures.weekly_org import seed_weekly_org, won_deal

CHANNEL = MilestoneRule(id="revenue", teams=("t-ent",), target="telegram:-100500", locale="en")
MANAGERS = MilestoneRule(id="smb-revenue", teams=("t-smb",), target="managers")
SETTINGS = Settings(milestones=[CHANNEL, MANAGERS])


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def key(rule: str, team: str, level: int, recipient: str) -> str:
    return f"milestone:{rule}:{team}:2026-12:{level}:{recipient}"


def queued(engine) -> list[tuple[str, str, str]]:
    """(key, platform, chat, title) of every milestone message, in the order queued."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.platform, OutboxMessage.chat_id,
                   OutboxMessage.payload).where(OutboxMessage.kind == "milestone").order_by(OutboxMessage.id)
        ).all()  # fmt: skip
    return [(k, p, c, payload_to_reply(payload).title.replace("\xa0", " ")) for k, p, c, payload in rows]


def test_each_milestone_once_through_the_month(engine):
    seed_weekly_org(engine)
    # Dec 2: no December deal yet, 0 %.
    assert run_milestones(engine, SETTINGS, at(2)).queued == []
    # Dec 4: Liam wins 11,000: 11,000 / 20,000 = 55 %, past 50 %.
    won_deal(engine, "dec-1", "rep-liam", at(4, 10), 11000)
    first = run_milestones(engine, SETTINGS, at(4))
    assert first.queued == [key("revenue", "t-ent", 50, "telegram:-100500")]
    # Passes later that day and the next change nothing.
    for moment in (at(4, 13), at(4, 18), at(5, 9)):
        assert run_milestones(engine, SETTINGS, moment).queued == []
    # Dec 8: Nora wins 8,000: 19,000 = 95 %, past 90 %.
    won_deal(engine, "dec-2", "rep-nora", at(8, 10), 8000)
    assert run_milestones(engine, SETTINGS, at(8)).queued == [key("revenue", "t-ent", 90, "telegram:-100500")]
    # Dec 10: the 8,000 deal is reopened as lost: 11,000 = 55 %. The 50 % was told already: nothing.
    with engine.begin() as conn:
        conn.execute(update(Deal).where(Deal.deal_id == "dec-2").values(status="lost"))
    assert run_milestones(engine, SETTINGS, at(10)).queued == []
    # Dec 14: 10,000 more: 21,000 = 105 %, past 100 %.
    won_deal(engine, "dec-3", "rep-liam", at(14, 10), 10000)
    assert run_milestones(engine, SETTINGS, at(14)).queued == [
        key("revenue", "t-ent", 100, "telegram:-100500")
    ]
    assert run_milestones(engine, SETTINGS, at(15)).queued == []

    messages = queued(engine)
    assert [(platform, chat) for _, platform, chat, _ in messages] == [("telegram", "-100500")] * 3
    assert [title for *_, title in messages] == [
        "🎯 Enterprise passed 50% of the December 2026 plan for revenue",
        "🎯 Enterprise passed 90% of the December 2026 plan for revenue",
        "🎯 Enterprise passed 100% of the December 2026 plan for revenue",
    ]
    with engine.connect() as conn:
        payload = conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.idempotency_key == messages[0][0])
        ).scalar_one()
    reply = payload_to_reply(payload)
    assert ["".join(s.text for s in line) for line in reply.lines] == ["$11,000 of $20,000 (55.0%)"]
    assert [(a.label, a.command) for a in reply.actions] == [
        ("Open the plan", "/plan revenue 2026-12 team Enterprise")
    ]


def test_several_levels_at_once_announce_the_highest_only(engine):
    seed_weekly_org(engine)
    # Dec 4: Oleg wins 9,500 of SMB's 10,000: 95 % at once, past 50 % and 90 %. Only 90 % is told, to SMB's
    # manager Sasha Lead (console, in Russian); the 50 % is never told afterwards.
    won_deal(engine, "smb-1", "rep-oleg", at(4, 10), 9500)
    assert run_milestones(engine, SETTINGS, at(4), platforms=("console",)).queued == [
        key("smb-revenue", "t-smb", 90, "mgr-s")
    ]
    assert run_milestones(engine, SETTINGS, at(5), platforms=("console",)).queued == []
    won_deal(engine, "smb-2", "rep-pia", at(9, 10), 1000)  # 10,500 = 105 %
    assert run_milestones(engine, SETTINGS, at(9), platforms=("console",)).queued == [
        key("smb-revenue", "t-smb", 100, "mgr-s")
    ]
    titles = [title for *_, title in queued(engine)]
    assert titles == [
        "🎯 Команда SMB выполнила план по выручке за декабрь 2026 на 90 %",
        "🎯 Команда SMB выполнила план по выручке за декабрь 2026 на 100 %",
    ]


def test_the_highest_level_reached():
    levels = (50.0, 90.0, 100.0)
    assert passed_level(levels, 0.49) is None
    assert passed_level(levels, 0.5) == 50.0
    assert passed_level(levels, 0.95) == 90.0
    assert passed_level(levels, 1.3) == 100.0
    assert passed_level(levels, None) is None


def test_an_operator_runs_a_milestone_pass(engine, db_url, tmp_path, capsys, monkeypatch):
    seed_weekly_org(engine)
    won_deal(engine, "dec-1", "rep-liam", at(4, 10), 11000)  # Enterprise at 55 %
    config = tmp_path / "kpibot.yaml"
    config.write_text("milestones:\n  - id: revenue\n    teams: [t-ent]\n    target: console:enterprise\n")
    for name in ("TELEGRAM_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    run = ["--db", db_url, "--config", str(config), "milestones", "run", "--now", "2026-12-04T12:00:00+00:00"]
    assert main([*run, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "milestone:revenue:t-ent:2026-12:50:console:enterprise" in out
    assert "milestones due 1: queued 0, already told 0" in out
    sent = tmp_path / "sent.jsonl"
    assert main([*run, "--console-file", str(sent)]) == 0
    assert "queued 1" in capsys.readouterr().out
    (message,) = [json.loads(line) for line in sent.read_text().splitlines()]
    assert message["chat_id"] == "enterprise"
    assert "Enterprise passed 50% of the December 2026 plan for revenue" in message["text"].replace(
        "\xa0", " "
    )
    assert main([*run, "--console-file", str(sent)]) == 0
    assert "milestones due 0: queued 0, already told 1" in capsys.readouterr().out
    assert len(sent.read_text().splitlines()) == 1


def test_a_direct_message_only_to_someone_who_may_see_the_team(engine):
    seed_weekly_org(engine)
    won_deal(engine, "dec-1", "rep-liam", at(4, 10), 11000)  # Enterprise at 55 %
    to_erin = MilestoneRule(id="to-erin", teams=("t-ent",), target="dm:mgr-e")
    to_sasha = MilestoneRule(
        id="to-sasha", teams=("t-ent",), target="dm:mgr-s"
    )  # manages SMB, not Enterprise
    result = run_milestones(engine, Settings(milestones=[to_erin, to_sasha]), at(4), platforms=("console",))
    assert result.queued == [key("to-erin", "t-ent", 50, "mgr-e")]


def test_the_button_opens_the_teams_plan(engine):
    seed_weekly_org(engine)
    won_deal(engine, "dec-1", "rep-liam", at(4, 10), 11000)
    run_milestones(engine, SETTINGS, at(4))
    with engine.connect() as conn:
        payload = conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "milestone")
        ).scalar_one()
    (action,) = payload_to_reply(payload).actions
    reply = Conversation(engine, SETTINGS, build_registry()).handle(
        Request("console", action.command, at(4), "mgr-e", locale="en")
    )
    assert reply.kind == "answer", reply.plain_text
    assert "55.0%" in reply.plain_text.replace("\xa0", " ")  # 11,000 of 20,000
