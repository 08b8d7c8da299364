"""What `/alerts` says about each rule besides its condition: what keeps it from flapping (`for`, the clearing
line), and where it stands — firing, pending (breaches in a row short of its `for`), ok, or not evaluated at all
because the store's data is older than `data.stale_after` (storage/freshness.py; the alert pass skips every rule
then, alerts/rules/run.py).

    mql-rate — MQL rate: below 20 · for 2 runs · clears above 23 · pending 1 of 2: team:t-a
    calls — Calls yesterday: below 4 · not evaluated since 2026-11-14 10:00 UTC (data as of 2026-11-14 09:30 UTC)

Moments are shown in UTC, as the snooze note next to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from alerts.rules.control import StateRow
from alerts.rules.notices import CLEARS
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from storage.freshness import Freshness, data_freshness
from storage.schema import AlertRun
from storage.times import aware_utc

__all__ = ["StaleData", "hysteresis", "rule_standing", "stale_data"]

Translate = Callable[..., str]


@dataclass(frozen=True)
class StaleData:
    """The data's age when it is stale, and when each rule was last evaluated on fresh data (by its slot)."""

    freshness: Freshness
    last_evaluated: dict[str, datetime]


def stale_data(engine: Engine, settings: Settings, now: datetime) -> StaleData | None:
    """What `/alerts` needs to say the rules are not evaluated, or None when the data is fresh (or its age unknown)."""
    with engine.connect() as conn:
        fresh = data_freshness(conn)
        if fresh is None or not fresh.stale(now, settings.stale_after):
            return None
        rows = conn.execute(
            select(AlertRun.rule_id, func.max(AlertRun.evaluated_at))
            .where(AlertRun.outcome != "stale")
            .group_by(AlertRun.rule_id)
        )
        return StaleData(fresh, {rule_id: aware_utc(at) for rule_id, at in rows})


def hysteresis(t: Translate, rule: AlertRule) -> str:
    """ " · for 2 runs · clears above 23": what keeps the rule from flapping, when it asks for more than the default."""
    parts = []
    if rule.for_runs > 1:
        parts.append(t("alerts.for_runs", "for {count} runs", count=rule.for_runs))
    if rule.clear_threshold is not None:
        key, default = CLEARS[rule.condition]
        parts.append(t(key, default, value=f"{rule.clear_threshold:g}"))
    return "".join(f" · {part}" for part in parts)


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _not_evaluated(t: Translate, rule: AlertRule, stale: StaleData) -> str:
    as_of = stale.freshness.as_of
    if as_of is None:
        data = t("alerts.no_sync_yet", "no CRM sync has completed yet")
    else:
        data = t("alerts.data_as_of", "data as of {time}", time=_utc(as_of))
    since = stale.last_evaluated.get(rule.id)
    if since is None:
        return t("alerts.never_evaluated", "not evaluated yet ({data})", data=data)
    return t("alerts.not_evaluated", "not evaluated since {since} ({data})", since=_utc(since), data=data)


def rule_standing(
    t: Translate,
    rule: AlertRule,
    rows: Sequence[StateRow],
    shown: Callable[[str], bool],
    stale: StaleData | None,
) -> str:
    """ "firing: team:t-b", "pending 1 of 2: team:t-a", "ok", or "not evaluated since …": where the rule stands
    for the scopes its reader may see (`shown`)."""
    parts = []
    firing = [r.scope_key for r in rows if r.state == "firing" and shown(r.scope_key)]
    if firing:
        parts.append(t("alerts.firing", "firing: {scopes}", scopes=", ".join(firing)))
    pending: dict[int, list[str]] = {}
    if rule.for_runs > 1:
        for r in rows:
            if r.state != "firing" and 0 < r.breaches < rule.for_runs and shown(r.scope_key):
                pending.setdefault(r.breaches, []).append(r.scope_key)
    for count in sorted(pending, reverse=True):
        parts.append(
            t("alerts.pending", "pending {count} of {needed}: {scopes}", count=count, needed=rule.for_runs,
              scopes=", ".join(pending[count]))
        )  # fmt: skip
    if stale is not None:
        parts.append(_not_evaluated(t, rule, stale))
    return " · ".join(parts) if parts else t("alerts.ok", "ok")
