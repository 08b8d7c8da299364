"""Reading one cell of an import file into the value the store keeps: text, numbers, moments, days and codes.

A parser gets a non-empty raw value — a string from CSV or JSON lines, or a number, boolean or datetime as JSON and
Excel hand them over — and returns the stored value or raises `BadValue` with a reason a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BadValue",
    "Parser",
    "text",
    "email",
    "integer",
    "decimal",
    "moment",
    "day",
    "boolean",
    "choice",
    "month",
    "plan_period",
    "time_zone",
    "currency_code",
    "to_utc",
]

Parser = Callable[[Any], Any]


class BadValue(ValueError):
    """A cell that cannot be stored; the message is the reason shown to the person importing."""


def _storable(value: str) -> str:
    """`value` if both databases keep it as given: PostgreSQL refuses NUL in text (SQLite would keep it, and the
    two stores must not differ), and a lone surrogate (a JSON escape such as \\ud800) is no character at all."""
    if "\x00" in value:
        raise BadValue("contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadValue("not valid Unicode text (a lone surrogate)") from None
    return value


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        # Excel keeps numeric ids such as 1001 as floats.
        return str(int(raw))
    if isinstance(raw, int | float | Decimal):
        return str(raw)
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    raise BadValue("expected a single value, not a list or an object")


def text(max_length: int) -> Parser:
    """Free text or an id, at most `max_length` characters."""

    def parse(raw: Any) -> str:
        value = raw if type(raw) is str else _as_text(raw)
        if "\x00" in value or not value.isascii():  # inline: this runs for most cells of every file
            _storable(value)
        if len(value) > max_length:
            raise BadValue(f"longer than {max_length} characters")
        return value

    return parse


def email(raw: Any) -> str:
    """An e-mail address: something@somewhere."""
    value = _storable(_as_text(raw))
    local, at, domain = value.partition("@")
    if not (local and at and domain) or " " in value or len(value) > 254:
        raise BadValue("not an e-mail address")
    return value


def integer(*, minimum: int | None = 0, maximum: int = 2**31 - 1) -> Parser:
    """A whole number (counts and quantities are never negative)."""

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise BadValue("not a whole number")
        if isinstance(raw, int):
            value = raw
        else:
            number = _number(raw)
            if number.adjusted() > 18:
                raise BadValue("too large")  # before int(): 1e999999999 would be a billion digits
            if number != number.to_integral_value():
                raise BadValue("not a whole number")
            value = int(number)
        if minimum is not None and value < minimum:
            raise BadValue("must not be negative" if minimum == 0 else f"must be at least {minimum}")
        if value > maximum:
            raise BadValue("too large")
        return value

    return parse


# What PostgreSQL's numeric input takes, less its exponents and words: ASCII digits, a sign, one dot. Python's
# Decimal would also read 1_000, ١٢٣ (Arabic-Indic), １００ (full-width), 1e3 and Infinity.
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
NOT_A_NUMBER = (
    "not a number (digits 0-9 with an optional sign and one dot: no thousands separators or exponents)"
)


def _number(raw: Any) -> Decimal:
    """A number from text written as above, or a number JSON or Excel already read as one (1.2e3 included)."""
    if isinstance(raw, bool):
        raise BadValue("not a number")
    if isinstance(raw, str):
        if not _PLAIN_NUMBER.fullmatch(raw):
            raise BadValue(NOT_A_NUMBER)
        return Decimal(raw)
    try:
        number = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise BadValue(NOT_A_NUMBER) from None
    if not number.is_finite():
        raise BadValue("not a number")
    return number


def decimal(*, scale: int = 2, precision: int = 18, positive: bool = False) -> Parser:
    """Money or a rate, rounded half-up to `scale` places; never negative (zero refused when `positive`)."""
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def parse(raw: Any) -> Decimal:
        number = _number(raw)
        if number.adjusted() >= precision - scale:
            # Checked before rounding: quantize() fails outright past 28 digits (1e400, 30 nines).
            raise BadValue("too large" if number > 0 else "must not be negative")
        value = number.quantize(quantum, rounding=ROUND_HALF_UP)
        if value < 0:
            raise BadValue("must not be negative")
        if positive and value == 0:
            raise BadValue("must be greater than zero")
        if value >= limit:
            raise BadValue("too large")
        return value

    return parse


def to_utc(value: datetime, zone: tzinfo) -> datetime:
    """The naive UTC datetime the store keeps; a naive `value` is a wall-clock time in `zone`."""
    # Subtracting the offset is the same arithmetic as astimezone(UTC), at a fortieth of the cost per row.
    if value.tzinfo is None:
        offset = zone.utcoffset(value)
        return value - offset if offset else value
    offset = value.utcoffset()
    return (value - offset if offset else value).replace(tzinfo=None)


# A day inside the calendar's edges: the moment is then a valid datetime in every time zone (offsets stay within
# a day), so no report that shows it in a user's own zone can overflow. PostgreSQL keeps wider ranges; Python cannot.
_FIRST_MOMENT = datetime(1, 1, 2)
_LAST_MOMENT = datetime(9999, 12, 30, 23, 59, 59, 999999)
OUTSIDE = "outside the dates kpibot can show in every time zone (0001-01-02 to 9999-12-30 in UTC)"


def _kept_moment(value: datetime, zone: tzinfo) -> datetime:
    try:
        stored = to_utc(value, zone)
    except OverflowError:
        raise BadValue(OUTSIDE) from None
    if not _FIRST_MOMENT <= stored <= _LAST_MOMENT:
        raise BadValue(OUTSIDE)
    return stored


def moment(zone: tzinfo) -> Parser:
    """An ISO 8601 date or datetime; without an offset it is read in `zone` (the organisation's time zone)."""

    def parse(raw: Any) -> datetime:
        if isinstance(raw, datetime):
            return _kept_moment(raw, zone)
        if isinstance(raw, date):
            return _kept_moment(datetime(raw.year, raw.month, raw.day), zone)
        if not isinstance(raw, str):
            raise BadValue("not a date or time (expected ISO 8601 such as 2026-03-31T14:30:00+03:00)")
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise BadValue(
                "not a date or time (expected ISO 8601 such as 2026-03-31T14:30:00+03:00)"
            ) from None
        return _kept_moment(value, zone)

    return parse


def day(zone: tzinfo) -> Parser:
    """A calendar day, YYYY-MM-DD; a datetime with an offset counts on its day in `zone`."""

    def parse(raw: Any) -> date:
        if isinstance(raw, datetime):
            if not raw.tzinfo:
                return raw.date()
            try:
                return raw.astimezone(zone).date()
            except OverflowError:
                raise BadValue(
                    "not a date: its day in the organisation's time zone is outside the calendar"
                ) from None
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
            try:
                return parse(datetime.fromisoformat(raw))
            except ValueError:
                pass
        raise BadValue("not a date (expected YYYY-MM-DD)")

    return parse


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def boolean(raw: Any) -> bool:
    """true/false, 1/0 or yes/no, in any case."""
    if isinstance(raw, bool):
        return raw
    word = _as_text(raw).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue("not a yes/no value (use true/false, 1/0 or yes/no)")


def choice(options: Iterable[str]) -> Parser:
    """One of a fixed set of codes, matched without regard to case and stored as spelled in `options`."""
    canonical = {option.lower(): option for option in options}
    listing = ", ".join(canonical.values())

    def parse(raw: Any) -> str:
        value = canonical.get(_as_text(raw).lower())
        if value is None:
            raise BadValue(f"must be one of {listing}")
        return value

    return parse


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # not \d: that is any script's digit, ２０２６ included
_PERIOD = re.compile(r"[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?")


def month(raw: Any) -> str:
    """A calendar month, YYYY-MM."""
    if isinstance(raw, date) and raw.day == 1:
        # Excel turns a typed 2026-03 into the first of March.
        return raw.strftime("%Y-%m")
    value = _as_text(raw)
    if not _MONTH.fullmatch(value):
        raise BadValue("not a month (expected YYYY-MM, e.g. 2026-03)")
    return value


def plan_period(raw: Any) -> str:
    """A plan period: a month 2026-11, a quarter 2026-Q4 or a year 2026."""
    if isinstance(raw, date) and raw.day == 1:
        return raw.strftime("%Y-%m")
    value = _as_text(raw).upper()
    if not _PERIOD.fullmatch(value):
        raise BadValue("not a plan period (expected 2026-11, 2026-Q4 or 2026)")
    return value


@lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def time_zone(raw: Any) -> str:
    """An IANA time zone name such as Europe/Moscow."""
    value = _as_text(raw)
    if not _known_zone(value):
        raise BadValue("unknown time zone (expected an IANA name such as Europe/Moscow)")
    return value


_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_code(raw: Any) -> str:
    """A three-letter ISO 4217 code such as EUR."""
    value = _as_text(raw).upper()
    if not _CURRENCY.fullmatch(value):
        raise BadValue("not a currency code (expected three letters such as EUR)")
    return value
