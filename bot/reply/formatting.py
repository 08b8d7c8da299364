"""Numbers, money, durations and dates written the way the asker's locale writes them (Babel).

Percentages are fractions in the core (0.238) and one decimal here ("23.8%" / "23,8 %"); n/a is "n/a" / "н/д".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property

from babel import Locale
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, format_percent

from bot.reply.i18n import Translator, translator
from metrics.periods import Period
from metrics.result import Measure, Number

__all__ = ["Formatter"]

_UP, _DOWN, _FLAT = "▲", "▼", "="


@dataclass(frozen=True)
class Formatter:
    """Formats values for one locale and the organisation's currency."""

    locale: str
    currency: str = "USD"

    @cached_property
    def t(self) -> Translator:
        return translator(self.locale)

    @cached_property
    def _babel(self) -> Locale:
        return Locale.parse(self.locale)

    @cached_property
    def _percent_pattern(self) -> str:
        # The locale's own pattern (with or without a space before %), with the one decimal the spec asks for.
        pattern = self._babel.percent_formats[None].pattern
        return pattern.replace("0%", "0.0%").replace("0\xa0%", "0.0\xa0%").replace("0 %", "0.0 %")

    @cached_property
    def _whole_money_pattern(self) -> str:
        return self._babel.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")

    @property
    def na(self) -> str:
        return self.t("value.na")

    def count(self, value: Number | None) -> str:
        if value is None:
            return self.na
        if isinstance(value, float) and not value.is_integer():
            return format_decimal(value, "#,##0.0", locale=self.locale)
        return format_decimal(value, "#,##0", locale=self.locale)

    def decimal(self, value: Number | None, digits: int = 1) -> str:
        if value is None:
            return self.na
        return format_decimal(value, "#,##0." + "0" * digits if digits else "#,##0", locale=self.locale)

    def percent(self, value: Number | None) -> str:
        if value is None:
            return self.na
        return format_percent(value, self._percent_pattern, locale=self.locale)

    def money(self, value: Number | None) -> str:
        if value is None:
            return self.na
        amount = Decimal(str(value))
        if abs(amount) >= 100 or amount == amount.to_integral_value():
            # Cents only clutter a sales number; below 100 (a cost per lead) they still matter.
            return format_currency(
                amount, self.currency, self._whole_money_pattern, locale=self.locale, currency_digits=False
            )
        return format_currency(amount, self.currency, locale=self.locale)

    def days(self, value: Number | None) -> str:
        if value is None:
            return self.na
        return self.t("value.days", value=self.decimal(value, 1))

    def value(self, value: Number | None, unit: str | None) -> str:
        """A value in its unit: count, percent, money, days, ratio or number."""
        if unit == "percent":
            return self.percent(value)
        if unit == "money":
            return self.money(value)
        if unit == "days":
            return self.days(value)
        if unit in ("ratio", "number"):
            if isinstance(value, int):
                return self.count(value)
            return self.decimal(value, 1)
        return self.count(value)

    def cell(self, value: object, unit: str | None) -> str:
        """A table cell: numbers in their unit, text as it is, None as n/a."""
        if value is None:
            return self.na
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return str(value)
        return self.value(value, unit)

    def measure(self, measure: Measure) -> str:
        return self.value(measure.value, measure.unit)

    def delta(self, measure: Measure, comparison: str | None, *, short: bool = False) -> str:
        """`▲ 12.5% vs prev`; rates move in percentage points (`▼ 2.1 pp`); `short` leaves out "vs prev"; empty
        without a comparison."""
        change = measure.delta
        if change is None or comparison is None:
            return ""
        arrow = {"up": _UP, "down": _DOWN}.get(measure.direction or "", _FLAT)
        if measure.unit == "percent":
            amount = self.t("value.points", value=self.decimal(abs(change) * 100, 1))
        else:
            amount = self.percent(abs(change))
        if short:
            return f"{arrow} {amount}"
        return f"{arrow} {amount} {self.t('compare.' + comparison)}"

    def date(self, day: date) -> str:
        return format_date(day, "medium", locale=self.locale)

    def dates(self, period: Period) -> str:
        """The period's days, both ends included: `Oct 1 – 31, 2026`."""
        if period.start_date == period.last_date:
            return self.date(period.start_date)
        return format_interval(period.start_date, period.last_date, "yMMMd", locale=self.locale)

    def period(self, period: Period) -> str:
        """What people call the period: `October 2026`, `Q4 2026`, `2026`, `Oct 1, 2026`, or its days."""
        first = period.start_date
        if period.grain == "day":
            return self.date(first)
        if period.grain == "month":
            return format_date(first, "LLLL yyyy", locale=self.locale)
        if period.grain == "quarter":
            return self.t("period.quarter", quarter=(first.month - 1) // 3 + 1, year=first.year)
        if period.grain == "year":
            return str(first.year)
        if period.grain == "week":
            return self.t("period.week", start=self.date(first))
        return self.dates(period)
