"""Whatever anyone types, the conversation answers: generated messages — random unicode, digits of every script,
long input, injection strings, and every command of the registry with every kind of period, scope, comparison,
breakdown and filter — sent as a rep, a manager and an admin of the fixture org (tests/fixtures/bot_org.py), on
SQLite and PostgreSQL.

Each answer must be a reply, never an exception nor an incident; it must come within hypothesis's deadline; it
must encode for every platform; and it must hold nothing outside the asker's rights: Rob (rep-2, Alpha) never sees
another rep's name, Mia (manager of Alpha) never a rep outside Alpha — unless the message typed that name itself,
which a reply may repeat ("I don't understand 'Rae Rep'").

The examples share one seeded org per backend: the few commands that write (`/lang`, `/subscribe`, `/alerts`) only
change what any later message may also change, which is what a real chat does too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alerts.chat  # noqa: F401  (registers /alerts, /digest, /subscribe …, as the running bot does)
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from bot.telegram.render import render_reply
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from tests.fixtures.bot_org import NOW, seed_org

NAMES = {"admin": "Ada Admin", "mgr-a": "Mia Manager", "mgr-b": "Max Manager", "rep-1": "Rita Rep",
         "rep-2": "Rob Rep", "rep-3": "Rae Rep"}  # fmt: skip
# Whose names each asker must never be shown (the fixture's reps outside their rights).
FORBIDDEN = {"rep-2": ("Rita Rep", "Rae Rep"), "mgr-a": ("Rae Rep",), "admin": ()}
ASKERS = tuple(FORBIDDEN)

RULES = [
    AlertRule(id="rep-calls", name="My calls yesterday", metric="activity", measure="calls", condition="below",
              threshold=3, period="yesterday", every="15m", scope="each rep"),
    AlertRule(id="team-mql", name="MQL rate", metric="funnel", measure="mql_rate", condition="below",
              threshold=50, period="this month", every="1h"),
]  # fmt: skip
# No rate limit: the property is about the answers, and every example arrives in the same minute.
SETTINGS = Settings(alerts=RULES, chat={"rate_limit_per_minute": 0})

PERIODS = ["", "today", "yesterday", "this week", "last week", "this month", "last month", "this quarter",
           "last quarter", "this year", "last year", "ytd", "last 7 days", "last 30 days", "last 90 days", "2026-10",
           "2026-Q3", "Q3", "2026", "2026-10-01..2026-10-15", "сегодня", "прошлый месяц", "эта неделя",
           "последние 30 дней", "2016-12-01..2026-11-30", "1900-01-01..2100-12-31", "last 3660 days",
           "2026-10-15..2026-10-01", "2026-13", "Q5", "last blorp", "october 2025", "30d"]  # fmt: skip
SCOPES = ["", "me", "team", "team Alpha", "team Bravo", 'team "No Such Team"', "org", "@rep-1", "@rep-2", "@rep-3",
          '"Rita Rep"', "Rae Rep", "rep-3", "@mgr-b", "@admin", "@chloe.allen@demo.example",
          "@rep-3@fixture.example", "@rep-1@fixture.example", "я", "команда"]  # fmt: skip
COMPARISONS = ["", "vs prev", "vs year", "yoy", "vs last year", "к прошлому", "vs blorp"]
BREAKDOWNS = ["", "by rep", "by team", "by source", "by segment", "by product", "by campaign", "by month",
              "by week", "by colour", "по менеджерам"]  # fmt: skip
EXTRAS = ["", "source=paid_search", "segment=smb", "cohort", "flow", "calls", "revenue", "win_rate",
          "team_digest", "rep_daily", "ru", "en", "snooze rep-calls rep:rep-1 4h", "ack rep-calls rep:rep-3",
          "mute team-mql", "list", "dead"]  # fmt: skip
INJECTIONS = ["'; DROP TABLE users; --", "<b>bold</b>", "*x*", "_it_", "~st~", "{0}", "{name}", "%s", "%(x)s",
              "\\", '"', "'", "«", "`rm -rf`", "${HOME}", "<script>alert(1)</script>", "&amp;", "../../etc/passwd",
              "@", "=", "source=", "=1+1", "\u202e", "\u200b", "🙂", "\U0001f469\u200d\U0001f4bb", "\ufffd",
              "\x00", "\ud800", "\x1b[2J"]  # fmt: skip


def _command_names() -> list[str]:
    return sorted(build_registry().names)


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, SETTINGS, build_registry())


def _everything_shown(reply: Reply) -> str:
    """Every text a platform would show: lines, title, footer, table, buttons and chart captions."""
    parts = [reply.plain_text]
    if reply.table is not None:
        parts += [reply.table.title or "", *reply.table.columns]
        parts += [str(cell) for row in reply.table.rows for cell in row]
    parts += [f"{action.label} {action.command}" for action in reply.actions]
    parts += [f"{chart.caption} {chart.alt_text}" for chart in reply.charts]
    return "\n".join(parts)


def check(conversation: Conversation, user: str, text: str) -> Reply:
    """Send `text` as `user` and assert the properties of the module docstring."""
    reply = conversation.handle(Request("console", text, NOW, user))
    assert isinstance(reply, Reply)
    assert reply.kind != "failure" and reply.incident_id is None, (user, text, reply.plain_text)
    shown = _everything_shown(reply)
    for name in FORBIDDEN[user]:
        assert name not in shown or name.lower() in text.lower(), (user, text, name, shown)
    for message in render_reply(reply).texts:
        message.encode("utf-8")
    shown.encode("utf-8")
    return reply


ANSWER_IN_TIME = settings(
    deadline=timedelta(seconds=8),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def registry_messages(draw) -> str:
    """A command of the registry (any name or alias) with words of every kind, in any order."""
    words = [draw(st.sampled_from(kind)) for kind in (PERIODS, SCOPES, COMPARISONS, BREAKDOWNS, EXTRAS)]
    words = draw(st.permutations(words))
    return " ".join(["/" + draw(st.sampled_from(_command_names())), *[w for w in words if w]])


@settings(ANSWER_IN_TIME, max_examples=60)
@given(user=st.sampled_from(ASKERS), text=registry_messages())
def test_every_command_with_every_kind_of_word(conversation, user, text):
    check(conversation, user, text)


@settings(ANSWER_IN_TIME, max_examples=30)
@given(
    user=st.sampled_from(ASKERS),
    command=st.sampled_from(["funnel", "activity", "stages", "plan", "alerts", "leaderboard", "lang"]),
    noise=st.text(max_size=60),
)
def test_random_unicode_after_a_command(conversation, user, command, noise):
    check(conversation, user, f"/{command} {noise}")
    check(conversation, user, noise)


DIGITS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)
DIGIT_TEMPLATES = ["/funnel {d}", "/funnel last {d} days", "/stages {d} E", "/activity {d}-Q{d}", "/plan {d}",
                   "/funnel {d}-{d}-{d}..{d}-{d}-{d}", "/winrate q{d} {d}", "/activity {d}d", "/funnel {d} квартал",
                   "/alerts snooze rep-calls rep:rep-1 {d}h", "/subscribe rep_daily {d}:{d}"]  # fmt: skip


@settings(ANSWER_IN_TIME, max_examples=30)
@given(user=st.sampled_from(ASKERS), template=st.sampled_from(DIGIT_TEMPLATES), digits=DIGITS)
def test_digits_of_every_script(conversation, user, template, digits):
    check(conversation, user, template.format(d=digits))


@settings(ANSWER_IN_TIME, max_examples=10)
@given(
    user=st.sampled_from(ASKERS),
    word=st.sampled_from(["last month ", "Rita ", "a", "\u0301", "🙂", '"', "by rep ", "@rep-3 "]),
    repeat=st.integers(200, 5000),
)
def test_long_input(conversation, user, word, repeat):
    check(conversation, user, "/funnel " + word * repeat)


@settings(ANSWER_IN_TIME, max_examples=40)
@given(
    user=st.sampled_from(ASKERS),
    command=st.sampled_from(["funnel", "activity", "plan", "leaderboard", "alerts ack", "help", "lang", "digest"]),
    slot=st.sampled_from(["{x}", "@{x}", "team {x}", "source={x}", 'source="{x}"', "by {x}", "{x} last month",
                          "last {x}", "rep-1{x}", "vs {x}"]),
    injection=st.sampled_from(INJECTIONS),
)  # fmt: skip
def test_injection_strings_in_every_slot(conversation, user, command, slot, injection):
    check(conversation, user, f"/{command} {slot.format(x=injection)}")
