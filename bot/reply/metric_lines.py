"""The body of a metric reply, one line per thing a reader looks for: a plan line with attainment, pace, forecast
and need; a funnel stage with its step; a stage's durations; else one line per measure, the headline first. A
run-rate of a period only a few working days old says "(early)" once; the result's note says why."""

from __future__ import annotations

from collections.abc import Sequence

from bot.reply.formatting import Formatter
from bot.reply.messages import Line, Span
from bot.reply.wording import measure_label
from metrics.result import Measure, MetricResult, Table, is_run_rate

__all__ = ["CLOSED_NEED", "is_closed", "measure_cell", "result_lines", "what_it_takes_lines"]

_MAX_MEASURE_LINES = 10


def _measure_line(
    fmt: Formatter, measure: Measure, comparison: str | None, *, headline: bool, early: bool = False
) -> Line:
    label = measure_label(fmt, measure.key, measure.label)
    spans = [Span(f"{label}: ", bold=headline), Span(fmt.measure(measure), bold=True)]
    if early:
        spans.append(Span(" " + fmt.t("plan.early")))
    delta = fmt.delta(measure, comparison)
    if delta:
        spans.append(Span(f"  {delta}", italic=not headline))
    return tuple(spans)


_PLAN_PARTS = ("attainment", "actual", "target", "pace", "forecast", "needed_per_day")


CLOSED_NEED = "—"
"""What a closed period needs per working day, in its text line and in every table: nothing can be done in it."""


def is_closed(result: MetricResult) -> bool:
    """Whether the result's period is over, so nothing more is needed per working day."""
    return result.coverage is not None and result.coverage.complete


def measure_cell(fmt: Formatter, measure: Measure, closed: bool) -> str:
    """A measure as a table cell: a closed period's need per working day is CLOSED_NEED."""
    if closed and measure.key.endswith(".needed_per_day"):
        return CLOSED_NEED
    return fmt.measure(measure)


def _plan_lines(
    fmt: Formatter,
    measures: Sequence[Measure],
    comparison: str | None,
    *,
    closed: bool = False,
    early: bool = False,
) -> list[Line] | None:
    """Plan measures (`revenue.attainment`, `revenue.actual` …) as one line per plan line:
    "Revenue: 67.7% of plan — $1.8M of $2.7M · pace 94.8% · forecast $2.6M · needs $146K a working day"."""
    lines: dict[str, dict[str, Measure]] = {}
    for measure in measures:
        line, dot, part = measure.key.partition(".")
        if dot and part in _PLAN_PARTS:
            lines.setdefault(line, {})[part] = measure
    if not lines:
        return None
    out: list[Line] = []
    for line, parts in lines.items():
        label = measure_label(fmt, line, parts.get("actual", next(iter(parts.values()))).label.split(":")[0])
        spans = [Span(f"{label}: ", bold=not out)]
        if "attainment" in parts:
            spans.append(Span(fmt.t("plan.of_plan", value=fmt.measure(parts["attainment"])), bold=True))
            delta = fmt.delta(parts["attainment"], comparison)
            if delta:
                spans.append(Span(f"  {delta}", italic=bool(out)))
        details = []
        if "actual" in parts and "target" in parts:
            details.append(
                fmt.t(
                    "plan.actual_of_target",
                    actual=fmt.measure(parts["actual"]),
                    target=fmt.measure(parts["target"]),
                )
            )
        for part in ("pace", "forecast"):
            if part in parts and parts[part].value is not None:
                detail = f"{fmt.t(f'plan.{part}')} {fmt.measure(parts[part])}"
                if part == "forecast" and early and not out:  # once, on the headline line; the note says why
                    detail += " " + fmt.t("plan.early")
                details.append(detail)
        needed = parts.get("needed_per_day")
        if needed is not None and closed:
            details.append(fmt.t("plan.needed_closed", value=CLOSED_NEED))
        elif needed is not None and needed.value:
            details.append(fmt.t("plan.needed", value=fmt.measure(needed)))
        if details:
            spans.append(Span(" — " + " · ".join(details)))
        out.append(tuple(spans))
    return out


def _funnel_lines(fmt: Formatter, result: MetricResult) -> list[Line] | None:
    """A funnel as one line per stage with the step into it ("MQL: 232 · 59.5% of Leads"), then one line with the
    overall conversion and the named rates — instead of fifteen lines of counts and percentages."""
    try:
        stages = [str(stage) for stage, _ in result.series_by_key("stages").points]
        by_key = {m.key: m for m in result.measures}
    except KeyError:
        return None
    if not stages or any(stage not in by_key for stage in stages):
        return None
    lines: list[Line] = []
    for i, stage in enumerate(stages):
        count = by_key[stage]
        spans = [
            Span(measure_label(fmt, stage, count.label) + ": ", bold=i == 0),
            Span(fmt.measure(count), bold=True),
        ]
        delta = fmt.delta(count, result.comparison, short=True)
        if delta:
            spans.append(Span(f" {delta}", italic=True))
        step = by_key.get(f"{stages[i - 1]}_to_{stage}") if i else None
        if step is not None:
            before = measure_label(fmt, stages[i - 1], stages[i - 1])
            spans.append(Span(" · " + fmt.t("funnel.step", rate=fmt.measure(step), stage=before)))
            step_delta = fmt.delta(step, result.comparison, short=True)
            if step_delta:
                spans.append(Span(f" {step_delta}", italic=True))
        lines.append(tuple(spans))
    rates = [by_key.get(f"{stages[0]}_to_{stages[-1]}")] + [by_key.get(k) for k in _FUNNEL_RATES]
    summary = [
        " ".join(
            part
            for part in (
                measure_label(fmt, m.key, m.label),
                fmt.measure(m),
                fmt.delta(m, result.comparison, short=True),
            )
            if part
        )
        for m in rates
        if m is not None
    ]
    if summary and result.comparison:
        summary[-1] += " " + fmt.t("compare." + result.comparison)
    if summary:
        lines.append((Span(" · ".join(summary), italic=True),))
    return lines


