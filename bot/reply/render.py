"""A MetricResult turned into the reply a rep wants to read: the headline number first with its delta, the other
measures as short lines, the breakdown (who is ahead, who is behind), and one footer line saying which days,
whose numbers and what the metric means. Every number is formatted for the asker's locale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from bot.reply.arguments import Arguments, command_words, quoted, to_words
from bot.reply.formatting import Formatter
from bot.reply.messages import Action, Chart, Line, Reply, Span
from metrics.labels import CODED_BREAKDOWNS, category_keys, humanize, none_keys
from metrics.periods import range_period
from metrics.result import BreakdownRow, Measure, MetricResult, Note, Table, is_run_rate, lower_is_better
from metrics.scope import Viewer

__all__ = [
    "metric_reply",
    "leaderboard_reply",
    "short_definition",
    "format_table",
    "metric_title",
    "measure_label",
    "ranked_rows",
    "note_text",
    "coverage_text",
    "no_comparison_text",
]

_MAX_MEASURE_LINES = 10
_MAX_DEFINITION = 140
_MAX_TABLE_MEASURES = 6


def metric_title(fmt: Formatter, metric: str, fallback: str) -> str:
    return fmt.t(f"title.{metric}", fallback)


def measure_label(fmt: Formatter, key: str, fallback: str) -> str:
    """A measure's label in the asker's language; a step `mql_to_sal` is composed from its two stages, a stage's
    `deal:Demo:median_days` from the CRM's stage name and the statistic."""
    if key == "slowest_deal_stage_days" and fmt.t.has(f"measure.{key}"):
        # "Slowest deal stage: Negotiation": the stage is the CRM's own name, after the label's colon.
        stage = fallback.partition(": ")[2]
        return f"{fmt.t(f'measure.{key}')}: {stage}" if stage else fmt.t(f"measure.{key}")
    if fmt.t.has(f"measure.{key}"):
        return fmt.t(f"measure.{key}")
    kind, colon, rest = key.partition(":")
    stage, _, stat = rest.rpartition(":")
    if colon and kind in ("deal", "lead") and stage and fmt.t.has(f"measure.stage.{stat}"):
        name = measure_label(fmt, stage, stage) if kind == "lead" else stage
        return f"{name}: {fmt.t(f'measure.stage.{stat}')}"
    for part in ("attainment", "pace"):  # an activity plan's `calls_attainment`, `calls_pace`
        line = key.removesuffix(f"_{part}")
        if line != key and fmt.t.has(f"measure.{line}") and fmt.t.has(f"measure.{part}"):
            return f"{fmt.t(f'measure.{line}')}: {fmt.t(f'measure.{part}').lower()}"
    line, dot, part = key.partition(".")
    if dot and fmt.t.has(f"measure.{line}"):
        # Plan lines: `revenue.actual` is "Revenue", `revenue.attainment` "Revenue: attainment".
        if part == "actual":
            return fmt.t(f"measure.{line}")
        if fmt.t.has(f"measure.{part}"):
            return f"{fmt.t(f'measure.{line}')}: {fmt.t(f'measure.{part}').lower()}"
    before, sep, after = key.partition("_to_")
    if sep and fmt.t.has(f"measure.{before}") and fmt.t.has(f"measure.{after}"):
        return f"{fmt.t(f'measure.{before}')} → {fmt.t(f'measure.{after}')}"
    return fallback


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


def _closed(result: MetricResult) -> bool:
    return result.coverage is not None and result.coverage.complete


def _cell(fmt: Formatter, measure: Measure, closed: bool) -> str:
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


def _what_it_takes_lines(fmt: Formatter, table: Table) -> list[Line]:
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


def note_text(fmt: Formatter, note: str | Note) -> str:
    """A result's note in the reader's language, its numbers formatted for their locale."""
    if isinstance(note, str):
        return note
    params = {name: fmt.value(value, unit) if unit else str(value) for name, value, unit in note.params}
    return fmt.t(f"note.{note.key}", note.text, **params)


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


