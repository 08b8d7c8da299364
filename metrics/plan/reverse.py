""" "What it takes": the reverse funnel from the revenue still missing to the leads, meetings and calls needed.

It runs from the revenue plan where the scope has one, else from its deals-won plan (the won deals needed are then
the deals still missing); a scope with neither gets its own plan line's need (new leads, calls …) per working day.

From the revenue still missing to the plan, the scope's own trailing numbers (the 90 days before now) give:
won deals needed = missing / average won deal size; each earlier funnel stage = the next stage's need / the step
conversion rate between them; meetings and calls = won deals needed × meetings (calls) done per deal won. Every
need is rounded up to a whole one, and per day is that need over the remaining working days, today included.
A rate that is zero or unknown makes that step and every earlier one n/a.

The step conversion rates come from a simple cohort of the trailing window: leads created in it, counted at each
configured funnel stage they reached by now, by the same lead-journey rules as /funnel (`metrics.sql.lead_journey`). Recent leads have had less time to close, so this cohort
understates late-stage rates; the plan reply says which window it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    case,
    func,
    select,
    true,
)

from metrics.plan.actuals import plan_totals
from metrics.result import Table, ratio
from storage.config.settings import Settings
from storage.journeys import journey, reached_column

__all__ = ["TRAILING_DAYS", "FUNNEL_STARTS", "trailing_funnel", "Trailing", "trailing", "what_it_takes"]

TRAILING_DAYS = 90


def trailing_funnel(
    conn: Connection,
    settings: Settings,
    start: datetime,
    end: datetime,
    owner_ids: Sequence[str] | None,
    now: datetime,
) -> dict[str, int]:
    """Leads created on `[start, end)` (owner in scope) that reached each stage by `now` (all naive UTC), by the
    shared lead-journey rules of /funnel."""
    stages = settings.funnel.stages

    def cohort(lead) -> list[ColumnElement[bool]]:
        owner_ok: ColumnElement[bool] = true() if owner_ids is None else lead.owner_id.in_(owner_ids)
        return [lead.created_at >= start, lead.created_at < end, owner_ok]

    journeys = journey(conn, settings, cohort)
    counts = conn.execute(
        select(*(func.count(case((journeys.c[reached_column(i)] <= now, 1))) for i in range(len(stages))))
    ).one()
    return {stage: int(n) for stage, n in zip(stages, counts, strict=True)}


@dataclass(frozen=True)
class Trailing:
    """The scope's own numbers over the trailing window that drive the reverse funnel."""

    start: datetime
    end: datetime
    revenue: float
    deals_won: int
    meetings: int
    calls: int
    funnel: dict[str, int]

    @property
    def avg_deal_size(self) -> float | None:
        return ratio(self.revenue, self.deals_won)


def trailing(
    conn: Connection, settings: Settings, owner_ids: Sequence[str] | None, now_utc: datetime
) -> Trailing:
    """Revenue, deals won, meetings, calls and funnel counts of the scope over the 90 days before now."""
    start, end = now_utc - timedelta(days=TRAILING_DAYS), now_utc
    total = plan_totals(conn, settings, ("revenue", "deals_won", "meetings", "calls"), start, end, owner_ids)
    return Trailing(
        start=start,
        end=end,
        revenue=total["revenue"],
        deals_won=int(total["deals_won"]),
        meetings=int(total["meetings"]),
        calls=int(total["calls"]),
        funnel=trailing_funnel(conn, settings, start, end, owner_ids, now_utc),
    )


def _whole(need: float | None) -> int | None:
    # 2.0000000001 deals is two deals, not three: forgive float noise before rounding up.
    return None if need is None else math.ceil(need - 1e-9)


FUNNEL_STARTS = ("revenue", "deals_won")
"""The plan lines the funnel can be run backwards from; any other line's need is the line itself."""


def what_it_takes(
    missing: float, t: Trailing, stages: Sequence[str], remaining_days: int, *, start: str = "revenue"
) -> Table:
    """The reverse-funnel table: rows (step, needed, per remaining working day), the last stage first.

    `start` is the plan line still `missing`: revenue (turned into won deals by the average deal size), deals won
    (won deals themselves), or any other line (new leads, calls, meetings …), whose one row is its own need."""
    if start not in FUNNEL_STARTS:
        whole = _whole(max(missing, 0.0))
        return _table(((start, whole, ratio(whole, remaining_days)),))
    needs: list[tuple[str, float | None]] = []
    # Revenue becomes won deals by the average deal size; a deals-won line is won deals already.
    per_deal = t.avg_deal_size if start == "revenue" else 1.0
    won_needed = 0.0 if missing <= 0 else ratio(missing, per_deal)
    need = won_needed
    for i in range(len(stages) - 1, -1, -1):
        if i < len(stages) - 1 and need is not None and need > 0:
            step_rate = ratio(t.funnel[stages[i + 1]], t.funnel[stages[i]])
            need = ratio(need, step_rate) if step_rate else None
        needs.append((stages[i], need))
    for step, per_deal in (
        ("meetings", ratio(t.meetings, t.deals_won)),
        ("calls", ratio(t.calls, t.deals_won)),
    ):
        if won_needed == 0:
            needs.append((step, 0.0))
        else:
            needs.append((step, None if won_needed is None or not per_deal else won_needed * per_deal))
    rows = []
    for step, raw in needs:
        whole = _whole(raw)
        rows.append((step, whole, ratio(whole, remaining_days)))
    return _table(tuple(rows))


def _table(rows: tuple[tuple[str, int | None, float | None], ...]) -> Table:
    return Table(
        key="what_it_takes",
        title="What it takes",
        columns=("step", "needed", "per_day"),
        rows=rows,
        units=(None, "count", "number"),
    )
