"""What a metric command's words asked for (`Arguments`), and the same arguments written back as words — the
follow-up buttons under a reply and the reading of a plain question (`to_words`). bot/grammar.py reads the words
into Arguments.

`command_words` is the one table of the command words kpibot writes, in English and Russian: every reply, button
and reading takes its words from it, so each word written is one the grammar reads back."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from metrics.periods import Period
from metrics.scope import Scope

__all__ = ["Arguments", "Compare", "RELATIVE_PERIODS", "to_words", "command_words", "quoted"]

Compare = Literal["prev", "year"]


@dataclass(frozen=True)
class Arguments:
    """What the words asked for; None/empty means "the default"."""

    period: Period | None = None
    compare: Compare | None = None
    scope: Scope | None = None
    filters: tuple[tuple[str, str], ...] = ()
    by: str | None = None
    mode: Literal["cohort", "flow"] | None = None
    rest: tuple[str, ...] = ()

    @property
    def scope_explicit(self) -> bool:
        return self.scope is not None


def quoted(word: str) -> str:
    """The word as a command word that split_words reads back unchanged."""
    # Quoted whenever split_words would not read it back as one word, unchanged: spaces, quotes, backslashes.
    return shlex.quote(word) if any(ch.isspace() or ch in "'\"\\" for ch in word) else word


# The periods a plain question may name by their words (`last month`), written back as those words; a button
# writes its period by its dates instead, so it still means the same period when pressed next month.
RELATIVE_PERIODS = ("today", "yesterday", "ytd") + tuple(
    f"{which} {unit}" for which in ("this", "last") for unit in ("week", "month", "quarter", "year")
)
# The words `to_words` writes, per language; bot/grammar.py reads each of them back (tests/bot/questions/test_follow_ups.py
# parses every follow-up of every reply to check). A period's key is its label with `_` for the space.
_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        **{label.replace(" ", "_"): tuple(label.split()) for label in RELATIVE_PERIODS},
        "vs.prev": ("vs", "prev"),
        "vs.year": ("vs", "year"),
        "me": ("me",),
        "org": ("org",),
        "team": ("team",),
        "by": ("by",),
        **{
            f"by.{by}": (by,)
            for by in ("rep", "team", "source", "segment", "product", "campaign", "month", "week")
        },
        **{f"filter.{name}": (name,) for name in ("source", "segment", "product", "campaign")},
        "mode.cohort": ("cohort",),
        "mode.flow": ("flow",),
    },
    "ru": {
        "today": ("сегодня",),
        "yesterday": ("вчера",),
        "ytd": ("с", "начала", "года"),
        "this_week": ("эта", "неделя"),
        "last_week": ("прошлая", "неделя"),
        "this_month": ("этот", "месяц"),
        "last_month": ("прошлый", "месяц"),
        "this_quarter": ("этот", "квартал"),
        "last_quarter": ("прошлый", "квартал"),
        "this_year": ("этот", "год"),
        "last_year": ("прошлый", "год"),
        "vs.prev": ("к", "прошлому"),
        "vs.year": ("к", "прошлому", "году"),
        "me": ("мои",),
        "org": ("компания",),
        "team": ("команда",),
        "by": ("по",),
        "by.rep": ("менеджерам",),
        "by.team": ("командам",),
        "by.source": ("источникам",),
        "by.segment": ("сегментам",),
        "by.product": ("продуктам",),
        "by.campaign": ("кампаниям",),
        "by.month": ("месяцам",),
        "by.week": ("неделям",),
        "filter.source": ("источник",),
        "filter.segment": ("сегмент",),
        "filter.product": ("продукт",),
        "filter.campaign": ("кампания",),
        "mode.cohort": ("когорта",),
        "mode.flow": ("поток",),
    },
}


def command_words(key: str, locale: str = "en") -> list[str]:
    """The command words for `key` (`last_month`, `vs.prev`, `by.rep` …) in `locale`; English where the locale has
    none, the key's last part where neither has."""
    found = _WORDS.get(locale, {}).get(key) or _WORDS["en"].get(key)
    return list(found) if found is not None else [key.rpartition(".")[2]]


def to_words(
    args: Arguments,
    *,
    scope_ref: str | None = None,
    locale: str = "en",
    relative: bool = False,
    person: str | None = None,
) -> list[str]:
    """The arguments written back as command words (for follow-up buttons), in the asker's language:
    `2026-10 vs prev segment=saas team Alpha by rep`, `2026-10 к прошлому сегмент=saas команда Alpha по менеджерам`.

    Periods are written by their dates so a button pressed next month still means the same period; with
    `relative`, a period named by its words (`last month`, `вчера`) is written by them, as a reading of what was
    asked. `scope_ref` replaces a rep reference with its id; `person` writes the rep by that name instead
    (`"Anna Rogers"`). Filters come before the scope: a bare `team` reads the word after it as the team's name
    unless that word is one the grammar reserves (`by`, a mode, the end).
    """
    words: list[str] = []
    period = args.period
    if period is not None:
        if relative and period.label in RELATIVE_PERIODS:
            words += command_words(period.label.replace(" ", "_"), locale)
        elif period.grain == "week":
            words.append(f"{period.start_date.isoformat()}..{period.last_date.isoformat()}")
        else:
            words.append(period.key)
    if args.compare:
        words += command_words(f"vs.{args.compare}", locale)
    for name, value in args.filters:
        words.append(f"{command_words(f'filter.{name}', locale)[0]}={quoted(value)}")
    if args.scope is not None:
        if args.scope.kind == "me":
            words += command_words("me", locale)
        elif args.scope.kind == "org":
            words += command_words("org", locale)
        elif args.scope.kind == "team":
            words += command_words("team", locale)
            if args.scope.ref:
                words.append(quoted(args.scope.ref))
        elif person and '"' not in person:
            words.append(f'"{person}"' if " " in person else person)
        else:
            words.append("@" + (scope_ref or args.scope.ref or ""))
    if args.by:
        words += command_words("by", locale) + command_words(f"by.{args.by}", locale)
    if args.mode:
        words += command_words(f"mode.{args.mode}", locale)
    return words
