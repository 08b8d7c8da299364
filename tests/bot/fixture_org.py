"""CRM rows for the conversation tests, on top of the fixture org's people (tests/metrics/org.py).

Asked on Friday 2026-11-20 12:00 UTC; "last month" is October 2026. All times are noon UTC, well inside their
local day in every fixture zone (Moscow, New York, UTC).

Leads created in October, and how far they got (events; a deal links L1-1):
  rep-1 Rita  10 leads  L1-1..L1-4 MQL, L1-1 and L1-2 SQL, L1-1 opportunity (deal d-1) and won (Oct 25)
  rep-2 Rob    7 leads  L2-1..L2-3 MQL, L2-1 SQL
  rep-3 Rae    3 leads  none qualified
September: rep-1 has 8 leads, 2 of them MQL.

  Rita Oct: leads 10, MQL 4 (MQL rate 40.0%), SAL 2, SQL 2, opportunity 1, won 1 (lead → won 10.0%)
  Rita Sep: leads 8, MQL 2 (25.0%)        → vs prev: leads ▲ 25.0%, MQL rate ▲ 15.0 pp
  Rob  Oct: leads 7, MQL 3 (42.9%), SQL 1
  Alpha Oct (Rita + Rob + Mia, who owns none): leads 17, MQL 7 (41.2%), SQL 3, won 1

Deals closed in October: d-1 Rita won 5,000 (Oct 25); d-2 Rita lost (Oct 28); d-3 Rob won 3,000 (Oct 20).
  win rate: Rita 1 / 2 = 50.0%, Rob 1 / 1 = 100.0%, Alpha 2 / 3 = 66.7%; revenue Alpha $8,000.

Calls done in October: Rita 5, Rob 3 (and Rob 2 meetings). Plan: Rita revenue 10,000 for 2026-10 → 50.0%.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert

from storage.schema import Activity, Deal, Lead, LeadStageEvent, Plan
from tests.metrics.org import seed_people

__all__ = ["seed_org", "NOW"]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _leads(owner: str, prefix: str, count: int, month: int) -> list[dict]:
    return [
        dict(
            lead_id=f"{prefix}-{i}",
            owner_id=owner,
            created_at=datetime(2026, month, 5 + i, 12),
            source="paid_search",
        )
        for i in range(1, count + 1)
    ]


def _events(lead_id: str, owner: str, stages: list[str], month: int, day: int) -> list[dict]:
    return [
        dict(lead_id=lead_id, owner_id=owner, stage=stage, entered_at=datetime(2026, month, day + n, 12))
        for n, stage in enumerate(stages, 1)
    ]


def seed_org(engine: Engine) -> None:
    """People, leads, stage events, deals, activities and one plan row (see the module docstring)."""
    seed_people(engine)
    leads = _leads("rep-1", "L1", 10, 10) + _leads("rep-2", "L2", 7, 10) + _leads("rep-3", "L3", 3, 10)
    leads += _leads("rep-1", "S1", 8, 9)
    events = _events("L1-1", "rep-1", ["mql", "sql"], 10, 6)
    events += _events("L1-2", "rep-1", ["mql", "sql"], 10, 7)
    events += _events("L1-3", "rep-1", ["mql"], 10, 8) + _events("L1-4", "rep-1", ["mql"], 10, 9)
    events += _events("L2-1", "rep-2", ["mql", "sql"], 10, 6)
    events += _events("L2-2", "rep-2", ["mql"], 10, 7) + _events("L2-3", "rep-2", ["mql"], 10, 8)
    events += _events("S1-1", "rep-1", ["mql"], 9, 6) + _events("S1-2", "rep-1", ["mql"], 9, 7)
    deals = [
        dict(
            deal_id="d-1",
            owner_id="rep-1",
            created_at=datetime(2026, 10, 12, 12),
            status="won",
            closed_at=datetime(2026, 10, 25, 12),
            amount=Decimal("5000"),
            lead_id="L1-1",
        ),
        dict(
            deal_id="d-2",
            owner_id="rep-1",
            created_at=datetime(2026, 10, 2, 12),
            status="lost",
            closed_at=datetime(2026, 10, 28, 12),
            amount=Decimal("2000"),
            lead_id=None,
        ),
        dict(
            deal_id="d-3",
            owner_id="rep-2",
            created_at=datetime(2026, 9, 2, 12),
            status="won",
            closed_at=datetime(2026, 10, 20, 12),
            amount=Decimal("3000"),
            lead_id=None,
        ),
    ]
    activities = []
    for owner, kind, count in (("rep-1", "call", 5), ("rep-2", "call", 3), ("rep-2", "meeting", 2)):
        for i in range(count):
            when = datetime(2026, 10, 10 + i, 12)
            activities.append(
                dict(
                    activity_id=f"a-{owner}-{kind}-{i}",
                    owner_id=owner,
                    type=kind,
                    created_at=when,
                    due_at=when,
                    completed_at=when,
                    status="done",
                )
            )
    plans = [
        dict(period="2026-10", scope="user", scope_id="rep-1", metric="revenue", target=Decimal("10000"))
    ]
    with engine.begin() as conn:
        conn.execute(insert(Lead), leads)
        conn.execute(insert(LeadStageEvent), events)
        conn.execute(insert(Deal), deals)
        conn.execute(insert(Activity), activities)
        conn.execute(insert(Plan), plans)
