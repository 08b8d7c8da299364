"""The `weekly_changes` digest as a message: one sentence per movement, written from the numbers alone.

    Win rate fell from 31.0% to 24.0% (4 weeks ago 28.0%): Liam Mitchell −18.0 pts on 11 deals, Paid search
    −9.0 pts on 8 deals.
    Доля выигранных сделок снизилась с 31,0 % до 24,0 % (4 недели назад — 28,0 %): Liam Mitchell −18,0 п. п. по
    11 сделкам, Платный поиск −9,0 п. п. по 8 сделкам.

A manager reads one block per team they manage, an admin one for the organisation; a week where nothing moved
enough says so in one line. A chart of the movers goes with it (metrics/charts/changes.py), a rate's bar in points
as its sentence says, and a button under it opens each of the first movements' own command for the week, by rep
(one button per command: revenue and deals won open the same /revenue).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts.audience import Person
from alerts.digests.weekly_changes import Movement, Mover, WeeklyChanges, WeeklyNumbers
from bot.reply.arguments import Arguments, to_words
from bot.reply.formatting import Formatter
from bot.reply.messages import Action, Chart, Line, Reply, Span
from bot.reply.plurals import plural
from bot.reply.render import row_label
from metrics.charts.changes import ChangeBar, draw_changes
from metrics.charts.context import locale_formatters
from metrics.charts.style import to_png
from metrics.scope import Scope
from storage.config.settings import Settings

__all__ = ["weekly_changes", "movement_sentence", "quiet_line", "scopes_of"]

log = logging.getLogger(__name__)

_MAX_ACTIONS = 3
_MINUS = "\u2212"

_NAMES = {
    "revenue": "Revenue",
    "deals_won": "Deals won",
    "win_rate": "Win rate",
    "acceptance_rate": "MQL → SQL acceptance",
    "activities": "Activities done",
    "pipeline_created": "New opportunities",
}


def scopes_of(person: Person) -> list[Scope]:
    """Whose weekly changes a person reads: the organisation's for an admin, each managed team's for a manager."""
    if person.is_admin:
        return [Scope("org")]
    return [Scope("team", team_id) for team_id in person.managed_team_ids]


def _metric_name(fmt: Formatter, key: str) -> str:
    return fmt.t(f"weekly.metric.{key}", _NAMES[key])


def _signed(fmt: Formatter, movement: Movement, change: float) -> str:
    sign = "+" if change > 0 else _MINUS
    if movement.unit == "percent":
        return sign + fmt.t("weekly.points", "{value} pts", value=fmt.decimal(abs(change) * 100, 1))
    return sign + fmt.value(abs(change), movement.unit)


def _relative(fmt: Formatter, relative: float | None) -> str:
    if relative is None:  # from 0: no percentage
        return ""
    return ("+" if relative > 0 else _MINUS) + fmt.percent(abs(relative))


def _mover_text(fmt: Formatter, movement: Movement, mover: Mover) -> str:
    text = f"{row_label(fmt, mover.by, mover.row)} {_signed(fmt, movement, mover.change)}"
    if movement.unit == "percent":
        noun = movement.metric.noun
        text += " " + plural(fmt, f"weekly.on.{noun}", mover.sample, "on {count} " + noun)
    return text


def movement_sentence(fmt: Formatter, movement: Movement) -> str:
    """ "Win rate fell from 31.0% to 24.0% (4 weeks ago 28.0%): Liam Mitchell −18.0 pts on 11 deals."."""
    t, unit, key = fmt.t, movement.unit, movement.metric.key
    direction = "rose" if movement.change > 0 else "fell"
    head = t(
        f"weekly.{direction}.{key}",
        f"{_NAMES[key]} {direction} from {{before}} to {{now}}",
        before=fmt.value(movement.previous, unit),
        now=fmt.value(movement.value, unit),
    )
    if movement.four_weeks_ago is not None:
        earlier = fmt.value(movement.four_weeks_ago, unit)
        head += " " + t("weekly.four_weeks_ago", "(4 weeks ago {value})", value=earlier)
    movers = [_mover_text(fmt, movement, mover) for mover in movement.movers]
    return f"{head}: {', '.join(movers)}." if movers else f"{head}."


def quiet_line(fmt: Formatter, settings: Settings) -> str:
    config = settings.digests.weekly_changes
    return fmt.t(
        "weekly.quiet",
        "A quiet week: no key number moved by {pct} or more ({pts} for rates) on enough data.",
        pct=fmt.percent(config.min_change_pct / 100),
        pts=fmt.t("weekly.points", "{value} pts", value=fmt.decimal(config.min_change_pts, 1)),
    )


def _action(fmt: Formatter, changes: WeeklyChanges, movement: Movement) -> Action:
    spec = movement.metric
    scope = changes.scope if changes.scope.kind == "org" else Scope("team", changes.scope_label)
    args = Arguments(period=changes.week, compare="prev", scope=scope, by="rep", mode=spec.mode)
    words = to_words(args, locale=fmt.locale)
    label = fmt.t("weekly.action", "{metric} by rep", metric=_metric_name(fmt, spec.key))
    return Action(label, " ".join([f"/{spec.command}", *words]))


def _chart(
    fmt: Formatter, settings: Settings, blocks: Sequence[WeeklyChanges], several: bool
) -> tuple[Chart, ...]:
    bars = []
    for changes in blocks:
        for movement in changes.movements:
            name = _metric_name(fmt, movement.metric.key)
            before, now = (
                fmt.value(movement.previous, movement.unit),
                fmt.value(movement.value, movement.unit),
            )
            label = f"{changes.scope_label} · {name}" if several else name
            if movement.unit == "percent":  # points, as the sentence says
                length, change = movement.change, _signed(fmt, movement, movement.change)
            else:
                length = movement.relative
                change = _relative(fmt, movement.relative)
            text = f"{before} → {now} ({change})" if change else f"{before} → {now}"
            bars.append(ChangeBar(label, length, text))
    if not bars:
        return ()
    title = fmt.t("weekly.chart.title", "What changed, week on week")
    scope = ", ".join(changes.scope_label for changes in blocks)
    try:
        figure = draw_changes(
            bars,
            locale_formatters(fmt.locale, settings.org.currency),
            title=title,
            subtitle=f"{scope} · {fmt.dates(blocks[0].week)}",
            xlabel=fmt.t(
                "weekly.chart.axis_units",
                "Change against the week before: % for counts and amounts, pts for rates",
            ),
        )
        if figure is None:
            return ()
        return (Chart("weekly_changes.png", to_png(figure), caption=title, alt_text=title),)
    except Exception:  # a chart that cannot be drawn must not hold the text back
        log.exception("weekly changes: the chart could not be drawn")
        return ()


def weekly_changes(person: Person, numbers: WeeklyNumbers, settings: Settings) -> Reply:
    """The `weekly_changes` digest for `person` (a manager or an admin)."""
    fmt = Formatter(person.locale or settings.org.locale, settings.org.currency)
    t = fmt.t
    blocks = [numbers.changes(scope) for scope in scopes_of(person)]
    several = len(blocks) > 1
    lines: list[Line] = []
    actions: list[Action] = []
    for changes in blocks:
        if several:
            lines.append((Span(changes.scope_label, bold=True),))
        if not changes.movements:
            lines.append((Span(quiet_line(fmt, settings)),))
        for movement in changes.movements:
            lines.append((Span(movement_sentence(fmt, movement)),))
            action = _action(fmt, changes, movement)
            # Revenue and deals won open the same command: one button for both, and the slot to the next.
            if len(actions) < _MAX_ACTIONS and action.command not in {a.command for a in actions}:
                actions.append(action)
    week = numbers.week
    footer = t(
        "weekly.footer",
        "{week} vs {before}; 4 weeks earlier {earlier} · /unsubscribe weekly_changes to stop it",
        week=fmt.dates(week),
        before=fmt.dates(week.previous()),
        earlier=fmt.dates(numbers.four_weeks_ago),
    )
    return Reply(
        title=t("weekly.title", "What changed · {dates}", dates=fmt.dates(week)),
        lines=tuple(lines),
        charts=_chart(fmt, settings, blocks, several),
        actions=tuple(actions),
        kind="info",
        footer=footer,
    )
