"""The `milestones:` section of kpibot.yaml: plan milestones a team channel hears about once per period.

```yaml
milestones:
  - id: revenue-milestones
    teams: [enterprise]          # team ids; empty: every team
    plan_metric: revenue
    period: month                # month, quarter or year: the plan period whose attainment is watched
    levels: [50, 90, 100]        # percent of the plan
    target: telegram:-1001234567 # managers, dm:<user_id> or <platform>:<chat id> (telegram, slack, console)
    locale: en                   # en or ru: the language of a channel target (default org.locale)
```

A team id no team has is reported by every pass (`kpibot milestones run` prints it as a warning): teams live in the
database, which the configuration is loaded without.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MilestoneRule", "LOCALES", "PLATFORMS"]

LOCALES = ("en", "ru")
PLATFORMS = ("telegram", "slack", "console")


class MilestoneRule(BaseModel):
    """One milestone rule: which teams, which plan line and period, which levels (percent), and where to say it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    teams: tuple[str, ...] = ()
    plan_metric: str = "revenue"
    period: Literal["month", "quarter", "year"] = "month"
    levels: tuple[float, ...] = Field(default=(50.0, 90.0, 100.0), min_length=1)
    target: str = "managers"
    locale: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_\-]{1,48}", value):
            raise ValueError("a milestone id is 1-48 lowercase letters, digits, '_' or '-'")
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(level <= 0 for level in value):
            raise ValueError("milestone levels are percentages above 0, e.g. [50, 90, 100]")
        return tuple(sorted(set(value)))

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value == "managers":
            return value
        kind, _, ref = value.partition(":")
        if kind not in ("dm", *PLATFORMS) or not ref.strip():
            raise ValueError(
                "target is 'managers', 'dm:<user_id>' or '<platform>:<chat id>' with platform one of "
                + ", ".join(PLATFORMS)
            )
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is not None and value not in LOCALES:
            raise ValueError(f"locale is one of {', '.join(LOCALES)}")
        return value
