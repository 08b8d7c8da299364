"""The line under a reply — which days it covers (to date), whose numbers, compared with what, and what the metric
means — and the line saying a comparison has no data to compare with."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.reply.formatting import Formatter
from bot.reply.wording import short_definition
from metrics.periods import range_period
from metrics.result import MetricResult

__all__ = ["coverage_text", "no_comparison_text", "without_empty_comparison", "footer"]


_TO_DATE_GRAINS = ("day", "week", "month", "quarter", "year")


def coverage_text(fmt: Formatter, result: MetricResult) -> str | None:
    """What a period still running covers: "month to date: Dec 1 – 2, 2026, 1 of 22 working days" (working days
    over, as plan pace counts them); None for a period that is over."""
    coverage = result.coverage
    if coverage is None or not coverage.partial:
        return None
    grain = "year" if result.period.label == "ytd" else result.period.grain
    days = range_period(coverage.start, coverage.last_day + timedelta(days=1), result.period.tz)
    return fmt.t(
        f"coverage.{grain if grain in _TO_DATE_GRAINS else 'days'}",
        dates=fmt.dates(days),
        elapsed=fmt.count(coverage.working_days_elapsed),
        total=fmt.count(coverage.working_days_total),
    )


def no_comparison_text(fmt: Formatter, result: MetricResult) -> str | None:
    """ "No data for November 2025 to compare." when the compared period holds none; None otherwise."""
    if not result.comparison_empty or result.comparison_period is None:
        return None
    return fmt.t("compare.no_data", period=fmt.period(result.comparison_period))


def without_empty_comparison(result: MetricResult) -> MetricResult:
    """The result as if no comparison was asked, when the compared period holds no data."""
    # Deltas against a period without data are all missing: render as if no comparison was drawn, so nothing
    # says "vs last year" next to a number that has no delta.
    if not result.comparison_empty:
        return result
    return replace(result, comparison=None, comparison_period=None)


def footer(fmt: Formatter, result: MetricResult) -> str:
    """ "Month to date: Dec 1 – 2, 2026, 1 of 23 working days · Rita Rep. <the definition's first clause>." """
    definition = short_definition(fmt.t(f"definition.{result.metric}", result.description))
    covered = coverage_text(fmt, result)
    # The footer starts a sentence: "Month to date: …" / "С начала месяца: …".
    parts = [covered[:1].upper() + covered[1:] if covered else fmt.dates(result.period), result.scope.label]
    if result.comparison_period is not None:
        parts.append(fmt.t(f"compare.{result.comparison}") + " " + fmt.dates(result.comparison_period))
    if result.mode:
        parts.append(fmt.t(f"mode.{result.mode}", result.mode))
    return " · ".join(parts) + ". " + definition
