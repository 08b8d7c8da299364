"""Deals of the demo: pipeline stages with CRM-style names, won or lost or still open, and their activities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage.demo.activities import DEAL_MIX, Actuals, IdCounter, make_activities, type_mix
from storage.demo.calendar import DemoCalendar
from storage.demo.org import DEAL_STAGES, LOST_REASONS, PRODUCTS, DemoOrg
from storage.demo.write import Rows, ids, sql_times

__all__ = ["DealBatch", "make_deals"]

_PRODUCT_IDS = np.array([p[0] for p in PRODUCTS], dtype=object)


@dataclass(frozen=True)
class DealBatch:
    """Generated deals, with what the caller needs to link leads, accounts and orders to them."""

    rows: tuple[Rows, ...]  # deals, deal_stage_events, activities
    deal_id: np.ndarray  # object array of ids
    won: np.ndarray  # bool: closed won before now
    lost: np.ndarray  # bool: closed lost before now
    closed_at: np.ndarray  # days; meaningful where won | lost
    account_id: np.ndarray  # object array: the account each deal belongs to, or None


def make_deals(
    rng: np.random.Generator,
    cal: DemoCalendar,
    org: DemoOrg,
    counter: IdCounter,
    actuals: Actuals,
    *,
    owner: np.ndarray,
    created: np.ndarray,
    product: np.ndarray,
    quantity: np.ndarray,
    amount: np.ndarray,
    win_rate: np.ndarray,
    cycle_days: np.ndarray,
    lead_id: np.ndarray | None,
    account_id: np.ndarray | None,
    open_accounts: bool = False,
) -> DealBatch:
    """Deals opened at `created`; each walks Discovery → Demo → Proposal → Negotiation and closes after its cycle.

    A lost deal drops out after a random stage and closes when it would have entered the next one, so losses come
    earlier than wins, as in a real pipeline. Deals whose close lies after now are open. With `open_accounts`,
    each won deal gets a new account id (the customer it made).
    """
    now = cal.now
    n = len(owner)
    cycle = 0.5 + rng.gamma(2.0, cycle_days / 2.0)
    won = rng.random(n) < win_rate
    last_stage = np.where(won, 3, rng.integers(0, 4, n))
    offsets = np.zeros((n, 5))
    offsets[:, 1:4] = np.sort(rng.uniform(0.05, 0.9, (n, 3)), axis=1)
    offsets[:, 4] = 1.0
    stage_at = created[:, None] + offsets * cycle[:, None]
    close = np.round(stage_at[np.arange(n), last_stage + 1] * 1440) / 1440
    closed = close < now
    won_now, lost_now = won & closed, ~won & closed
    first = counter.take("deal", n)
    deal_ids = np.array(ids("D-", first, n, 7), dtype=object)
    status = np.where(won_now, "won", np.where(lost_now, "lost", "open"))
    reason = np.array(LOST_REASONS, dtype=object)[rng.integers(0, len(LOST_REASONS), n)]
    reason[~lost_now] = None
    rep_ids = np.array([p.user_id for p in org.reps], dtype=object)
    month = cal.month_of(close[won_now])
    actuals.add("deals_won", owner[won_now], month)
    actuals.add("revenue", owner[won_now], month, amount[won_now])
    nothing = [None] * n
    deal_account = np.full(n, None, dtype=object) if account_id is None else account_id
    if open_accounts:
        winners = np.flatnonzero(won_now)
        deal_account[winners] = ids("A-", counter.take("account", len(winners)), len(winners), 7)
    deals = Rows(
        "deals",
        (
            "deal_id",
            "owner_id",
            "created_at",
            "status",
            "closed_at",
            "amount",
            "product_id",
            "quantity",
            "lead_id",
            "account_id",
            "lost_reason",
        ),
        (
            deal_ids,
            rep_ids[owner],
            sql_times(cal.start, created),
            status,
            sql_times(cal.start, close, missing=~closed),
            np.round(amount, 2),
            _PRODUCT_IDS[product],
            quantity,
            nothing if lead_id is None else lead_id,
            deal_account,
            reason,
        ),
    )
    # Stage events: every stage up to the last one reached, then the closing stage.
    k = np.arange(4)[None, :]
    reached = (k <= last_stage[:, None]) & (stage_at[:, :4] < now)
    row, stage = np.nonzero(reached)
    names = np.array(DEAL_STAGES, dtype=object)[stage]
    times = stage_at[row, stage]
    closing = np.flatnonzero(closed)
    events = Rows(
        "deal_stage_events",
        ("deal_id", "stage", "entered_at"),
        (
            np.concatenate([deal_ids[row], deal_ids[closing]]),
            np.concatenate([names, np.where(won[closing], "Closed Won", "Closed Lost").astype(object)]),
            sql_times(cal.start, np.concatenate([times, close[closing]])),
        ),
    )
    # Work on the deal: more for long cycles, spread from opening to close (or a little past now).
    count = rng.poisson(2.0 + np.minimum(cycle, 90) / 12.0)
    which = np.repeat(np.arange(n), count)
    end = np.where(closed, close, np.minimum(close, now + 10))[which]
    opened = created[which]
    due = cal.work_time(
        rng, opened + rng.random(len(which)) * (end - opened), org.rep_zone[owner[which]], not_before=opened
    )
    made = np.maximum(opened, due - rng.uniform(0, 4, len(which)))
    activities = make_activities(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=owner[which],
        due=due,
        created=made,
        cumulative_mix=type_mix(org, DEAL_MIX),
        lead_id=None if lead_id is None else lead_id[which],
        deal_id=deal_ids[which],
        account_id=None if account_id is None else account_id[which],
    )
    return DealBatch(
        rows=(deals, events, activities),
        deal_id=deal_ids,
        won=won_now,
        lost=lost_now,
        closed_at=close,
        account_id=deal_account,
    )
