"""The words after a command, in any order, in English and Russian (no store needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.grammar import parse_arguments, split_words
from bot.registry import Registry
from bot.reply.arguments import to_words
from bot.reply.command import Command
from metrics.scope import Scope
from run_bot import build_registry
from storage.errors import UserError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday
TZ = ZoneInfo("Europe/Moscow")


def parse(text: str):
    return parse_arguments(split_words(text), now=NOW, tz=TZ)


def test_a_manager_asks_by_rep_last_month_vs_prev_in_any_order():
    first = parse("by rep last month vs prev source=paid_search")
    second = parse("source=paid_search vs prev last month by rep")
    assert first == second
    assert first.period is not None and first.period.key == "2026-10"
    assert first.compare == "prev"
    assert first.by == "rep"
    assert first.filters == (("source", "paid_search"),)
    assert first.scope is None and first.rest == ()


def test_the_same_question_in_russian():
    args = parse("прошлый месяц по менеджерам к прошлому источник=paid_search")
    assert args.period is not None and args.period.key == "2026-10"
    assert (args.compare, args.by, args.filters) == ("prev", "rep", (("source", "paid_search"),))


def test_russian_year_comparison_is_not_read_as_last_year():
    args = parse("этот квартал к прошлому году")
    assert args.period is not None and args.period.key == "2026-Q4"
    assert args.compare == "year"
    assert parse("год к году").compare == "year"
    assert parse("vs last year").compare == "year"
    assert parse("Q3 vs year").compare == "year"


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("me", Scope("me")),
        ("org", Scope("org")),
        ("team", Scope("team")),
        ("team Alpha last month", Scope("team", "Alpha")),
        ("team last month", Scope("team")),
        ('team "Big Deals" by rep', Scope("team", "Big Deals")),
        ("@rep-001", Scope("rep", "rep-001")),
        ("команда", Scope("team")),
        ("я", Scope("me")),
    ],
)
def test_scope_words(text, scope):
    assert parse(text).scope == scope


def test_words_the_grammar_cannot_place_are_left_for_the_conversation():
    # `rep-001` or `Anna Petrova` may be a person: only the store knows.
    assert parse('"Anna Petrova" last week').rest == ("Anna Petrova",)
    assert parse("rep-001 yesterday").rest == ("rep-001",)
    assert parse("cohort").mode == "cohort" and parse("поток").mode == "flow"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("last blorp", "period.unknown", "I don't understand the period 'blorp'"),
        ("by colour", "breakdown.unknown", "I can't break down by 'colour'; try: rep, team, source"),
        ("colour=red", "filter.unknown", "I don't know the filter 'colour'; try: source, segment"),
        ("vs banana", "compare.unknown", "Compare with what? Try 'vs prev' or 'vs year'."),
        ('"Anna Petrova', "args.quote", "A quote is not closed."),
    ],
)
def test_mistakes_raise_one_user_error_with_a_reason(text, key, message):
    with pytest.raises(UserError) as caught:
        parse(text)
    assert caught.value.key == key
    assert str(caught.value).startswith(message)


def test_arguments_are_written_back_for_follow_up_buttons():
    args = parse("by rep last week team Alpha vs prev segment=saas")
    words = to_words(args)
    # Filters before the scope: `team segment=saas` would read the filter as a team's name.
    assert words == ["2026-11-09..2026-11-15", "vs", "prev", "segment=saas", "team", "Alpha", "by", "rep"]
    assert parse(" ".join(words)) == args.__class__(
        period=parse("2026-11-09..2026-11-15").period,
        compare="prev",
        scope=Scope("team", "Alpha"),
        filters=(("segment", "saas"),),
        by="rep",
    )


def test_every_command_is_declared_once_with_its_usage():
    registry = build_registry()
    names = [c.name for c in registry]
    for expected in (
        "funnel",
        "activity",
        "plan",
        "retention",
        "cycle",
        "stages",
        "sql",
        "winrate",
        "revenue",
    ):
        assert expected in names
    for expected in (
        "cac",
        "ltv",
        "roi",
        "email",
        "mrr",
        "cs",
        "leaderboard",
        "help",
        "start",
        "whoami",
        "lang",
    ):
        assert expected in names
    assert len(names) == len(set(names))
    assert registry.get("/воронка") is registry.get("funnel")
    assert registry.get("FUNNEL").usage == "/funnel last month"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="declared twice"):
        Registry((*registry, registry.get("funnel")))  # type: ignore[arg-type]


def test_a_registry_refuses_a_name_taken_as_an_alias_and_a_command_that_answers_nothing():
    registry = build_registry()
    # /воронка is /funnel's alias: a new command may not take it.
    with pytest.raises(ValueError, match="already belong to other commands"):
        Registry((*registry, Command("воронка", "/воронка", "help.x", handler=lambda ctx: None)))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="needs a metric or a handler"):
        Registry((Command("nothing", "/nothing", "help.x"),))
    # Changing one declaration leaves the others and the order as they were.
    changed = registry.with_changes("funnel", chart=False)
    assert [c.name for c in changed] == [c.name for c in registry]
    assert changed.get("funnel").chart is False and registry.get("funnel").chart is True  # type: ignore[union-attr]
