"""A reply's tables and ranking: a breakdown's rows ranked best first (who is ahead, who is behind), the breakdown
as a table, a metric's own table (cohorts) — every cell formatted for the reader's locale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.reply.formatting import Formatter
from bot.reply.messages import Line, Span
from bot.reply.metric_lines import is_closed, measure_cell
from bot.reply.wording import measure_label, row_label
from metrics.result import BreakdownRow, Measure, MetricResult, Table, lower_is_better

__all__ = ["ranked_rows", "ahead_behind", "breakdown_table", "format_table"]

_MAX_TABLE_MEASURES = 6


def ranked_rows(rows: Sequence[BreakdownRow], key: str) -> list[tuple[BreakdownRow, Measure]]:
    """Rows with a value for measure `key`, best first — the smallest first where less is better (costs, churn,
    days); n/a rows are left out: they rank nowhere."""
    found = []
    for row in rows:
        try:
            measure = row.measure(key)
        except KeyError:
            continue
        if measure.value is not None:
            found.append((row, measure))
    sign = 1.0 if lower_is_better(key) else -1.0
    return sorted(found, key=lambda pair: (sign * float(pair[1].value or 0), pair[0].label))


def ahead_behind(fmt: Formatter, result: MetricResult) -> Line | None:
    """ "Ahead: Rita (32.0%) · Behind: Rob (12.0%)" for a breakdown by rep or team whose rows differ; else None."""
    if result.breakdown_by not in ("rep", "team") or not result.measures:
        return None
    ranked = ranked_rows(result.rows, result.headline.key)
    if len(ranked) < 2 or ranked[0][1].value == ranked[-1][1].value:
        return None
    (best, best_m), (worst, worst_m) = ranked[0], ranked[-1]
    return (
        Span(fmt.t("reply.ahead") + " ", bold=True),
        Span(f"{row_label(fmt, result.breakdown_by, best)} ({fmt.measure(best_m)})"),
        Span(" · "),
        Span(fmt.t("reply.behind") + " ", bold=True),
        Span(f"{row_label(fmt, result.breakdown_by, worst)} ({fmt.measure(worst_m)})"),
    )


def breakdown_table(fmt: Formatter, result: MetricResult) -> Table:
    """The breakdown's rows as a table of their first measures, each row named and each cell formatted."""
    # The first measures only: a chat table wider than a phone screen is read by nobody.
    shown = result.rows[0].measures[:_MAX_TABLE_MEASURES]
    keys = [m.key for m in shown]
    labels = [measure_label(fmt, m.key, m.label) for m in shown]
    by = fmt.t(f"by.{result.breakdown_by}", result.breakdown_by or "")
    rows = []
    closed = is_closed(result)
    for row in result.rows:
        values = {m.key: m for m in row.measures}
        cells = [row_label(fmt, result.breakdown_by, row)]
        for key in keys:
            measure = values.get(key)
            cells.append(measure_cell(fmt, measure, closed) if measure is not None else fmt.na)
        rows.append(tuple(cells))
    return Table(
        key=f"by_{result.breakdown_by}",
        title=fmt.t("reply.by", by=by),
        columns=(by, *labels),
        rows=tuple(rows),
    )


def format_table(fmt: Formatter, table: Table) -> Table:
    """A metric's own table (cohorts, what it takes) with every cell formatted for the locale."""
    units = list(table.units) + [None] * (len(table.columns) - len(table.units))
    rows = tuple(
        tuple(
            measure_label(fmt, value, value) if isinstance(value, str) else fmt.cell(value, units[i])
            for i, value in enumerate(row)
        )
        for row in table.rows
    )
    columns = tuple(measure_label(fmt, str(column), str(column)) for column in table.columns)
    return replace(
        table, title=fmt.t(f"table.{table.key}", table.title), columns=columns, rows=rows, units=()
    )
