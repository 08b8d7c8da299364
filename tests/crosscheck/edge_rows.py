"""A handful of hand-made rows on top of the demo org, each one a corner the demo's generator never produces.

All of it belongs to rep-004 (team Enterprise, Moscow time) and falls in or around October 2026, so the admin's and
rep-004's "last month" see it. Ids start with "x-". What each row tests is said beside it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert

from storage.schema import (
    Account,
    Activity,
    Deal,
    EmailList,
    Lead,
    LeadStageEvent,
    Mrr,
    Order,
    Plan,
    Spend,
    Ticket,
)

__all__ = ["add_edge_rows", "OWNER"]

OWNER = "rep-004"
BERLIN_OCTOBER_START = datetime(2026, 9, 30, 22, 0)  # 2026-10-01 00:00 Europe/Berlin, as naive UTC


def _lead(lead_id: str, created_at: datetime, campaign_id: str | None = None) -> dict:
    return {
        "lead_id": lead_id,
        "created_at": created_at,
        "owner_id": OWNER,
        "source": "referral",
        "campaign_id": campaign_id,
        "segment": "edge",
        "company": lead_id,
    }


def _event(lead_id: str, stage: str, entered_at: datetime) -> dict:
    return {"lead_id": lead_id, "stage": stage, "entered_at": entered_at, "owner_id": OWNER}


def _deal(
    deal_id: str, created: datetime, closed: datetime | None, status: str, amount: str, **links
) -> dict:
    row = {
        "deal_id": deal_id,
        "owner_id": OWNER,
        "created_at": created,
        "status": status,
        "closed_at": closed,
        "amount": Decimal(amount),
        "lead_id": None,
        "account_id": None,
    }
    return row | links


def _account(account_id: str, created: datetime, **more) -> dict:
    row = {"account_id": account_id, "name": account_id, "created_at": created, "owner_id": OWNER}
    return row | more


def _activity(activity_id: str, kind: str, status: str, **times) -> dict:
    row = {
        "activity_id": activity_id,
        "owner_id": OWNER,
        "type": kind,
        "status": status,
        "created_at": datetime(2026, 10, 2, 8, 0),
        "due_at": None,
        "completed_at": None,
        "lead_id": None,
    }
    return row | times


LEADS = [
    _lead("x-L1", datetime(2026, 10, 5, 9, 0)),  # skips mql and sal: straight to sql, then a won deal
    _lead("x-L2", datetime(2026, 10, 5, 9, 0)),  # mql, lost, then sql after the loss
    _lead("x-L3", datetime(2026, 10, 10, 9, 0)),  # its mql is dated after now
    _lead("x-L4", datetime(2026, 9, 20, 9, 0)),  # enters mql twice: September and again in October
    _lead(
        "x-L5", datetime(2026, 10, 31, 23, 30)
    ),  # made on 1 November in Berlin and Moscow, 31 October in UTC
    _lead("x-L6", datetime(2025, 9, 1, 9, 0)),  # created before the demo's history and never closed
    _lead("x-L7", datetime(2026, 8, 1, 9, 0)),  # disqualified exactly at the period's start
    _lead("x-L8", datetime(2026, 10, 3, 9, 0), "x-C-unknown"),  # from a campaign the campaigns table lacks
    _lead("x-L9", datetime(2026, 10, 3, 9, 0))
    | {"owner_id": None},  # nobody's: counts for the organisation only
]
EVENTS = [
    _event("x-L1", "sql", datetime(2026, 10, 6, 10, 0)),
    _event("x-L2", "mql", datetime(2026, 10, 6, 10, 0)),
    _event("x-L2", "lost", datetime(2026, 10, 7, 10, 0)),
    _event("x-L2", "sql", datetime(2026, 10, 9, 10, 0)),
    _event("x-L3", "mql", datetime(2026, 11, 25, 10, 0)),
    _event("x-L4", "mql", datetime(2026, 9, 25, 10, 0)),
    _event("x-L4", "mql", datetime(2026, 10, 3, 10, 0)),
    _event("x-L4", "sal", datetime(2026, 10, 4, 10, 0)),
    _event("x-L5", "mql", datetime(2026, 11, 2, 9, 0)),
    _event("x-L7", "disqualified", BERLIN_OCTOBER_START),
]
DEALS = [
    # x-L1's deal: opportunity at creation, won at close; its account is new and was referred.
    _deal(
        "x-D1",
        datetime(2026, 10, 8, 10, 0),
        datetime(2026, 10, 20, 10, 0),
        "won",
        "1000",
        lead_id="x-L1",
        account_id="x-A1",
    ),
    # Two deals on x-L2: a lost one makes it an opportunity, a later won one makes it won.
    _deal("x-D6", datetime(2026, 10, 9, 12, 0), datetime(2026, 10, 12, 10, 0), "lost", "0", lead_id="x-L2"),
    _deal("x-D7", datetime(2026, 10, 14, 12, 0), datetime(2026, 10, 25, 10, 0), "won", "400", lead_id="x-L2"),
    # An open deal of rep-004 on nobody's lead: an opportunity for the organisation's funnel only.
    _deal("x-D8", datetime(2026, 10, 5, 12, 0), None, "open", "900", lead_id="x-L9"),
    # An old customer (first order 2025-09-01) buys again: not new revenue.
    _deal(
        "x-D3", datetime(2026, 10, 1, 10, 0), datetime(2026, 10, 16, 10, 0), "won", "300", account_id="x-A3"
    ),
    # First order exactly 365 days before this close: still new ("at most 365 days").
    _deal(
        "x-D4", datetime(2026, 10, 2, 10, 0), datetime(2026, 10, 17, 10, 0), "won", "200", account_id="x-A4"
    ),
    # Won from a lead of a campaign missing from the campaigns table.
    _deal(
        "x-D5",
        datetime(2026, 10, 4, 10, 0),
        datetime(2026, 10, 21, 10, 0),
        "won",
        "700",
        lead_id="x-L8",
        account_id="x-A4",
    ),
]
ACCOUNTS = [
    _account(
        "x-A1", datetime(2026, 10, 1, 10, 0), referred_by="x-A3", onboarded_at=datetime(2026, 10, 25, 10, 0)
    ),
    _account("x-A3", datetime(2025, 8, 1, 10, 0)),  # active at the start through September MRR only
    _account("x-A4", datetime(2025, 10, 1, 10, 0)),
    _account("x-A5", datetime(2025, 10, 1, 10, 0)),  # ordered exactly 90 days before the period's start
]
ORDERS = [
    {
        "order_id": "x-O1",
        "account_id": "x-A3",
        "ordered_at": datetime(2025, 9, 1, 10, 0),
        "amount": Decimal("50"),
    },
    {
        "order_id": "x-O2",
        "account_id": "x-A4",
        "ordered_at": datetime(2025, 10, 17, 10, 0),
        "amount": Decimal("80"),
    },
    {
        "order_id": "x-O3",
        "account_id": "x-A5",
        "ordered_at": datetime(2026, 7, 2, 22, 0),
        "amount": Decimal("20"),
    },
]
MRR = [{"account_id": "x-A3", "month": "2026-09", "mrr": Decimal("100")}]
SPEND = [
    {
        "date": date(2026, 10, 10),
        "kind": "marketing",
        "channel": "",
        "campaign_id": "x-C-unknown",
        "amount": 50,
    },
]
EMAIL = [
    {"date": date(2026, 10, 15), "list_id": "x-list", "subscribed": 10, "unsubscribed": 0, "size": 10},
    {"date": date(2026, 10, 20), "list_id": "x-list", "subscribed": 5, "unsubscribed": 1, "size": 14},
]
ACTIVITIES = [
    # A call on x-L1 the day before it became an SQL: a qualifying call.
    _activity("x-T1", "call", "done", completed_at=datetime(2026, 10, 5, 12, 0), lead_id="x-L1"),
    _activity("x-T2", "task", "planned", due_at=datetime(2026, 10, 10, 12, 0)),  # overdue
    # Due in October, done in November: done by now.
    _activity(
        "x-T3",
        "meeting",
        "done",
        due_at=datetime(2026, 10, 20, 12, 0),
        completed_at=datetime(2026, 11, 2, 12, 0),
    ),
    _activity("x-T4", "task", "cancelled", due_at=datetime(2026, 10, 12, 12, 0)),  # neither due nor overdue
    # Done on 2026-10-31 22:30 Berlin, which is already 2026-11-01 00:30 in Moscow.
    _activity("x-T5", "call", "done", completed_at=datetime(2026, 10, 31, 21, 30)),
    _activity("x-T6", "call", "done", completed_at=datetime(2026, 10, 20, 9, 0), deal_id="x-D1"),
    # x-L4 is an MQL (twice) when called; it becomes a SAL two days later: qualifying.
    _activity("x-T7", "call", "done", completed_at=datetime(2026, 10, 2, 10, 0), lead_id="x-L4"),
    # After x-L4's last move nothing follows: not qualifying.
    _activity("x-T8", "call", "done", completed_at=datetime(2026, 10, 4, 11, 0), lead_id="x-L4"),
    # x-L2 was lost the day before; it comes back as an SQL the next day: qualifying.
    _activity("x-T9", "call", "done", completed_at=datetime(2026, 10, 8, 10, 0), lead_id="x-L2"),
    # x-L1 is won exactly seven days after this call: qualifying ("within 7 days").
    _activity("x-T10", "call", "done", completed_at=datetime(2026, 10, 13, 10, 0), lead_id="x-L1"),
    # x-L9 becomes an opportunity through its deal 2 hours later.
    _activity("x-T11", "call", "done", completed_at=datetime(2026, 10, 5, 10, 0), lead_id="x-L9"),
]
PLANS = [
    # Only rep-004, rep-005 and rep-006 have an October activities target: team-2's is theirs added up.
    {"period": "2026-10", "scope": "user", "scope_id": uid, "metric": "activities", "target": Decimal(target)}
    for uid, target in (("rep-004", "120"), ("rep-005", "200"), ("rep-006", "90"))
] + [
    # The organisation's own November call target replaces the sum of its teams'.
    {"period": "2026-11", "scope": "org", "scope_id": "", "metric": "calls", "target": Decimal("700")}
]
TICKETS = [{"ticket_id": "x-K1", "account_id": "x-A1", "opened_at": datetime(2026, 10, 26, 10, 0)}]


def add_edge_rows(engine: Engine) -> None:
    """Write the rows above into a store that already holds the demo org."""
    with engine.begin() as conn:
        for table, rows in (
            (Lead, LEADS),
            (LeadStageEvent, EVENTS),
            (Deal, DEALS),
            (Account, ACCOUNTS),
            (Order, ORDERS),
            (Mrr, MRR),
            (Spend, SPEND),
            (EmailList, EMAIL),
            (Activity, ACTIVITIES),
            (Plan, PLANS),
            (Ticket, TICKETS),
        ):
            for row in rows:  # one by one: the rows leave out different optional columns
                conn.execute(insert(table).values(**row))
