"""The `digests:` and `alerts:` sections of kpibot.yaml, with defaults that work on the demo organisation.

Durations are written the way people say them (`15m`, `4h`, `1d`); local times as `HH:MM`; thresholds of rates in
percent (`below: 20` on a conversion rate means 20 %).
"""

from __future__ import annotations

import re
from datetime import time as TimeOfDay
from datetime import timedelta
from typing import Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DIGEST_NAMES",
    "EACH_REP",
    "WEEKDAYS",
    "DigestConfig",
    "WeeklyChangesConfig",
    "DigestsSettings",
    "AlertRule",
    "default_alert_rules",
    "is_builtin_name",
    "parse_duration",
    "parse_local_time",
]

EACH_REP = "each rep"
"""The target (and scope) of a rule that sends each rep their own alert."""
DIGEST_NAMES = ("rep_daily", "team_digest", "weekly_plan", "weekly_changes")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`15m`, `4h`, `1d`, `2w` → a timedelta; ValueError otherwise."""
    match = _DURATION.match(str(text).lower())
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. 30m, 4h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_local_time(text: str) -> TimeOfDay:
    """`09:00` / `9:30` → a time; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"'{text}' is not a time of day; write HH:MM, e.g. 09:00")
    return TimeOfDay(int(match.group(1)), int(match.group(2)))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigestConfig(_Section):
    """One digest: whether it is on, at which local time, on which weekdays, and who gets it by default."""

    enabled: bool = True
    time: str = "09:00"
    weekdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    skip_holidays: bool = True
    audience: Literal["reps", "managers", "reps_and_managers", "none"] = "reps"

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_local_time(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = tuple(day.lower()[:3] for day in value)
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use {', '.join(WEEKDAYS)}")
        return days

    @property
    def local_time(self) -> TimeOfDay:
        return parse_local_time(self.time)

    @property
    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.weekdays)


class WeeklyChangesConfig(DigestConfig):
    """The `weekly_changes` digest (alerts/digests/weekly_changes.py): when it goes out, like any digest, and which
    movements of the last week against the one before are worth a sentence.

    A count or amount is mentioned when it moved by at least `min_change_pct` percent, a rate when it moved by at
    least `min_change_pts` percentage points; either only on at least `min_sample` items (deals, MQLs, activities
    behind the number). A rep, source or segment is named as a contributor only on at least `min_row_sample` items,
    and at most `contributors` of each breakdown are named.
    """

    weekdays: tuple[str, ...] = ("mon",)
    audience: Literal["reps", "managers", "reps_and_managers", "none"] = "managers"
    min_change_pct: float = Field(default=20.0, ge=0)
    min_change_pts: float = Field(default=5.0, ge=0)
    min_sample: int = Field(default=10, ge=0)
    min_row_sample: int = Field(default=5, ge=0)
    contributors: int = Field(default=1, ge=1, le=3)


class DigestsSettings(_Section):
    """The digests and the plan metric they report on."""

    rep_daily: DigestConfig = Field(default_factory=lambda: DigestConfig(audience="reps"))
    team_digest: DigestConfig = Field(default_factory=lambda: DigestConfig(audience="managers"))
    weekly_plan: DigestConfig = Field(
        default_factory=lambda: DigestConfig(weekdays=("mon",), audience="reps_and_managers")
    )
    weekly_changes: WeeklyChangesConfig = Field(default_factory=lambda: WeeklyChangesConfig())
    plan_metric: str = "revenue"

    def get(self, name: str) -> DigestConfig:
        if name not in DIGEST_NAMES:
            raise KeyError(name)
        config: DigestConfig = getattr(self, name)
        return config


Condition = Literal["below", "above", "drops_by", "pace_below"]


