"""What a chart reads in the asker's language: the ChartContext every drawing function gets (words, number
formats, the header lines, the day in progress), the locale's number formats, and values written as labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from babel import Locale
from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent
from matplotlib.ticker import FuncFormatter

from metrics.labels import category_keys, humanize
from metrics.result import Number, Unit

if TYPE_CHECKING:
    from metrics.calendar import Period

__all__ = [
    "ChartFormatters",
    "ChartContext",
    "Words",
    "locale_formatters",
    "english_words",
    "unit_label",
    "format_value",
    "value_axis_formatter",
]


@dataclass(frozen=True)
class ChartFormatters:
    """How numbers read on a chart: `number(value, decimals)` ("1,234.5"), `percent(fraction, decimals)` ("23.8%"),
    `money(value)` ("$1,235", "$4.50") and `money_tick(value)` for an axis ("$1.5M").

    The bot passes locale-aware ones (see `locale_formatters`); anything with these callables will do. Without
    `money`, amounts read as plain numbers.
    """

    number: Callable[[float, int], str]
    percent: Callable[[float, int], str]
    money: Callable[[float], str] | None = None
    money_tick: Callable[[float], str] | None = None


def locale_formatters(locale: str = "en", currency: str = "USD") -> ChartFormatters:
    """Formatters following the locale's conventions (Babel): plain English for "en", "1 234,5" and "23,8%" for "ru";
    money in `currency` the way the replies write it ("$249,817" / "249 817 $"), cents only below 100."""

    def number(value: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
        return format_decimal(value, format=pattern, locale=locale)

    babel = Locale.parse(locale)
    # The locale's own percent pattern ("23.8%", "23,8 %"), as the replies write it, with the decimals asked for.
    percent_pattern = babel.percent_formats[None].pattern.split(";")[0]

    def percent(fraction: float, decimals: int) -> str:
        pattern = percent_pattern.replace("0%", "0" + ("." + "0" * decimals if decimals > 0 else "") + "%", 1)
        pattern = pattern.replace("0\xa0%", "0" + ("." + "0" * decimals if decimals > 0 else "") + "\xa0%", 1)
        return format_percent(fraction, format=pattern, locale=locale)

    whole = babel.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")

    def money(value: float) -> str:
        amount = Decimal(str(value))
        if abs(amount) >= 100 or amount == amount.to_integral_value():
            return format_currency(round(amount), currency, whole, locale=locale, currency_digits=False)
        return format_currency(amount, currency, locale=locale)

    def money_tick(value: float) -> str:
        if abs(value) < 10_000:
            return money(round(value) if abs(value) >= 10 else value)
        return format_compact_currency(value, currency, locale=locale, fraction_digits=1)

    return ChartFormatters(number=number, percent=percent, money=money, money_tick=money_tick)


Words = Callable[[str, str], str]
"""A catalogue lookup: `(key, English text)` → the text in the reader's language (the English one when missing)."""


def english_words(_key: str, english: str) -> str:
    return english


@dataclass(frozen=True)
class ChartContext:
    """What every drawing function needs besides the result: words, number formats and the header lines.

    `translate` gives the chart's own words (the `chart.<English text>` entries of the catalogue); `words` looks up
    any catalogue key (`measure.mql`, `title.plan`) with its English fallback; `today`, the day in progress while
    the period runs, tells a bar, week or cell still in progress (partial, "to date") from a whole one.
    """

    formatters: ChartFormatters
    translate: Callable[[str], str]
    locale: str
    title: str
    subtitle: str
    words: Words = field(default=english_words)
    today: date | None = None  # the local day in progress while the result's period runs, else None
    measure: str | None = None  # the measure a leaderboard ranks by

    def word(self, key: str, english: str) -> str:
        """A catalogue entry; `chart.*` keys go through `translate` as well, so either way of passing words works."""
        text = self.words(key, english)
        if text == english and key.startswith("chart."):
            return self.translate(english)
        return text

    def known(self, key: str) -> str | None:
        """The entry `key` in the reader's language, or None when the catalogue lacks it."""
        missing = "\x00"
        text = self.words(key, missing)
        return None if text == missing else text

    def label(self, key: str, english: str) -> str:
        """A measure's label the way the replies write it: `measure.<key>`; a plan line's part ("revenue.attainment")
        as "Revenue: attainment"; a step (`mql_to_sal`) as "MQL → SAL"."""
        own = self.known(f"measure.{key}")
        if own is not None:
            return own
        if "." in key:
            line, part = key.split(".", 1)
            head = self.known(f"measure.{line}")
            tail = self.known(f"measure.{part}")
            if head is not None and part == "actual":
                return head
            if head is not None and tail is not None:
                return f"{head}: {tail.lower()}"
        if "_to_" in key:
            before, after = key.split("_to_", 1)
            first, second = self.known(f"measure.{before}"), self.known(f"measure.{after}")
            if first is not None and second is not None:
                return f"{first} → {second}"
        return self.word(f"chart.{english}", english)

    def category(self, key: str, kind: str | None = None) -> str:
        """A category on an axis (a funnel stage, a lead source of `kind` "source") in words: its measure label
        ("MQL", "Leads"), its chart entry, else the key made readable (`organic_search` → "Organic search")."""
        for candidate in category_keys(key, kind):
            text = self.known(candidate)
            if text is not None:
                # An axis of names starts each with a capital, as the stage names from the CRM do.
                return text[:1].upper() + text[1:]
        translated = self.word(f"chart.{key}", key)
        return translated if translated != key else humanize(key)

    def is_partial(self, period: Period) -> bool:
        """Whether `period` (a bar's month, week or day) is still in progress: it holds `today`."""
        return self.today is not None and period.start_date <= self.today < period.end_date


def unit_label(unit: Unit, ctx: ChartContext) -> str | None:
    """The words a value axis needs for its unit, when tick labels do not carry it: "days" / "дней"."""
    if unit == "days":
        return ctx.word("chart.days", "days")
    return None


def format_value(fmt: ChartFormatters, value: Number | None, unit: Unit, na: str = "n/a") -> str:
    """A value as a label: percentages with one decimal, durations and ratios with one, counts and money whole."""
    if value is None:
        return na
    if unit == "percent":
        return fmt.percent(float(value), 1)
    if unit == "money" and fmt.money is not None:
        return fmt.money(float(value))
    if unit in ("count", "money"):
        return fmt.number(round(float(value)), 0)
    return fmt.number(float(value), 1)


def value_axis_formatter(fmt: ChartFormatters, unit: Unit) -> FuncFormatter:
    """Tick labels for a value axis: whole percentages, and decimals only where the tick needs them."""

    def tick(value: float, _pos: int | None) -> str:
        if unit == "percent":
            return fmt.percent(value, 0 if abs(value * 100 - round(value * 100)) < 1e-9 else 1)
        if unit == "money" and fmt.money_tick is not None:
            return fmt.money_tick(value)
        return fmt.number(value, 0 if abs(value - round(value)) < 1e-9 else 1)

    return FuncFormatter(tick)
