"""Every user-facing string is in both message catalogues: the two catalogues have the same keys, every key the
code names exists in both, and a Russian user walking through every command over a fixture org reads no English
phrase from the English catalogue or the metric declarations."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import insert

from alerts.chat import ALERT_ACTIONS
from bot.commands.builtin import LEADERBOARD_MEASURES
from bot.conversation import Conversation
from bot.registry import Registry
from bot.reply.messages import Reply, Request
from metrics.catalogue import catalogue
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import Account, Activity, Mrr, Order, Plan
from tests.fixtures import customers
from tests.fixtures.conversion import seed_conversion

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "bot" / "reply" / "locales"
CODE = [ROOT / package for package in ("bot", "alerts", "metrics")]
# What only an operator reads, in the terminal, in English: the command line's own modules (storage/ is all
# import, demo and CRM sync, run from the command line) and the invites `kpibot invite` creates.
OPERATOR_ONLY = ("cli.py", "invite_cli.py")
OPERATOR_KEYS = {"invite.days", "invite.no_user", "invite.inactive"}


def _messages(locale: str) -> dict[str, str]:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po) if m.id}


EN, RU = _messages("en"), _messages("ru")
# A metric's definition in English is its declaration's description (shown by /help); the catalogues hold the
# translations only.
DEFINITIONS = {f"definition.{metric.name}" for metric in catalogue()}


def test_the_catalogues_have_the_same_keys_and_no_empty_text():
    assert set(EN) - set(RU) == set(), "in English only"
    assert set(RU) - set(EN) - DEFINITIONS == set(), "in Russian only"
    assert set(RU) >= DEFINITIONS, "a metric without its Russian definition"
    assert [key for key, text in {**EN, **RU}.items() if not text.strip()] == []


def test_a_message_has_the_same_parameters_in_both_languages():
    def params(text: str) -> set[str]:
        return set(re.findall(r"{(\w+)}", text))

    assert {key for key in EN if params(EN[key]) != params(RU[key])} == set()


def _keys_named_in_code() -> set[str]:
    """Keys written literally: t("…"), UserError("…"), PermissionDenied("…"), Note("…") and "measure.…"."""
    found: set[str] = set()
    for folder in CODE:
        for path in folder.rglob("*.py"):
            if path.name in OPERATOR_ONLY:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if (
                    name == "t"
                    and re.fullmatch(r"[a-z_]+(\.[\w-]+)+|[a-z_]+", first.value)
                    or name in ("UserError", "PermissionDenied")
                ):
                    found.add(first.value)
                elif name == "Note":
                    found.add(f"note.{first.value}")
    return found - OPERATOR_KEYS


def test_every_key_the_code_names_is_in_both_catalogues():
    keys = _keys_named_in_code()
    assert len(keys) > 150  # the walk found the calls
    assert sorted(keys - set(EN)) == [], "missing in English"
    assert sorted(keys - set(RU)) == [], "missing in Russian"


# --- a Russian user asks everything --------------------------------------------------------------------------

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def conversation(engine) -> Conversation:
    """The conversion fixture (leads, deals, spend, campaigns, products) with the customer base (accounts,
    orders, MRR), a plan and a few activities: every command has numbers to show."""
    seed_conversion(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            [dict(account_id=a, name=a.upper(), owner_id=o, segment=s, created_at=datetime(2026, 1, 1))
             for a, o, s in customers.ACCOUNTS],
        )  # fmt: skip
        conn.execute(
            insert(Order),
            [dict(order_id=f"o-{i}", account_id=a, ordered_at=at, amount=Decimal(amount))
             for i, (a, at, amount) in enumerate(customers.ORDERS, 1)],
        )  # fmt: skip
        conn.execute(insert(Mrr), [dict(account_id=a, month=m, mrr=Decimal(v)) for a, m, v in customers.MRR])
        conn.execute(
            insert(Plan),
            [dict(period="2026-12", scope="user", scope_id="rep-1", metric=metric, target=Decimal(target))
             for metric, target in (("revenue", "10000"), ("calls", "40"), ("new_leads", "10"))],
        )  # fmt: skip
        at = datetime(2026, 12, 9, 12)
        conn.execute(
            insert(Activity),
            [dict(activity_id=f"a-{n}", owner_id="rep-1", type=kind, created_at=at, due_at=at, completed_at=at,
                  status="done") for n, kind in enumerate(("call", "call", "meeting", "email"))],
        )  # fmt: skip
    registry = Registry(tuple(replace(command, chart=False) for command in build_registry()))
    return Conversation(engine, load_settings(env={}), registry, rate_limited=False)


def _text(reply: Reply) -> str:
    """What the reader reads, without the suggested commands (tests/bot/questions/test_follow_ups.py checks those)."""
    parts = [
        reply.title or "",
        *("".join(span.text for span in line) for line in reply.lines),
        reply.footer or "",
    ]
    if reply.table is not None:
        parts += [reply.table.title or "", *reply.table.columns, *(str(cell) for row in reply.table.rows
                                                                  for cell in row)]  # fmt: skip
    parts += [action.label for action in reply.actions]
    return "\n".join(parts)


def _english_words() -> set[str]:
    """Lower-case English words of four letters or more from the English catalogue and the metric declarations
    — minus the words a Russian user may type too (command names and aliases, the words commands take — a
    leaderboard's measure, an alert's action — and the grammar's English words)."""
    texts = [*EN.values()]
    for metric in catalogue():
        texts += [metric.title, metric.description]
    words = {w for text in texts for w in re.findall(r"\b[a-z]{4,}\b", re.sub(r"{\w+}", " ", text))}
    typed: set[str] = set()
    for command in build_registry():
        typed |= set(command.names) | set(command.option_words[1] if command.option_words else ())
    typed |= set(LEADERBOARD_MEASURES) | set(ALERT_ACTIONS)
    typed |= {"last", "month", "week", "year", "quarter", "team", "source", "segment", "product", "campaign",
              "cohort", "flow", "prev", "days"}  # fmt: skip
    return words - typed


# The data's own words: people, teams, products, campaigns, sources and segments of the fixture, the digests'
# names, the alert rules' ids, and user ids. (The built-in rules' names are kpibot's words: translated.)
RULES = "|".join(re.escape(rule.id) for rule in load_settings(env={}).alerts)
DATA = re.compile(
    rf"(?:{RULES}|id \w+|"
    r"Ada Admin|Mia Manager|Max Manager|Rita Rep|Rob Rep|Rae Rep|Alpha|Bravo|Professional plan|Starter plan|"
    r"Spring Promo|Autumn Webinars|paid_search|organic_search|referral|email|saas|retail|smb|ent|"
    r"rep_daily|team_digest|weekly_plan|[\w-]+@[\w.]+|/\w+)"
)
QUESTIONS = [
    *(f"/{command.name}" for command in build_registry() if command.name not in ("start",)),
    *(f"/{metric} last month" for metric in ("funnel", "winrate", "sql", "cycle", "stages", "revenue", "cac",
                                             "ltv", "roi", "email", "activity", "cs")),  # fmt: skip
    "/funnel last month by source vs prev", "/retention 2026-10", "/mrr 2026-Q4", "/ltv org last month",
    "/sql by campaign last month", "/cs 2026-10", "/plan calls", "/leaderboard win_rate last month",
    "/help funnel", "/help ltv", "/help plan", "/digest", "/alerts", "/subscribe", "/whoami",
    # Plain questions, typos and messages the bot cannot read, each answered with words of its own around them.
    "сколько звонков вчера", "какая выручка в этом квартале по менеджерам?", "сколько сделок мы выиграли?",
    "как у меня дела?", "кто больше всего звонил в прошлом месяце?", "/воронкаа", "/funel", "/winrat last month",
    "/лан", "/lamg en", "/подпска rep_daily", "/alerst snooze mql-rate 4h", "как погода?", "/nonsense",
    "what is the weather like?", "отключи алерты",
]  # fmt: skip


def _leaks(line: str, english: set[str]) -> list[str]:
    """The English words of a reply's line, past the data's own words and each /command token."""
    return sorted(set(re.findall(r"\b[a-z]{4,}\b", DATA.sub(" ", line))) & english)


def test_the_check_passes_over_a_command_but_reads_the_words_after_it():
    english = _english_words()
    assert _leaks("Или /winrate", english) == []
    assert _leaks("Понял как /winrate · change any word and send it to ask otherwise", english) == [
        "change", "otherwise", "send", "word"
    ]  # fmt: skip
    assert _leaks("Попробуйте: /alerts snooze mql-rate 4h", english) == []  # words a Russian user types too


@pytest.mark.parametrize("user", ["admin", "mgr-a", "rep-1"])
def test_a_russian_user_reads_no_english_in_any_reply(conversation, user):
    english = _english_words()
    leaks = {}
    for question in QUESTIONS:
        reply = conversation.handle(Request("console", question, NOW, user, locale="ru"))
        assert reply.kind != "failure", (question, reply.plain_text)
        for line in _text(reply).splitlines():
            found = _leaks(line, english)
            if found:
                leaks.setdefault(question, []).append(f"{line}  {found}")
    assert leaks == {}
