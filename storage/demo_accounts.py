"""Customers of the demo: accounts won from deals, their repeat orders, MRR, expansion deals, tickets and care."""

from __future__ import annotations

import numpy as np

from storage.demo_activities import Actuals, IdCounter, make_activities
from storage.demo_calendar import DemoCalendar, month_label
from storage.demo_deals import make_deals
from storage.demo_leads import NewAccounts
from storage.demo_org import ADD_ON_PRODUCTS, PRODUCTS, SEGMENTS, DemoOrg
from storage.demo_write import Rows, ids, sql_times

__all__ = ["make_accounts"]

_PRODUCT_IDS = np.array([p[0] for p in PRODUCTS], dtype=object)
_PRICES = np.array([p[3] for p in PRODUCTS])
_CHURN_PER_MONTH = 0.03
_CARE_MIX = np.cumsum([0.5, 0.5, 0, 0, 0, 0])  # check-in calls and meetings


def make_accounts(
    rng: np.random.Generator,
    cal: DemoCalendar,
    org: DemoOrg,
    counter: IdCounter,
    actuals: Actuals,
    new: NewAccounts,
    earlier: tuple[np.ndarray, np.ndarray],
) -> list[Rows]:
    """Everything that happens to newly won customers from their first order until they churn or today.

    `earlier` holds (ids, created days) of accounts made before, which referred customers point to.
    """
    now = cal.now
    k = len(new.account_id)
    rep_ids = np.array([p.user_id for p in org.reps], dtype=object)
    referred_by = np.full(k, None, dtype=object)
    earlier_ids, earlier_created = earlier
    if len(earlier_ids):
        pick = rng.integers(0, len(earlier_ids), k)
        known = new.referral & (earlier_created[pick] < new.lead_created)
        referred_by[known] = earlier_ids[pick[known]]
    onboarded = new.created + 2.0 + rng.gamma(2.0, 6.0, k)
    never = (onboarded >= now) | (rng.random(k) < 0.08)
    accounts = Rows(
        "accounts",
        ("account_id", "name", "created_at", "owner_id", "segment", "referred_by", "onboarded_at"),
        (
            new.account_id,
            new.company,
            sql_times(cal.start, new.created),
            rep_ids[new.owner],
            np.array(SEGMENTS, dtype=object)[new.segment],
            referred_by,
            sql_times(cal.start, onboarded, missing=never),
        ),
    )

    # One row per account and month it is a customer: from the month it was won until it churns or now.
    first_month = cal.month_of(new.created)
    lifetime = rng.geometric(_CHURN_PER_MONTH, k)
    last_month = np.minimum(first_month + lifetime - 1, cal.current_month)
    months = last_month - first_month + 1
    acc = np.repeat(np.arange(k), months)
    offset = np.arange(len(acc)) - np.repeat(np.cumsum(months) - months, months)
    month = first_month[acc] + offset
    # MRR drifts: mostly flat, sometimes expanding, now and then shrinking.
    u = rng.random(len(acc))
    step = np.where(
        u < 0.1, rng.uniform(1.05, 1.3, len(acc)), np.where(u < 0.15, rng.uniform(0.75, 0.95, len(acc)), 1.0)
    )
    step[offset == 0] = 1.0
    log_level = np.cumsum(np.log(step))
    log_level -= np.repeat(log_level[np.cumsum(months) - months], months)
    mrr_value = np.round(new.amount[acc] / 12.0 * np.exp(log_level), 2)
    labels = np.array([month_label(y, m) for y, m in cal.months], dtype=object)
    mrr = Rows("mrr", ("account_id", "month", "mrr"), (new.account_id[acc], labels[month], mrr_value))

    window_start = np.maximum(cal.month_starts[month].astype(float), new.created[acc])
    window_end = np.minimum(cal.month_starts[month + 1].astype(float), now)
    length = window_end - window_start

    def moments(mask: np.ndarray) -> np.ndarray:
        return window_start[mask] + rng.random(int(mask.sum())) * length[mask]

    # Repeat orders: renewals and add-ons in later months.
    repeat = (offset > 0) & (length > 0) & (rng.random(len(acc)) < 0.85)
    repeat_product = np.where(
        rng.random(int(repeat.sum())) < 0.6,
        new.product[acc[repeat]],
        rng.choice(ADD_ON_PRODUCTS, int(repeat.sum())),
    )

    # Expansion deals: an add-on sold to an existing customer.
    grows = np.flatnonzero((offset > 0) & (length > 0) & (rng.random(len(acc)) < 0.12))
    add_on = rng.choice(ADD_ON_PRODUCTS, len(grows))
    quantity = rng.integers(1, 4, len(grows))
    expansion = make_deals(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=new.owner[acc[grows]],
        created=window_start[grows] + rng.random(len(grows)) * length[grows],
        product=add_on,
        quantity=quantity,
        amount=_PRICES[add_on] * quantity * rng.lognormal(0.0, 0.2, len(grows)),
        win_rate=np.full(len(grows), 0.6),
        cycle_days=np.full(len(grows), 14.0),
        lead_id=None,
        account_id=new.account_id[acc[grows]],
    )
    expansion_amount = _PRICES[add_on] * quantity  # list price; the deal's own amount is what was billed
    won = np.flatnonzero(expansion.won)

    order_account = np.concatenate([np.arange(k), acc[repeat], acc[grows[won]]])
    order_count = len(order_account)
    orders = Rows(
        "orders",
        ("order_id", "account_id", "ordered_at", "amount", "product_id", "quantity", "owner_id", "deal_id"),
        (
            ids("O-", counter.take("order", order_count), order_count, 7),
            new.account_id[order_account],
            sql_times(cal.start, np.concatenate([new.created, moments(repeat), expansion.closed_at[won]])),
            np.round(
                np.concatenate(
                    [
                        new.amount,
                        mrr_value[repeat] * rng.uniform(0.6, 1.8, int(repeat.sum())),
                        expansion_amount[won],
                    ]
                ),
                2,
            ),
            _PRODUCT_IDS[np.concatenate([new.product, repeat_product, add_on[won]])],
            np.concatenate([np.ones(k, int), rng.integers(1, 4, int(repeat.sum())), quantity[won]]),
            rep_ids[new.owner[order_account]],
            np.concatenate(
                [new.deal_id, np.full(int(repeat.sum()), None, dtype=object), expansion.deal_id[won]]
            ),
        ),
    )

    # Support tickets, a few a month per customer.
    per_month = rng.poisson(0.35, len(acc)) * (length > 0)
    ticket_row = np.repeat(np.arange(len(acc)), per_month)
    opened = window_start[ticket_row] + rng.random(len(ticket_row)) * length[ticket_row]
    closed = opened + 0.05 + rng.exponential(1.5, len(ticket_row))
    tickets = Rows(
        "tickets",
        ("ticket_id", "account_id", "opened_at", "closed_at"),
        (
            ids("T-", counter.take("ticket", len(ticket_row)), len(ticket_row), 7),
            new.account_id[acc[ticket_row]],
            sql_times(cal.start, opened),
            sql_times(cal.start, closed, missing=closed >= now),
        ),
    )

    # Account care: a check-in call or meeting in about a third of the months.
    care = (length > 0) & (rng.random(len(acc)) < 0.3)
    care_owner = new.owner[acc[care]]
    due = cal.work_time(rng, moments(care), org.rep_zone[care_owner])
    check_ins = make_activities(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=care_owner,
        due=due,
        created=due - rng.uniform(0.1, 5.0, len(due)),
        cumulative_mix=np.tile(_CARE_MIX, (len(org.reps), 1)),
        account_id=new.account_id[acc[care]],
    )
    return [accounts, mrr, orders, tickets, *expansion.rows, check_ins]