def row_label(fmt: Formatter, by: str | None, row: BreakdownRow) -> str:
    """A breakdown row's name in words, as its chart writes it: the row without a value as "No source", a lead
    source, segment or product code (`organic_search`) as the catalogue names it or as words ("Organic search")."""
    if row.key == "":
        return next((fmt.t(key) for key in none_keys(by) if fmt.t.has(key)), row.label)
    if by in CODED_BREAKDOWNS:
        for key in category_keys(row.label, by):
            if fmt.t.has(key):
                text = fmt.t(key)
                return text[:1].upper() + text[1:]
        return humanize(row.label)
    return row.label


def _ahead_behind(fmt: Formatter, result: MetricResult) -> Line | None:
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


def _breakdown_table(fmt: Formatter, result: MetricResult) -> Table:
    # The first measures only: a chat table wider than a phone screen is read by nobody.
    shown = result.rows[0].measures[:_MAX_TABLE_MEASURES]
    keys = [m.key for m in shown]
    labels = [measure_label(fmt, m.key, m.label) for m in shown]
    by = fmt.t(f"by.{result.breakdown_by}", result.breakdown_by or "")
    rows = []
    closed = _closed(result)
    for row in result.rows:
        values = {m.key: m for m in row.measures}
        cells = [row_label(fmt, result.breakdown_by, row)]
        for key in keys:
            measure = values.get(key)
            cells.append(_cell(fmt, measure, closed) if measure is not None else fmt.na)
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


def _actions(
    fmt: Formatter,
    command: str,
    args: Arguments,
    result: MetricResult,
    viewer: Viewer | None,
    breakdowns: tuple,
) -> tuple[Action, ...]:
    # The suggested commands are in the asker's language too, in words the grammar reads back as the same query.
    scope_ref = result.scope.user_id if result.scope.kind == "rep" else None
    locale = fmt.locale
    # Words the command itself read stay (`/plan calls`: the plan line); a person named in words is in the scope.
    own = [quoted(word) for word in args.rest]
    actions = []
    last_month = Arguments(
        period=None, compare=args.compare, scope=args.scope, filters=args.filters, by=args.by, mode=args.mode
    )
    if result.period.label != "last month":
        words = [
            *command_words("last_month", locale),
            *to_words(last_month, scope_ref=scope_ref, locale=locale),
        ]
        actions.append(Action(fmt.t("action.last_month"), " ".join([f"/{command}", *own, *words])))
    if args.compare is None and result.comparison is None:
        words = to_words(
            replace(args, period=result.period, compare="prev"), scope_ref=scope_ref, locale=locale
        )
        actions.append(Action(fmt.t("action.vs_prev"), " ".join([f"/{command}", *own, *words])))
    may_drill = viewer is not None and (viewer.role == "admin" or bool(viewer.managed_team_ids))
    if may_drill and "rep" in breakdowns and args.by != "rep" and result.scope.kind != "rep":
        words = to_words(replace(args, period=result.period, by="rep"), scope_ref=scope_ref, locale=locale)
        actions.append(Action(fmt.t("action.by_rep"), " ".join([f"/{command}", *own, *words])))
    return tuple(actions)


def short_definition(text: str) -> str:
    """The definition's first clause: the footer stays one short line, /help <command> has the whole text."""
    for stop in (". ", "; ", ": "):
        text = text.split(stop, 1)[0]
    if len(text) > _MAX_DEFINITION:
        text = text[:_MAX_DEFINITION].rsplit(" ", 1)[0].rstrip(",;(") + " …"
        return text
    return text.rstrip(".") + "."


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


def _without_empty_comparison(result: MetricResult) -> MetricResult:
    # Deltas against a period without data are all missing: render as if no comparison was drawn, so nothing
    # says "vs last year" next to a number that has no delta.
    if not result.comparison_empty:
        return result
    return replace(result, comparison=None, comparison_period=None)


def _footer(fmt: Formatter, result: MetricResult) -> str:
    definition = short_definition(fmt.t(f"definition.{result.metric}", result.description))
    covered = coverage_text(fmt, result)
    # The footer starts a sentence: "Month to date: …" / "С начала месяца: …".
    parts = [covered[:1].upper() + covered[1:] if covered else fmt.dates(result.period), result.scope.label]
    if result.comparison_period is not None:
        parts.append(fmt.t(f"compare.{result.comparison}") + " " + fmt.dates(result.comparison_period))
    if result.mode:
        parts.append(fmt.t(f"mode.{result.mode}", result.mode))
    return " · ".join(parts) + ". " + definition


