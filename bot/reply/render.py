"""A MetricResult turned into the reply a rep wants to read: the headline number first with its delta, the other
measures as short lines, the breakdown (who is ahead, who is behind), and one footer line saying which days,
whose numbers and what the metric means. Every number is formatted for the asker's locale.
"""

from __future__ import annotations

from dataclasses import replace

from bot.reply.arguments import Arguments, command_words, quoted, to_words
from bot.reply.breakdown import ahead_behind, breakdown_table, format_table, ranked_rows
from bot.reply.footer import coverage_text, footer, no_comparison_text, without_empty_comparison
from bot.reply.formatting import Formatter
from bot.reply.messages import Action, Chart, Line, Reply, Span
from bot.reply.metric_lines import result_lines, what_it_takes_lines
from bot.reply.wording import measure_label, metric_title, note_text, row_label, short_definition
from metrics.result import MetricResult, Table
from metrics.scope import Viewer

# The two reply builders, and (for their users' imports) the pieces they are made of, from the modules beside.
__all__ = [
    "metric_reply",
    "leaderboard_reply",
    "short_definition",
    "format_table",
    "metric_title",
    "measure_label",
    "ranked_rows",
    "row_label",
    "note_text",
    "coverage_text",
    "no_comparison_text",
]


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
    result = without_empty_comparison(result)
    title = " · ".join(
        [metric_title(fmt, result.metric, result.title), result.scope.label, fmt.period(result.period)]
    )
    lines = result_lines(fmt, result)
    if (ahead := ahead_behind(fmt, result)) is not None:
        lines.append(ahead)
    if missing_comparison:
        lines.append((Span(missing_comparison, italic=True),))
    for note in result.notes:
        lines.append((Span(note_text(fmt, note), italic=True),))
    table = None
    own_tables = list(result.tables)
    if result.rows:
        table = breakdown_table(fmt, result)
    elif own_tables and own_tables[0].key != "what_it_takes":
        table = format_table(fmt, own_tables.pop(0))
    for own in own_tables:
        if own.key == "what_it_takes" and own.rows:
            lines.extend(what_it_takes_lines(fmt, own))
    return Reply(
        title=title,
        lines=tuple(lines),
        table=table,
        charts=charts,
        actions=_actions(fmt, command, args, result, viewer, breakdowns),
        footer=footer(fmt, result),
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
    result = without_empty_comparison(result)
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
        footer=footer(fmt, result),
        extra={"locale": fmt.locale, "metric": result.metric},
    )
