"""The `data:` section of kpibot.yaml: how old the store's data may get before kpibot stops calling it news.

    data:
      stale_after: 2h

The data's age is that of the newest of the last successful CRM sync and the last successful `kpibot import`
(storage/freshness.py). Older than `stale_after`, a digest opens with "data as of …" and an alert rule skips its
evaluation (`stale` in `alert_runs`). Unset, the deprecated `crm.stale_after` serves, whose default is 2 h.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, field_validator

from storage.config.crm import parse_every

__all__ = ["DataSettings"]


class DataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after: timedelta | None = None

    @field_validator("stale_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        return None if value is None else parse_every(value)  # type: ignore[arg-type]
