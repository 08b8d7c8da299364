"""Period words: what a rep types after a command (`last month`, `2026-Q3`, `на прошлой неделе`) turned into a
Period of their own local time.

This module is the one door for periods: it re-exports the Period value, its constructors, chart buckets and the
working-day arithmetic from `metrics.calendar`, and adds the parsing of English and Russian period words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from metrics.calendar import (
    BucketGrain,
    Grain,
    Period,
    day_period,
    elapsed_working_share,
    is_working_day,
    iter_buckets,
    local_midnight,
    month_period,
    period_coverage,
    plan_periods_covering,
    quarter_period,
    range_period,
    remaining_working_days,
    week_period,
    working_days,
    year_period,
)
from storage.errors import UserError

__all__ = [
    "Grain",
    "BucketGrain",
    "Period",
    "local_midnight",
    "day_period",
    "week_period",
    "month_period",
    "quarter_period",
    "year_period",
    "range_period",
    "iter_buckets",
    "plan_periods_covering",
    "is_working_day",
    "working_days",
    "elapsed_working_share",
    "remaining_working_days",
    "period_coverage",
    "parse_period",
    "extract_period",
    "parse_plan_period",
    "default_period",
    "is_number",
    "MAX_PERIOD_YEARS",
    "MAX_BUCKETS",
    "check_bounds",
]

UNKNOWN_TEXT = "I don't understand the period '{text}'"
RANGE_TEXT = "The period '{text}' ends before it starts"

# The work one question may ask for (docs/conversation.md): generous for an analyst, bounded for the bot, so no one
# request — from the chat, the CLI or a digest — can keep it busy for minutes or answer in a hundred messages.
MAX_PERIOD_YEARS = 10
MAX_BUCKETS = 200

# Bare four-digit numbers are years only in this window, so a threshold like `500` or `5000` is left alone.
_BARE_YEARS = range(2000, 2100)
_ANY_YEARS = range(1900, 3000)
# Longer rolling windows are almost certainly a typo, and would reach before any CRM data.
_MAX_ROLLING_DAYS = 3660

_PREPOSITIONS = frozenset({"for", "in", "during", "over", "from", "за", "в", "во", "на", "с", "со"})
_THIS = frozenset(
    {"this", "current"}
    | {"эт" + end for end in ("а", "у", "от", "ом", "ой", "ого", "ому")}
    | {"текущ" + end for end in ("ая", "ую", "ий", "ем", "ей", "его", "ему")}
)
_LAST = frozenset(
    {"last", "previous"}
    | {"прошл" + end for end in ("ая", "ую", "ый", "ом", "ой", "ого", "ому")}
    | {"предыдущ" + end for end in ("ая", "ую", "ий", "ем", "ей", "его", "ему")}
)
_UNITS = {
    **dict.fromkeys(("week", "неделя", "неделю", "неделе", "недели"), "week"),
    **dict.fromkeys(("month", "месяц", "месяца", "месяце", "месяцу"), "month"),
    **dict.fromkeys(("quarter", "квартал", "квартала", "квартале", "кварталу"), "quarter"),
    **dict.fromkeys(("year", "год", "года", "году"), "year"),
}
_ROLLING_STARTERS = frozenset(
    {"last", "past", "previous", "последние", "последних", "прошедшие", "прошедших"}
)
_ROLLING_UNITS = {
    **dict.fromkeys(("day", "days", "день", "дня", "дней"), 1),
    **dict.fromkeys(("week", "weeks", "неделя", "неделю", "недели", "недель"), 7),
}
_YEAR_WORDS = frozenset({"год", "года", "году", "г"})
_RANGE_SEPARATORS = frozenset({"..", "-", "–", "—", "to", "по"})
_PHRASES: dict[tuple[str, ...], str] = {
    ("today",): "today",
    ("сегодня",): "today",
    ("yesterday",): "yesterday",
    ("вчера",): "yesterday",
    ("ytd",): "ytd",
    ("year-to-date",): "ytd",
    ("year", "to", "date"): "ytd",
    ("начала", "года"): "ytd",  # `с начала года`: the `с` is taken as a preposition
    ("начала", "этого", "года"): "ytd",
}


def _month_names() -> dict[str, int]:
    english = ["january", "february", "march", "april", "may", "june", "july", "august", "september"]
    english += ["october", "november", "december"]
    names = {name: number for number, name in enumerate(english, 1)}
    names.update({name[:3]: number for number, name in enumerate(english, 1)})
    names["sept"] = 9
    soft = ("ь", "я", "е", "ю", "ем")
    russian: list[tuple[str, tuple[str, ...]]] = [
        ("январ", soft),
        ("феврал", soft),
        ("март", ("", "а", "е", "у", "ом")),
        ("апрел", soft),
        ("ма", ("й", "я", "е", "ю", "ем")),
        ("июн", soft),
        ("июл", soft),
        ("август", ("", "а", "е", "у", "ом")),
        ("сентябр", soft),
        ("октябр", soft),
        ("ноябр", soft),
        ("декабр", soft),
    ]
    for number, (stem, endings) in enumerate(russian, 1):
        names.update({stem + end: number for end in endings})
    short = ["янв", "фев", "мар", "апр", "", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"]
    names.update({name: number for number, name in enumerate(short, 1) if name})
    names["сент"] = 9
    return names


_MONTHS = _month_names()
# A lone abbreviation is too often a person (Jan, Mar) or another word to take for a month; with a year
# (`oct 2025`) or after `last`/`this` it is clearly one.
_MONTH_ABBREVIATIONS = frozenset(
    ["jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
    + ["янв", "фев", "мар", "апр", "июн", "июл", "авг", "сен", "сент", "окт", "ноя", "дек"]
)

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DOTTED_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_ISO_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")
_RANGE_TOKEN = re.compile(r"(.+?)(?:\.\.|–|—)(.+)")
_YEAR_QUARTER = re.compile(r"([0-9]{4})-?q([0-9]+)")
_QUARTER_YEAR = re.compile(r"q([0-9]+)(?:-([0-9]{4}))?")
_QUARTER_NUMBER = re.compile(r"([0-9])(?:-?й)?")
_COMPACT_DAYS = re.compile(r"([0-9]+)(?:d|д|дн)")

_Match = tuple[Period, int]


def is_number(token: str) -> bool:
    """Whether `token` is a whole number written in ASCII digits.

    `str.isdigit()` and the regex `\\d` also accept superscripts (`³`, where `int()` then fails), Arabic-Indic
    and full-width digits: nobody types a period that way, so such a word is left to the other arguments or
    refused as a period, never half-read as one.
    """
    return token.isascii() and token.isdigit()


def unknown_period(text: str) -> UserError:
    """The error for words meant as a period that are not one."""
    return UserError("period.unknown", UNKNOWN_TEXT, text=text)


def _normalize(word: str) -> str:
    """Lower-case, ё→е, without the punctuation a chat message wraps words in."""
    token = word.lower().replace("ё", "е").strip(",;:!?()[]\"'«»")
    if token.endswith(".") and not token.endswith(".."):
        token = token[:-1]
    return token


@dataclass(frozen=True)
class _Words:
    """The command words as typed (for error messages) and normalized (for matching), with the local today."""

    raw: Sequence[str]
    norm: Sequence[str]
    today: date
    tz: ZoneInfo

    def at(self, index: int) -> str | None:
        return self.norm[index] if index < len(self.norm) else None


def _local_today(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be tz-aware")
    return now.astimezone(tz).date()


def default_period(*, now: datetime, tz: ZoneInfo) -> Period:
    """`this month`, the period of a command given none."""
    return month_period(_local_today(now, tz), tz, label="this month")


def _anchor(token: str, raw: str) -> tuple[date, date] | None:
    """A date or ISO month as the local days `[first, end)`; None if not date-shaped, an error if date-shaped but
    impossible (2026-13, 2026-02-30)."""
    parts: tuple[int, int, int] | None = None
    if match := _ISO_DATE.fullmatch(token):
        parts = (int(match[1]), int(match[2]), int(match[3]))
    elif match := _DOTTED_DATE.fullmatch(token):
        parts = (int(match[3]), int(match[2]), int(match[1]))
    if parts is not None:
        if parts[0] not in _ANY_YEARS:
            raise unknown_period(raw)
        try:
            day = date(*parts)
        except ValueError:
            raise unknown_period(raw) from None
        return day, day + timedelta(days=1)
    if match := _ISO_MONTH.fullmatch(token):
        year, month = int(match[1]), int(match[2])
        if year not in _ANY_YEARS or not 1 <= month <= 12:
            raise unknown_period(raw)
        first = date(year, month, 1)
        return first, first + relativedelta(months=1)
    return None


def _range(words: _Words, first: tuple[date, date], last: tuple[date, date], raw: str) -> Period:
    if last[1] <= first[0]:
        raise UserError("period.range", RANGE_TEXT, text=raw)
    return range_period(first[0], last[1], words.tz)


def _match_range(words: _Words, i: int) -> _Match | None:
    token, raw = words.norm[i], words.raw[i]
    if match := _RANGE_TOKEN.fullmatch(token):
        first, last = _anchor(match[1], raw), _anchor(match[2], raw)
        if first is None or last is None:
            return None
        return _range(words, first, last, raw), 1
    separator, last_token = words.at(i + 1), words.at(i + 2)
    if separator not in _RANGE_SEPARATORS or last_token is None:
        return None
    first = _anchor(token, raw)
    last = _anchor(last_token, words.raw[i + 2])
    if first is None or last is None:
        return None
    return _range(words, first, last, " ".join(words.raw[i : i + 3])), 3


def _match_anchor(words: _Words, i: int) -> _Match | None:
    span = _anchor(words.norm[i], words.raw[i])
    if span is None:
        return None
    first, end = span
    if (end - first).days == 1:
        return day_period(first, words.tz), 1
    return month_period(first, words.tz), 1


def _year_after(words: _Words, i: int) -> tuple[int, int] | None:
    """A year written after a month or quarter (`oct 2025`, `3 квартал 2025 года`): (year, words used)."""
    token = words.at(i)
    if token is None or not is_number(token) or int(token) not in _BARE_YEARS:
        return None
    return int(token), 2 if words.at(i + 1) in _YEAR_WORDS else 1


def _quarter(words: _Words, i: int, number: int, year: int | None, used: int) -> _Match:
    if not 1 <= number <= 4:
        raise unknown_period(words.raw[i])
    if year is None:
        year, more = words.today.year, 0
        if after := _year_after(words, i + used):
            year, more = after
        used += more
    elif year not in _ANY_YEARS:
        raise unknown_period(words.raw[i])
    return quarter_period(date(year, 3 * number - 2, 1), words.tz), used


def _match_quarter(words: _Words, i: int) -> _Match | None:
    token = words.norm[i]
    if match := _YEAR_QUARTER.fullmatch(token):
        return _quarter(words, i, int(match[2]), int(match[1]), 1)
    if match := _QUARTER_YEAR.fullmatch(token):
        return _quarter(words, i, int(match[1]), int(match[2]) if match[2] else None, 1)
    if (match := _QUARTER_NUMBER.fullmatch(token)) and _UNITS.get(words.at(i + 1) or "") == "quarter":
        return _quarter(words, i, int(match[1]), None, 2)
    return None


def _match_year(words: _Words, i: int) -> _Match | None:
    if found := _year_after(words, i):
        year, used = found
        return year_period(year, words.tz), used
    return None


def _recent_month(today: date, month: int, *, before_current: bool) -> date:
    """The latest first-of-`month` not after the current month (strictly before it with `before_current`):
    `october` asked in March means last October."""
    latest = today.month - 1 if before_current else today.month
    return date(today.year if month <= latest else today.year - 1, month, 1)


def _match_month_name(words: _Words, i: int) -> _Match | None:
    month = _MONTHS.get(words.norm[i])
    if month is None:
        return None
    if found := _year_after(words, i + 1):
        year, used = found
        return month_period(date(year, month, 1), words.tz), 1 + used
    if words.norm[i] in _MONTH_ABBREVIATIONS:
        return None
    return month_period(_recent_month(words.today, month, before_current=False), words.tz), 1


def _match_phrase(words: _Words, i: int) -> _Match | None:
    best: _Match | None = None
    for phrase, name in _PHRASES.items():
        if tuple(words.norm[i : i + len(phrase)]) != phrase:
            continue
        today = words.today
        if name == "today":
            period = day_period(today, words.tz, label="today")
        elif name == "yesterday":
            period = day_period(today - timedelta(days=1), words.tz, label="yesterday")
        else:
            period = range_period(date(today.year, 1, 1), today + timedelta(days=1), words.tz, label="ytd")
        if best is None or len(phrase) > best[1]:
            best = period, len(phrase)
    return best


_RELATIVE: dict[tuple[str, str], Callable[[date, ZoneInfo], Period]] = {
    ("this", "week"): lambda today, tz: week_period(today, tz, label="this week"),
    ("last", "week"): lambda today, tz: week_period(today - timedelta(days=7), tz, label="last week"),
    ("this", "month"): lambda today, tz: month_period(today, tz, label="this month"),
    ("last", "month"): lambda today, tz: month_period(
        today.replace(day=1) - timedelta(days=1), tz, label="last month"
    ),
    ("this", "quarter"): lambda today, tz: quarter_period(today, tz, label="this quarter"),
    ("last", "quarter"): lambda today, tz: quarter_period(
        today - relativedelta(months=3), tz, label="last quarter"
    ),
    ("this", "year"): lambda today, tz: year_period(today.year, tz, label="this year"),
    ("last", "year"): lambda today, tz: year_period(today.year - 1, tz, label="last year"),
}


def _match_relative(words: _Words, i: int) -> _Match | None:
    """`this|last <unit>` and its Russian forms; `last` before a word that is no unit is a mistyped period."""
    token = words.norm[i]
    if token not in _THIS and token not in _LAST:
        return None
    which = "this" if token in _THIS else "last"
    following = words.at(i + 1)
    if following is None:
        raise unknown_period(words.raw[i])
    if is_number(following):
        return None  # `last 7 days` is a rolling window, `last 6` may belong to another argument
    if unit := _UNITS.get(following):
        return _RELATIVE[(which, unit)](words.today, words.tz), 2
    if month := _MONTHS.get(following):
        # `this october` is this year's; `last october` the latest one before the current month.
        if which == "this":
            first = date(words.today.year, month, 1)
        else:
            first = _recent_month(words.today, month, before_current=True)
        return month_period(first, words.tz), 2
    raise unknown_period(words.raw[i + 1])


def _match_rolling(words: _Words, i: int) -> _Match | None:
    """`last 30 days`, `последние 7 дней`, `2 weeks`, `30d`: the N local days ending today, today included."""
    start = i + 1 if words.norm[i] in _ROLLING_STARTERS else i
    token = words.at(start)
    if token is None:
        return None
    if match := _COMPACT_DAYS.fullmatch(token):
        count, unit_days, used = int(match[1]), 1, start + 1 - i
    elif is_number(token) and (unit_days := _ROLLING_UNITS.get(words.at(start + 1) or "", 0)):
        count, used = int(token), start + 2 - i
    else:
        return None
    days = count * unit_days
    if not 1 <= days <= _MAX_ROLLING_DAYS:
        raise unknown_period(" ".join(words.raw[start : i + used]))
    noun = "day" if unit_days == 1 else "week"
    label = f"last {count} {noun}{'' if count == 1 else 's'}"
    today = words.today
    return range_period(
        today - timedelta(days=days - 1), today + timedelta(days=1), words.tz, grain="days", label=label
    ), used


_MATCHERS = (
    _match_range,
    _match_anchor,
    _match_quarter,
    _match_year,
    _match_month_name,
    _match_phrase,
    _match_relative,
    _match_rolling,
)


def _match_core(words: _Words, i: int) -> _Match | None:
    best: _Match | None = None
    for matcher in _MATCHERS:
        found = matcher(words, i)
        if found is not None and (best is None or found[1] > best[1]):
            best = found
    return best


def _match_at(words: _Words, i: int) -> _Match | None:
    """The longest period starting at word `i`, a leading preposition (`за`, `in`, `на`) included."""
    found = _match_core(words, i)
    if words.norm[i] in _PREPOSITIONS and i + 1 < len(words.norm):
        after = _match_core(words, i + 1)
        if after is not None and (found is None or after[1] + 1 > found[1]):
            found = after[0], after[1] + 1
    return found


def extract_period(words: Sequence[str], *, now: datetime, tz: ZoneInfo) -> tuple[Period | None, list[str]]:
    """Find the longest period expression anywhere among the command words (arguments come in any order, as in
    `by rep last month vs prev`); return it and the other words in their order, or (None, all words).

    Raises UserError `period.unknown` for words clearly meant as a period that are not one (`last blorp`,
    `2026-13`, `Q5`) and `period.range` for a range that ends before it starts.
    """
    parsed = _Words(list(words), [_normalize(word) for word in words], _local_today(now, tz), tz)
    best: tuple[int, _Match] | None = None
    for i in range(len(parsed.norm)):
        found = _match_at(parsed, i)
        if found is not None and (best is None or found[1] > best[1][1]):
            best = i, found
    if best is None:
        return None, list(words)
    i, (period, used) = best
    return period, [*words[:i], *words[i + used :]]


def parse_period(text: str, *, now: datetime, tz: ZoneInfo) -> Period:
    """The period the whole of `text` names, in `tz` (empty text: this month).

    Choices a RevOps analyst would expect: `last 30 days` is the 30 local days ending today, today included (so
    this morning's calls count); `ytd` runs through today; a month name alone (`october`) is the latest such month
    not after the current one, `last october` the latest one already over; `Q3` alone is this year's.
    """
    words = text.split()
    if not words:
        return default_period(now=now, tz=tz)
    period, rest = extract_period(words, now=now, tz=tz)
    if period is None:
        raise unknown_period(" ".join(words))
    if rest:
        raise unknown_period(" ".join(rest))
    return period


def check_bounds(period: Period, by: str | None = None) -> None:
    """Refuse a period longer than MAX_PERIOD_YEARS calendar years, or a `by week|month` breakdown of more than
    MAX_BUCKETS rows; the comparison periods, of equal length, are checked the same way by the catalogue."""
    if period.end_date > period.start_date + relativedelta(years=MAX_PERIOD_YEARS):
        raise UserError(
            "period.too_long",
            "A period may cover at most {years} years; choose a shorter one.",
            years=MAX_PERIOD_YEARS,
        )
    grain: BucketGrain | None = "week" if by == "week" else "month" if by == "month" else None
    if grain is not None and len(list(iter_buckets(period, grain))) > MAX_BUCKETS:
        raise UserError(
            f"breakdown.too_many_{by}s",
            f"A breakdown may have at most {{count}} {by}s; choose a shorter period"
            + (" or by month." if by == "week" else "."),
            count=MAX_BUCKETS,
        )


_PLAN_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_PLAN_QUARTER = re.compile(r"([0-9]{4})-[qQ]([1-4])")
_PLAN_YEAR = re.compile(r"[0-9]{4}")


def parse_plan_period(code: str, tz: ZoneInfo) -> Period:
    """The period of a plan row's code: `2026-11`, `2026-Q4` or `2026`, in the organisation's zone."""
    code = code.strip()
    if (match := _PLAN_MONTH.fullmatch(code)) and 1 <= int(match[2]) <= 12:
        return month_period(date(int(match[1]), int(match[2]), 1), tz)
    if match := _PLAN_QUARTER.fullmatch(code):
        return quarter_period(date(int(match[1]), 3 * int(match[2]) - 2, 1), tz)
    if _PLAN_YEAR.fullmatch(code):
        return year_period(int(code), tz)
    raise unknown_period(code)
