"""The chat commands that each ask one catalogue metric, and how they are answered: the words read by the grammar
(a word it cannot place names a person the asker may see), the MetricQuery with the chat's defaults, the one door
`metrics.query`, and the reply with its charts."""

from __future__ import annotations

from dataclasses import replace

from bot.grammar import Arguments, parse_arguments
from bot.people import WhichPerson, match_people, person_choices
from bot.reply.charts import render_charts_safely
from bot.reply.command import Command, CommandContext
from bot.reply.messages import Reply
from bot.reply.render import metric_reply
from metrics.catalogue import MetricQuery, get_metric, query
from metrics.periods import default_period
from metrics.scope import Scope, default_scope, visible_people
from storage.errors import UserError
from storage.schema import PLAN_METRICS

__all__ = ["METRIC_COMMANDS", "answer_metric_command", "effective_query"]


METRIC_COMMANDS: tuple[Command, ...] = (
    Command("funnel", "/funnel last month", "help.funnel", "funnel", ("воронка",)),
    Command("activity", "/activity yesterday", "help.activity", "activity", ("активность",)),
    Command(
        "plan",
        "/plan this month",
        "help.plan",
        "plan",
        ("план",),
        option_words=("plan_metric", PLAN_METRICS),
    ),
    Command("retention", "/retention last quarter", "help.retention", "retention", ("удержание",)),
    Command("cycle", "/cycle last quarter", "help.cycle", "cycle", ("цикл",)),
    Command("stages", "/stages last quarter", "help.stages", "stages", ("этапы",)),
    Command("sql", "/sql last month", "help.sql", "sql"),
    Command("winrate", "/winrate last quarter", "help.winrate", "win_rate", ("win_rate", "конверсия")),
    Command("revenue", "/revenue this quarter", "help.revenue", "revenue", ("выручка",)),
    Command("cac", "/cac last quarter", "help.cac", "cac"),
    Command("ltv", "/ltv this year", "help.ltv", "ltv"),
    Command("roi", "/roi last quarter", "help.roi", "roi"),
    Command("email", "/email last month", "help.email", "email", ("рассылка",)),
    Command("mrr", "/mrr last month", "help.mrr", "mrr"),
    Command("cs", "/cs last quarter", "help.cs", "cs"),
)


def effective_query(
    ctx: CommandContext, args: Arguments, metric: str, *, options: tuple[tuple[str, str], ...] = ()
) -> tuple[MetricQuery, Arguments]:
    """The MetricQuery the arguments ask for, with the chat's defaults: a group bound to a team answers for that
    team, and a team-level answer in a private chat is broken down by rep when the metric can (so a manager sees
    who is behind)."""
    assert ctx.viewer is not None
    request, viewer = ctx.request, ctx.viewer
    scope = args.scope
    if scope is None and request.chat_type == "group" and request.bound_team_id:
        scope = Scope("team", request.bound_team_id)
    definition = get_metric(metric)
    effective_scope = scope or default_scope(viewer)
    by = args.by
    # In a group every member reads the answer: a team there gets its totals; who did what only when asked.
    if (
        by is None
        and effective_scope.kind == "team"
        and "rep" in definition.breakdowns
        and request.chat_type != "group"
    ):
        by = "rep"
    period = args.period or default_period(now=request.now, tz=ctx.tz)
    q = MetricQuery(
        metric=definition.name,
        viewer_id=viewer.user_id,
        now=request.now,
        period=period,
        scope=scope,
        filters=args.filters,
        by=by,
        compare=args.compare,
        mode=args.mode,
        options=options,
    )
    return q, replace(args, scope=scope, by=by)


def answer_metric_command(ctx: CommandContext) -> Reply:
    """The reply to a metric command (`/funnel last month by rep`, `/plan calls Anna`)."""
    command = ctx.command
    assert command.metric is not None and ctx.viewer is not None
    args = parse_arguments(ctx.words, now=ctx.request.now, tz=ctx.tz)
    options = dict(command.options)
    rest = list(args.rest)
    own: list[str] = []
    if command.option_words and rest:
        option, values = command.option_words
        for word in list(rest):
            if word.lower() in values:
                options[option] = word.lower()
                own.append(word.lower())
                rest.remove(word)
    if rest:
        args = _rest_as_person(ctx, args, tuple(rest), own)
    q, args = effective_query(ctx, args, command.metric, options=tuple(sorted(options.items())))
    # The viewer was loaded for this request already (a minute-old link is as good as a fresh one).
    result = query(ctx.engine, ctx.settings, q, viewer=ctx.viewer)
    charts = render_charts_safely(result, ctx.fmt, now=ctx.request.now) if command.chart else ()
    return metric_reply(
        result,
        fmt=ctx.fmt,
        command=command.name,
        args=args,
        viewer=ctx.viewer,
        breakdowns=get_metric(command.metric).breakdowns,
        charts=charts,
    )


def _rest_as_person(ctx: CommandContext, args: Arguments, rest: tuple[str, ...], own: list[str]) -> Arguments:
    """Words the grammar could not place: a rep's id or name (`rep-001`, `Anna Petrova`), or a mistake."""
    assert ctx.viewer is not None
    among = visible_people(ctx.viewer)
    found = [] if args.scope is not None else match_people(ctx.engine, rest, among)
    if not found:
        raise UserError("args.unknown", "I don't understand '{text}'.", text=" ".join(rest))
    if len(found) > 1:
        choices = person_choices(ctx.command.name, args, found, locale=ctx.locale, own=own)
        raise WhichPerson(" ".join(rest), choices)
    return replace(args, scope=Scope("rep", found[0].user_id), rest=())