def metric_reply(
    result: MetricResult,
    *,
    fmt: Formatter,
    command: str,
    args: Arguments,
    viewer: Viewer | None,
    breakdowns: tuple[str, ...] = (),
    charts: tuple[Chart, ...] = (),
) -> Reply:
    """The reply to a metric command."""
    missing_comparison = no_comparison_text(fmt, result)
    result = _without_empty_comparison(result)
    title = " · ".join(
        [metric_title(fmt, result.metric, result.title), result.scope.label, fmt.period(result.period)]
    )
    lines: list[Line] = []
    early = result.coverage is not None and result.coverage.early
    plan_lines = _plan_lines(fmt, result.measures, result.comparison, closed=_closed(result), early=early)
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
    if (ahead := _ahead_behind(fmt, result)) is not None:
        lines.append(ahead)
    if missing_comparison:
        lines.append((Span(missing_comparison, italic=True),))
    for note in result.notes:
        lines.append((Span(note_text(fmt, note), italic=True),))
    table = None
    own_tables = list(result.tables)
    if result.rows:
        table = _breakdown_table(fmt, result)
    elif own_tables and own_tables[0].key != "what_it_takes":
        table = format_table(fmt, own_tables.pop(0))
    for own in own_tables:
        if own.key == "what_it_takes" and own.rows:
            lines.extend(_what_it_takes_lines(fmt, own))
    return Reply(
        title=title,
        lines=tuple(lines),
        table=table,
        charts=charts,
        actions=_actions(fmt, command, args, result, viewer, breakdowns),
        footer=_footer(fmt, result),
        extra={"locale": fmt.locale, "metric": result.metric},
    )


def leaderboard_reply(
    result: MetricResult,
    *,
    fmt: Formatter,
    measure_key: str,
    command_text: str,
    charts: tuple[Chart, ...] = (),
) -> Reply:
    """`/leaderboard win_rate`: the reps in scope ranked by one measure, best first."""
    missing_comparison = no_comparison_text(fmt, result)
    result = _without_empty_comparison(result)
    sample = next((m for row in result.rows for m in row.measures if m.key == measure_key), None)
    label = measure_label(fmt, measure_key, sample.label if sample else measure_key)
    title = " · ".join(
        [fmt.t("title.leaderboard", label=label), result.scope.label, fmt.period(result.period)]
    )
    ranked = ranked_rows(result.rows, measure_key)
    lines: list[Line] = []
    for place, (row, measure) in enumerate(ranked, 1):
        line: list[Span] = [
            Span(f"{place}. "),
            Span(row_label(fmt, result.breakdown_by, row), bold=place == 1),
            Span(f" — {fmt.measure(measure)}"),
        ]
        delta = fmt.delta(measure, result.comparison)
        if delta:
            line.append(Span(f"  {delta}", italic=True))
        lines.append(tuple(line))
    ranked_keys = {row.key for row, _ in ranked}
    unranked = [row_label(fmt, result.breakdown_by, row) for row in result.rows if row.key not in ranked_keys]
    if unranked:
        lines.append((Span(fmt.t("reply.unranked", names=", ".join(unranked)), italic=True),))
    if not ranked and not unranked:
        lines.append((Span(fmt.t("reply.no_numbers")),))
    if missing_comparison:
        lines.append((Span(missing_comparison, italic=True),))
    table = Table(
        key="leaderboard",
        title=label,
        columns=("#", fmt.t("by.rep"), label),
        rows=tuple(
            (str(i), row_label(fmt, result.breakdown_by, row), fmt.measure(m))
            for i, (row, m) in enumerate(ranked, 1)
        ),
    )
    return Reply(
        title=title,
        lines=tuple(lines),
        table=table,
        charts=charts,
        actions=(
            Action(fmt.t("action.vs_prev"), " ".join([command_text, *command_words("vs.prev", fmt.locale)])),
        )
        if result.comparison is None
        else (),
        footer=_footer(fmt, result),
        extra={"locale": fmt.locale, "metric": result.metric},
    )
