"""The fixture org (tests/metrics/org.py) with a November of its own, for digests and alerts.

Digests go out on Tuesday 2026-11-17; "yesterday" is Monday 2026-11-16, "this month" is November 1..16.

Activities done on Monday 2026-11-16 at 12:00 UTC (15:00 in Moscow, 07:00 in New York: Monday everywhere):
  Rita (rep-1, Alpha)  2 calls, 1 meeting   → 3 activities
  Rob  (rep-2, Alpha)  3 calls              → 3 activities
  Rae  (rep-3, Bravo)  1 call               → 1 activity
Revenue plan for 2026-11: Rita 10,000, Rob 10,000 (Rae has none). Won in November: Rita 4,000 (Nov 10),
Rob 1,000 (Nov 12).
  November has 21 working days; by the end of Monday the 16th, 11 are over (share 11/21).
  Rita 40.0 % of plan, pace 40 % × 21/11 = 76.4 %; Rob 10.0 %, pace 19.1 %; Alpha 5,000 / 20,000 = 25.0 %,
  pace 47.7 %.
Leads: Rita 3 in November (Nov 3, 4, 5) and 2 in October (Oct 3, 4); Rob 1 in November (Nov 6).
  Alpha's funnel, November 1..16 vs October 1..16: leads 4 vs 2 (▲ 100.0 %).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, insert

from storage.schema import Activity, Deal, Lead, Plan
from tests.metrics.org import seed_people

__all__ = ["seed_november"]


def _activity(owner: str, kind: str, n: int) -> dict:
    at = datetime(2026, 11, 16, 12)
    return dict(
        activity_id=f"a-{owner}-{kind}-{n}",
        owner_id=owner,
        type=kind,
        created_at=at,
        due_at=at,
        completed_at=at,
        status="done",
    )


def seed_november(engine: Engine) -> None:
    """People plus the November rows described in the module docstring."""
    seed_people(engine)
    activities = [_activity("rep-1", "call", n) for n in range(2)] + [_activity("rep-1", "meeting", 0)]
    activities += [_activity("rep-2", "call", n) for n in range(3)] + [_activity("rep-3", "call", 0)]
    leads = [
        dict(lead_id=f"N1-{d}", owner_id="rep-1", created_at=datetime(2026, 11, d, 12), source="email")
        for d in (3, 4, 5)
    ]
    leads += [dict(lead_id="N2-6", owner_id="rep-2", created_at=datetime(2026, 11, 6, 12), source="email")]
    leads += [
        dict(lead_id=f"O1-{d}", owner_id="rep-1", created_at=datetime(2026, 10, d, 12), source="email")
        for d in (3, 4)
    ]
    deals = [
        dict(deal_id="nd-1", owner_id="rep-1", created_at=datetime(2026, 11, 2, 12), status="won",
             closed_at=datetime(2026, 11, 10, 12), amount=Decimal("4000")),
        dict(deal_id="nd-2", owner_id="rep-2", created_at=datetime(2026, 11, 2, 12), status="won",
             closed_at=datetime(2026, 11, 12, 12), amount=Decimal("1000")),
    ]  # fmt: skip
    plans = [
        dict(period="2026-11", scope="user", scope_id=rep, metric="revenue", target=Decimal("10000"))
        for rep in ("rep-1", "rep-2")
    ]
    with engine.begin() as conn:
        conn.execute(insert(Activity), activities)
        conn.execute(insert(Lead), leads)
        conn.execute(insert(Deal), deals)
        conn.execute(insert(Plan), plans)
