"""Alert evaluation as a pure function: (rule, observation, previous state, now) → (new state, outcome, notice).

No store, no clock, no platform here, so every turn of the state machine is tested with plain values:

    ok ──condition true──▶ firing (notice "fired") ──still true, repeat_every passed──▶ firing (notice "repeated")
    firing ──condition false──▶ ok (notice "resolved", when the firing was announced)

A snooze or a mute keeps the state machine turning but silences its notices; an acknowledgement silences the
repeats of the current firing and is cleared when it resolves. A value that is n/a, or a sample below the rule's
minimum, decides nothing: the state is kept and the run is logged as `skipped`.

Against flapping, a rule may ask for more before it changes state:

    ok ──condition true, fewer than `for` times in a row──▶ ok (`pending`, nothing sent; `breaches` counts them)
    firing ──condition false, value not yet past `clear_threshold`──▶ firing (still firing: repeats as above)

`clear_threshold` lies strictly beyond the threshold (storage/config/alerts.py refuses one on it), and the value
must be strictly past it to resolve.

`breaches` counts the evaluations in a row whose condition held; one whose condition did not hold sets it back to
0, a skipped one leaves it as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from storage.config.alerts import AlertRule

__all__ = [
    "Contributor",
    "Observation",
    "AlertStatus",
    "Notice",
    "Evaluation",
    "condition_holds",
    "evaluate",
]

Outcome = Literal[
    "fired", "repeated", "resolved", "firing", "quiet", "snoozed", "muted", "acknowledged", "skipped",
    "pending", "stale",
]  # fmt: skip


@dataclass(frozen=True)
class Contributor:
    """One rep (or source …) of the breakdown and how much it moved the number: `change` = value − previous."""

    key: str
    label: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Observation:
    """What the metrics core said about one scope: the value (rates as fractions), the comparison value, the
    sample size, and the breakdown rows that explain it."""

    scope_key: str
    scope_label: str
    value: float | None
    previous: float | None = None
    sample: int | None = None
    unit: str = "count"
    contributors: tuple[Contributor, ...] = ()


@dataclass(frozen=True)
class AlertStatus:
    """The stored state of one rule for one scope."""

    state: Literal["ok", "firing"] = "ok"
    since: datetime | None = None
    last_notified_at: datetime | None = None
    snoozed_until: datetime | None = None
    acknowledged_by: str | None = None
    muted: bool = False
    last_value: float | None = None
    breaches: int = 0  # evaluations in a row whose condition held (the rule's `for`)


@dataclass(frozen=True)
class Notice:
    """A message to send: the rule fired, still fires (repeat), or resolved."""

    kind: Literal["fired", "repeated", "resolved"]
    observation: Observation


@dataclass(frozen=True)
class Evaluation:
    status: AlertStatus
    outcome: Outcome
    notice: Notice | None


def _line(rule: AlertRule, line: float, unit: str) -> float:
    # Rates are fractions in the core and percentages in the config; pace is always a rate.
    if rule.condition in ("drops_by", "pace_below") or unit == "percent":
        return line / 100.0
    return line


def _compared(rule: AlertRule, observation: Observation) -> float | None:
    """What the rule's lines are drawn on: the value, or for `drops_by` the relative drop from the previous one."""
    value = observation.value
    if value is None or rule.condition != "drops_by":
        return value
    previous = observation.previous
    if previous is None or previous <= 0:
        return None
    return (previous - value) / previous


def condition_holds(rule: AlertRule, observation: Observation) -> bool | None:
    """Whether the rule's condition is true for the observation; None when it cannot be decided (n/a)."""
    compared = _compared(rule, observation)
    if compared is None:
        return None
    threshold = _line(rule, rule.threshold, observation.unit)
    if rule.condition in ("below", "pace_below"):
        return compared < threshold
    if rule.condition == "above":
        return compared > threshold
    return compared >= threshold


def _past_clear_line(rule: AlertRule, observation: Observation) -> bool:
    """Whether a firing rule whose condition no longer holds may resolve: without `clear_threshold` at once, with
    it once the value is strictly past that line (above it for below/pace_below, below it for above, a drop
    smaller than it for drops_by)."""
    compared = _compared(rule, observation)
    if rule.clear_threshold is None or compared is None:
        return True
    line = _line(rule, rule.clear_threshold, observation.unit)
    if rule.condition in ("below", "pace_below"):
        return compared > line
    return compared < line


def _silenced(status: AlertStatus, now: datetime) -> Outcome | None:
    if status.muted:
        return "muted"
    if status.snoozed_until is not None and now < status.snoozed_until:
        return "snoozed"
    return None


def evaluate(rule: AlertRule, observation: Observation, previous: AlertStatus, now: datetime) -> Evaluation:
    """The next state of one rule for one scope, what happened, and the message to send if any."""
    status = replace(previous, last_value=observation.value)
    if status.snoozed_until is not None and now >= status.snoozed_until:
        status = replace(status, snoozed_until=None)
    small = rule.min_sample > 0 and (observation.sample is None or observation.sample < rule.min_sample)
    holds = None if small else condition_holds(rule, observation)
    if holds is None:
        return Evaluation(status, "skipped", None)
    silenced = _silenced(status, now)

    if not holds:
        status = replace(status, breaches=0)
        if status.state != "firing":
            return Evaluation(status, "quiet", None)
        if not _past_clear_line(rule, observation):  # between the two lines: still firing
            return _firing(rule, observation, status, silenced, now)
        announced = status.last_notified_at is not None
        cleared = replace(status, state="ok", since=None, last_notified_at=None, acknowledged_by=None)
        if silenced or not announced:
            return Evaluation(cleared, silenced or "resolved", None)
        return Evaluation(cleared, "resolved", Notice("resolved", observation))

    status = replace(status, breaches=status.breaches + 1)
    if status.state != "firing":
        if status.breaches < rule.for_runs:  # not yet `for` times in a row: nothing changes, nothing is sent
            return Evaluation(status, "pending", None)
        status = replace(status, state="firing", since=now, last_notified_at=None, acknowledged_by=None)
    return _firing(rule, observation, status, silenced, now)


def _firing(
    rule: AlertRule, observation: Observation, status: AlertStatus, silenced: Outcome | None, now: datetime
) -> Evaluation:
    """A rule that is (still) firing: announced once, then repeated every `repeat_every` unless acknowledged."""
    if silenced:
        return Evaluation(status, silenced, None)
    if status.last_notified_at is None:
        return Evaluation(replace(status, last_notified_at=now), "fired", Notice("fired", observation))
    if status.acknowledged_by is not None:
        return Evaluation(status, "acknowledged", None)
    if now - status.last_notified_at >= rule.repeat_interval:
        return Evaluation(replace(status, last_notified_at=now), "repeated", Notice("repeated", observation))
    return Evaluation(status, "firing", None)