class AlertRule(_Section):
    """One alert rule (SPEC section 5).

    The rule watches `measure` (default: the metric's headline) of `metric` over `period`, for the whole `org`, each
    `team` (or the teams listed), or `each rep`. `pace_below` watches `<plan_metric>.pace` of the plan metric.
    `drops_by` compares with the previous period (`compare: prev`) or the same weekday last week
    (`compare: week_ago`, for a one-day period). `min_sample` is checked on `sample_measure`. Against flapping,
    `for` (`for_runs` in Python) asks for that many evaluations in a row beyond the threshold before it fires, and
    `clear_threshold` for a second line on the resolving side that a firing rule must get past to resolve.
    """

    id: str
    name: str = ""
    metric: str
    measure: str | None = None
    period: str = "this month"
    scope: Literal["org", "team", "each rep"] = "team"
    teams: tuple[str, ...] = ()
    condition: Condition
    threshold: float
    compare: Literal["prev", "week_ago"] = "prev"
    plan_metric: str = "revenue"
    min_sample: int = 0
    sample_measure: str | None = None
    every: str | None = "15m"
    cron: str | None = None
    repeat_every: str = "1d"
    target: str = "managers"
    explain_by: Literal["rep", "source", "segment", "team"] = "rep"
    # No flapping: fire only after `for` evaluations in a row beyond the threshold; once firing, resolve only when
    # the value is back past `clear_threshold` (in the threshold's units), a second line on the resolving side.
    for_runs: int = Field(default=1, alias="for")
    clear_threshold: float | None = None
    # Appended: quiet hours for a channel target, and the managers' grouped view of a rep's own nudge.
    quiet_hours: bool = False
    also: Literal["managers"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_\-]{1,48}", value):
            raise ValueError("an alert id is 1-48 lowercase letters, digits, '_' or '-'")
        return value

    @field_validator("every", "repeat_every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            CronTrigger.from_crontab(value)
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value not in ("managers", EACH_REP) and ":" not in value:
            raise ValueError("target is 'managers', 'each rep', 'dm:<user_id>' or '<platform>:<chat id>'")
        return value

    @model_validator(mode="after")
    def _schedule(self) -> AlertRule:
        if self.cron is None and self.every is None:
            raise ValueError(f"alert {self.id}: give `every` (e.g. 15m) or `cron`")
        if self.target == EACH_REP and self.scope != "each rep":
            raise ValueError(f"alert {self.id}: `target: each rep` needs `scope: each rep`")
        if self.also is not None and self.target != EACH_REP:
            raise ValueError(f"alert {self.id}: `also: managers` goes with `target: each rep`")
        return self

    @model_validator(mode="after")
    def _no_flapping(self) -> AlertRule:
        if self.for_runs < 1:
            raise ValueError(
                f"alert {self.id}: `for` counts evaluations in a row, 1 or more, not {self.for_runs}"
            )
        clear = self.clear_threshold
        if clear is None:
            return self
        # A clearing line on the threshold itself would be no second line at all, and a value exactly on it would
        # keep the rule firing for ever (the clearing line is passed strictly): it must lie beyond the threshold.
        if self.condition == "drops_by":
            # The line is a drop too: resolve once the value is down by less than `clear_threshold` percent.
            if not 0 <= clear < self.threshold:
                raise ValueError(
                    f"alert {self.id}: clear_threshold of a drops_by rule is a smaller drop, from 0 to under the "
                    f"threshold {self.threshold:g}, not {clear:g}"
                )
        elif self.condition == "above" and clear >= self.threshold:
            raise ValueError(
                f"alert {self.id}: clear_threshold of an `above` rule must be below the threshold "
                f"{self.threshold:g}, not {clear:g}"
            )
        elif self.condition in ("below", "pace_below") and clear <= self.threshold:
            raise ValueError(
                f"alert {self.id}: clear_threshold of a `{self.condition}` rule must be above the threshold "
                f"{self.threshold:g}, not {clear:g}"
            )
        return self

    @property
    def title(self) -> str:
        return self.name or self.id

    @property
    def watched_measure(self) -> str | None:
        if self.condition == "pace_below":
            return f"{self.plan_metric}.pace"
        return self.measure

    @property
    def query_metric(self) -> str:
        return "plan" if self.condition == "pace_below" else self.metric

    @property
    def repeat_interval(self) -> timedelta:
        return parse_duration(self.repeat_every)


def is_builtin_name(rule: AlertRule) -> bool:
    """Whether the rule carries the name kpibot gave one of its built-in rules (a chat shows that name in the
    reader's language; a name the organisation chose is shown as written)."""
    return any(rule.id == builtin.id and rule.name == builtin.name for builtin in default_alert_rules())


def default_alert_rules() -> list[AlertRule]:
    """Two rules that make sense on the demo organisation: a team's plan pace and its MQL rate."""
    return [
        AlertRule(
            id="plan-pace",
            name="Revenue plan pace",
            metric="plan",
            condition="pace_below",
            threshold=80,
            scope="team",
            every="1h",
            repeat_every="1d",
        ),
        AlertRule(
            id="mql-rate",
            name="MQL rate",
            metric="funnel",
            measure="mql_rate",
            condition="below",
            threshold=20,
            scope="team",
            min_sample=20,
            sample_measure="lead",
            every="1h",
            repeat_every="1d",
        ),
    ]