_FUNNEL_RATES = ("mql_rate", "acceptance_rate", "proposal_rate")
_STAGE_SERIES = (("deal_stages", "deal"), ("lead_stages", "lead"))


def _stage_lines(fmt: Formatter, result: MetricResult) -> list[Line] | None:
    """Stage durations as one line per stage the chart shows, deal stages then lead stages:
    "Discovery: median 7.7 d · mean 12.5 d · 10 exits" — every stage, not the first three that fit ten lines."""
    by_key = {m.key: m for m in result.measures}
    groups = []
    for series_key, kind in _STAGE_SERIES:
        try:
            stages = [str(stage) for stage, _ in result.series_by_key(series_key).points]
        except KeyError:
            return None
        if stages:
            groups.append((kind, stages))
    if not groups or "slowest_deal_stage_days" not in by_key:
        return None
    slowest = by_key["slowest_deal_stage_days"]
    lines: list[Line] = [_measure_line(fmt, slowest, result.comparison, headline=True)]
    deal_stages = next((stages for kind, stages in groups if kind == "deal"), [])
    timed = [
        s
        for s in deal_stages
        if (m := by_key.get(f"deal:{s}:median_days")) is not None and m.value is not None
    ]
    if timed and slowest.value is not None:
        # The slowest stage by name, in the reader's language: the first with the longest median, as the core picks.
        name = max(timed, key=lambda s: float(by_key[f"deal:{s}:median_days"].value or 0))
        lines[0] = (
            Span(fmt.t("stages.slowest", stage=name) + ": ", bold=True),
            *lines[0][1:],
        )
    for kind, stages in groups:
        lines.append((Span(fmt.t(f"stages.{kind}") + ":", bold=True),))
        for stage in stages:
            parts = [by_key.get(f"{kind}:{stage}:{stat}") for stat in ("median_days", "mean_days", "exits")]
            median, mean, exits = (fmt.measure(m) if m is not None else fmt.na for m in parts)
            label = measure_label(fmt, stage, stage) if kind == "lead" else stage
            text = fmt.t("stages.line", median=median, mean=mean, exits=exits)
            line = [Span(f"{label}: "), Span(text)]
            delta = fmt.delta(parts[0], result.comparison, short=True) if parts[0] is not None else ""
            if delta:
                line.append(Span(f"  {delta}", italic=True))
            lines.append(tuple(line))
    return lines


def _trend_line(fmt: Formatter, measure: Measure) -> Line:
    word = (
        {1: "rising", -1: "falling", 0: "flat"}.get(int(measure.value), "flat")
        if measure.value is not None
        else "na"
    )
    return (Span(fmt.t("plan.trend") + ": "), Span(fmt.t(f"plan.trend.{word}"), bold=True))


def what_it_takes_lines(fmt: Formatter, table: Table) -> list[Line]:
    """The reverse funnel as lines: what is still needed to make the plan, in total and per working day."""
    steps = []
    for step, needed, per_day in table.rows:
        label = measure_label(fmt, str(step), str(step))
        if needed is None:
            steps.append(f"{label} {fmt.na}")
        else:
            steps.append(
                fmt.t("plan.step", label=label, needed=fmt.count(needed), per_day=fmt.decimal(per_day, 1))
                if per_day is not None
                else f"{label} {fmt.count(needed)}"
            )
    return [(Span(fmt.t("table.what_it_takes") + ": ", bold=True), Span(" · ".join(steps)))]


def result_lines(fmt: Formatter, result: MetricResult) -> list[Line]:
    """The lines of a result's numbers, in the shape its family reads best (plan, funnel, stages, else measures)."""
    lines: list[Line] = []
    early = result.coverage is not None and result.coverage.early
    plan_lines = _plan_lines(fmt, result.measures, result.comparison, closed=is_closed(result), early=early)
    funnel_lines = _funnel_lines(fmt, result) if plan_lines is None else None
    stage_lines = _stage_lines(fmt, result) if plan_lines is None and funnel_lines is None else None
    if funnel_lines is not None:
        lines.extend(funnel_lines)
    elif stage_lines is not None:
        lines.extend(stage_lines)
    elif plan_lines is not None:
        lines.extend(plan_lines)
        for measure in result.measures:
            if measure.key == "dynamics_trend":
                lines.append(_trend_line(fmt, measure))
            elif "." not in measure.key:
                lines.append(_measure_line(fmt, measure, result.comparison, headline=False))
    elif result.measures:
        shown = result.measures[:_MAX_MEASURE_LINES]
        # As a plan's forecast: the first run-rate with a value says "(early)", once; the result's note says why.
        flagged = (
            next((m for m in shown if is_run_rate(m.key) and m.value is not None), None) if early else None
        )
        for i, measure in enumerate(shown):
            lines.append(
                _measure_line(fmt, measure, result.comparison, headline=i == 0, early=measure is flagged)
            )
    else:
        lines.append((Span(fmt.t("reply.no_numbers")),))
    return lines
