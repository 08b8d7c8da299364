"""The words after a command, in any order: period, comparison, scope, filters, breakdown and mode.

`/funnel by rep last month vs prev source=paid_search` and `/воронка прошлый месяц по менеджерам к прошлому` mean
the same thing. Parsing is pure (no store): words the grammar cannot place come back in `rest`, and the
conversation decides whether they name a rep or the command's own argument (`/leaderboard calls`) — or are a
mistake.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from bot.reply.arguments import Arguments, Compare
from metrics.periods import extract_period
from metrics.scope import Scope
from storage.errors import UserError

__all__ = ["Arguments", "parse_arguments", "split_words", "BREAKDOWN_WORDS", "FILTER_WORDS"]

BREAKDOWN_WORDS: dict[str, str] = {
    **dict.fromkeys(("rep", "reps", "owner", "manager", "managers", "person", "people"), "rep"),
    **dict.fromkeys(("team", "teams"), "team"),
    **dict.fromkeys(("source", "sources", "channel", "channels"), "source"),
    **dict.fromkeys(("segment", "segments"), "segment"),
    **dict.fromkeys(("product", "products"), "product"),
    **dict.fromkeys(("campaign", "campaigns"), "campaign"),
    **dict.fromkeys(("month", "months", "monthly"), "month"),
    **dict.fromkeys(("week", "weeks", "weekly"), "week"),
    # Russian: `по менеджерам`, `по командам` …
    **dict.fromkeys(("менеджерам", "менеджеру", "сотрудникам", "продавцам", "репам"), "rep"),
    **dict.fromkeys(("командам", "команде"), "team"),
    **dict.fromkeys(("источникам", "источнику", "каналам"), "source"),
    **dict.fromkeys(("сегментам", "сегменту"), "segment"),
    **dict.fromkeys(("продуктам", "продукту", "товарам"), "product"),
    **dict.fromkeys(("кампаниям", "кампании"), "campaign"),
    **dict.fromkeys(("месяцам",), "month"),
    **dict.fromkeys(("неделям",), "week"),
}
FILTER_WORDS: dict[str, str] = {
    **{name: name for name in ("source", "segment", "product", "campaign")},
    "channel": "source",
    "источник": "source",
    "канал": "source",
    "сегмент": "segment",
    "продукт": "product",
    "кампания": "campaign",
}
_BY = frozenset({"by", "per", "по"})
_ME = frozenset({"me", "my", "mine", "я", "мне", "мои", "мой", "меня"})
_ORG = frozenset({"org", "company", "all", "everyone", "организация", "компания", "все", "всех"})
_TEAM = frozenset({"team", "команда", "команды", "команду", "командa"})
_MODES = {"cohort": "cohort", "flow": "flow", "когорта": "cohort", "когорты": "cohort", "поток": "flow"}
_VS = frozenset({"vs", "vs.", "versus", "compared", "против"})
_PREV_WORDS = frozenset({"prev", "previous", "prior", "last", "period", "предыдущему", "прошлому"})
_YEAR_WORDS = frozenset({"year", "yoy", "ly", "году", "год"})
_TO = frozenset({"к", "ко"})
_PERIOD_NOUNS = frozenset({"периоду", "месяцу", "неделе", "кварталу"})
_FILTER = re.compile(r"([^=]+)=(.*)")


def split_words(text: str) -> list[str]:
    """Words of a message; quotes keep a name together (`"Anna Petrova"`, `«Анна Петрова»`)."""
    text = text.replace("«", '"').replace("»", '"').replace("“", '"').replace("”", '"')
    try:
        return shlex.split(text)
    except ValueError:
        raise UserError("args.quote", "A quote is not closed.") from None


def _norm(word: str) -> str:
    return word.lower().replace("ё", "е").strip(",;!?")


_UNKNOWN_TEXT = {
    "breakdown": "I can't break down by '{word}'; try: {allowed}.",
    "filter": "I don't know the filter '{word}'; try: {allowed}.",
}


def _unknown(what: str, word: str, allowed: Sequence[str]) -> UserError:
    return UserError(
        f"{what}.unknown", _UNKNOWN_TEXT[what], word=word, allowed=", ".join(dict.fromkeys(allowed))
    )


def _compare_at(norm: list[str], i: int) -> tuple[Compare, int] | None:
    """`vs prev`, `vs year`, `vs last year`, `yoy`, `к прошлому [периоду|году]`, `год к году`: (comparison, words)."""
    word = norm[i]
    nxt = norm[i + 1] if i + 1 < len(norm) else None
    after = norm[i + 2] if i + 2 < len(norm) else None
    if word in ("yoy", "г/г"):
        return "year", 1
    if word == "год" and nxt in _TO and after == "году":
        return "year", 3
    if word in _VS:
        if nxt in ("last", "previous", "prev") and after in ("year", "году"):
            return "year", 3
        if nxt in ("last", "previous", "prev") and after in ("week", "month", "quarter", "period", "day"):
            return "prev", 3
        if nxt in _YEAR_WORDS:
            return "year", 2
        if nxt in _PREV_WORDS or nxt in _PERIOD_NOUNS:
            return "prev", 2
        raise UserError("compare.unknown", "Compare with what? Try 'vs prev' or 'vs year'.")
    if word in _TO and nxt in ("прошлому", "предыдущему"):
        if after in ("году", "год"):
            return "year", 3
        return "prev", 3 if after in _PERIOD_NOUNS else 2
    return None


def _starts_period(words: list[str], *, now: datetime, tz: ZoneInfo) -> bool:
    """Whether the first word begins a period (`team last month` is my team, last month — not a team "last")."""
    head = words[:3]
    try:
        period, rest = extract_period(head, now=now, tz=tz)
    except UserError:
        return True
    return period is not None and (not rest or len(rest) < len(head)) and rest[:1] != head[:1]


_RESERVED = _BY | _ME | _ORG | _TEAM | _VS | _TO | set(_MODES)


def parse_arguments(words: Sequence[str], *, now: datetime, tz: ZoneInfo) -> Arguments:
    """Read the command's words (already split); raise UserError for a word that is clearly a mistake."""
    words = list(words)
    norm = [_norm(word) for word in words]
    compare: Compare | None = None
    scope: Scope | None = None
    filters: dict[str, str] = {}
    by: str | None = None
    mode: Literal["cohort", "flow"] | None = None
    left: list[str] = []
    i = 0
    while i < len(words):
        word, raw = norm[i], words[i]
        nxt = norm[i + 1] if i + 1 < len(words) else None
        if found := _compare_at(norm, i):
            compare, used = found
            i += used
            continue
        if word in _BY and nxt is not None and (nxt in BREAKDOWN_WORDS or word != "по"):
            if nxt not in BREAKDOWN_WORDS:
                raise _unknown("breakdown", words[i + 1], list(_english_breakdowns()))
            by = BREAKDOWN_WORDS[nxt]
            i += 2
            continue
        if (match := _FILTER.fullmatch(raw)) and not raw.startswith("@"):
            name = _norm(match[1])
            if name not in FILTER_WORDS:
                raise _unknown("filter", match[1], [k for k in FILTER_WORDS if k.isascii()])
            filters[FILTER_WORDS[name]] = match[2]
            i += 1
            continue
        if word in _MODES:
            mode = _MODES[word]  # type: ignore[assignment]
            i += 1
            continue
        if word in _ME:
            scope = Scope("me")
            i += 1
            continue
        if word in _ORG:
            scope = Scope("org")
            i += 1
            continue
        if word in _TEAM:
            rest = words[i + 1 :]
            if rest and _norm(rest[0]) not in _RESERVED and not _starts_period(rest, now=now, tz=tz):
                scope = Scope("team", rest[0])
                i += 2
            else:
                scope = Scope("team")
                i += 1
            continue
        if raw.startswith("@") and len(raw) > 1:
            scope = Scope("rep", raw[1:])
            i += 1
            continue
        left.append(raw)
        i += 1
    period, rest = extract_period(left, now=now, tz=tz) if left else (None, [])
    return Arguments(
        period=period,
        compare=compare,
        scope=scope,
        filters=tuple(sorted(filters.items())),
        by=by,
        mode=mode,
        rest=tuple(rest),
    )


def _english_breakdowns() -> tuple[str, ...]:
    return ("rep", "team", "source", "segment", "product", "campaign", "month", "week")
