"""An alert notice as a chat message: what fired, the value, the threshold and comparison, who moved it most, and
buttons to snooze or acknowledge it."""

from __future__ import annotations

from alerts.rules.evaluate import Contributor, Notice
from bot.reply.formatting import Formatter
from bot.reply.i18n import Translator
from bot.reply.messages import Action, Line, Reply, Span
from bot.reply.plurals import plural
from bot.reply.render import measure_label
from metrics.periods import Period
from storage.config.alerts import AlertRule, is_builtin_name

__all__ = ["CLEARS", "notice_reply", "period_text", "rule_title", "threshold_text", "top_contributors"]

_TOP = 3

CLEARS = {
    "below": ("alerts.clears_above", "clears above {value}"),
    "pace_below": ("alerts.clears_above", "clears above {value}"),
    "above": ("alerts.clears_below", "clears below {value}"),
    "drops_by": ("alerts.clears_drop", "clears when the drop is under {value}"),
}
"""How a rule's clearing line reads, by its condition: (catalogue key, English)."""


def top_contributors(
    rule: AlertRule, contributors: tuple[Contributor, ...]
) -> tuple[list[Contributor], bool]:
    """The rows that moved the number most in the alert's direction (down for below/drops, up for above), and
    whether they are movers (True) or, with nothing to compare with, just the lowest (highest) values."""
    rising = rule.condition == "above"
    moved = [c for c in contributors if c.change is not None and (c.change > 0 if rising else c.change < 0)]
    moved.sort(key=lambda c: (-(c.change or 0.0) if rising else (c.change or 0.0), c.label))
    if moved:
        return moved[:_TOP], True
    # Nothing to compare with: name the extremes instead.
    valued = [c for c in contributors if c.value is not None]
    valued.sort(key=lambda c: (-(c.value or 0.0) if rising else (c.value or 0.0), c.label))
    return valued[:_TOP], False


def threshold_text(fmt: Formatter, rule: AlertRule, unit: str, line: float | None = None) -> str:
    """The threshold (or another line of the rule, in the threshold's units) as its reader writes it."""
    value = rule.threshold if line is None else line
    if rule.condition in ("drops_by", "pace_below") or unit == "percent":
        return fmt.percent(value / 100.0)
    return fmt.value(value, unit)


def _hold_line(fmt: Formatter, rule: AlertRule, unit: str) -> Line | None:
    """ "Condition held for 2 runs in a row · clears above 23.0%": what the rule waited for before it fired and
    what it waits for to resolve, when it asks for more than the default."""
    parts = []
    if rule.for_runs > 1:
        parts.append(plural(fmt, "alert.held_for", rule.for_runs, "condition held for {count} runs in a row"))
    if rule.clear_threshold is not None:
        key, default = CLEARS[rule.condition]
        parts.append(fmt.t(key, default, value=threshold_text(fmt, rule, unit, rule.clear_threshold)))
    if not parts:
        return None
    text = " · ".join(parts)
    return (Span(text[:1].upper() + text[1:], italic=True),)


def _change_text(fmt: Formatter, contributor: Contributor, unit: str, moved: bool) -> str:
    if contributor.change is None or not moved:
        return fmt.value(contributor.value, unit)
    arrow = "▲" if contributor.change > 0 else "▼"
    if unit == "percent":
        return f"{arrow} {fmt.t('value.points', value=fmt.decimal(abs(contributor.change) * 100, 1))}"
    return f"{arrow} {fmt.value(abs(contributor.change), unit)}"


def rule_title(t: Translator, rule: AlertRule) -> str:
    """The rule's name for its reader: a built-in rule's in their language, an organisation's own as written."""
    return t(f"alert_rule.{rule.id}", rule.title) if is_builtin_name(rule) else rule.title


def period_text(fmt: Formatter, period: Period) -> str:
    """The watched period in the reader's words with its dates: "today (Dec 7, 2026)", "this month (Dec 1 – 31,
    2026)"; a held message read the next morning still says which day it meant."""
    key = f"nudge.period.{period.label.replace(' ', '_')}"
    dated = fmt.dates(period)
    return (
        fmt.t("alert.period", "{words} ({dates})", words=fmt.t(key), dates=dated) if fmt.t.has(key) else dated
    )


def notice_reply(rule: AlertRule, notice: Notice, fmt: Formatter, *, period: Period) -> Reply:
    """The message of a fired, repeated or resolved alert."""
    t = fmt.t
    obs = notice.observation
    unit = "percent" if rule.condition == "pace_below" else obs.unit
    value = fmt.value(obs.value, unit)
    measure = rule.watched_measure or rule.metric
    label = measure_label(fmt, measure, measure)
    threshold = threshold_text(fmt, rule, unit)
    head = {"fired": "🔔", "repeated": "🔁", "resolved": "✅"}[notice.kind]
    title = f"{head} {t(f'alert.{notice.kind}', notice.kind.capitalize())}: {rule_title(t, rule)} · {obs.scope_label}"
    lines: list[Line] = []
    if rule.condition == "drops_by":
        previous = fmt.value(obs.previous, unit)
        comparison = t(
            f"alert.compare.{rule.compare}", "vs prev" if rule.compare == "prev" else "vs a week ago"
        )
        condition = t(
            "alert.drops_by", "{label}: {value}, was {previous} {comparison} (alert when it drops by {threshold})",
            label=label, value=value, previous=previous, comparison=comparison, threshold=threshold,
        )  # fmt: skip
    else:
        condition = t(
            f"alert.{rule.condition}", "{label}: {value} (alert {condition} {threshold})",
            label=label, value=value, threshold=threshold, condition=rule.condition.replace("_", " "),
        )  # fmt: skip
    lines.append((Span(condition, bold=notice.kind != "resolved"),))
    hold = _hold_line(fmt, rule, unit) if notice.kind == "fired" else None
    if hold is not None:
        lines.append(hold)
    if notice.kind != "resolved":
        top, moved = top_contributors(rule, obs.contributors)
        if top:
            names = ", ".join(f"{c.label} ({_change_text(fmt, c, unit, moved)})" for c in top)
            heading = t("alert.moved", "Moved it most") if moved else t("alert.lowest", "Lowest")
            if not moved and rule.condition == "above":
                heading = t("alert.highest", "Highest")
            lines.append((Span(heading + ": ", bold=True), Span(names)))
        if obs.sample is not None and rule.min_sample:
            lines.append(
                (Span(t("alert.sample", "Sample: {sample}", sample=fmt.count(obs.sample)), italic=True),)
            )
    actions: tuple[Action, ...] = ()
    if notice.kind != "resolved":
        target = f"{rule.id} {obs.scope_key}"
        actions = (
            Action(t("alert.action.snooze", "Snooze 4h"), f"/alerts snooze {target} 4h"),
            Action(t("alert.action.ack", "Acknowledge"), f"/alerts ack {target}"),
        )  # no Mute: muting silences the rule for every team, an admin's `/alerts mute RULE`, not a reader's button
    return Reply(
        title=title, lines=tuple(lines), actions=actions, kind="info", footer=period_text(fmt, period)
    )
