"""Customers of the demo: accounts won from deals, their repeat orders, MRR, expansion deals, tickets and care."""

from __future__ import annotations

import numpy as np

from storage.demo.activities import Actuals, IdCounter, make_activities
from storage.demo.calendar import DemoCalendar, month_label
from storage.demo.deals import make_deals
from storage.demo.leads import NewAccounts
from storage.demo.org import ADD_ON_PRODUCTS, PRODUCTS, SEGMENTS, DemoOrg
from storage.demo.write import Rows, ids, sql_times

__all__ = ["make_accounts"]

_PRODUCT_IDS = np.array([p[0] for p in PRODUCTS], dtype=object)
_PRICES = np.array([p[3] for p in PRODUCTS])
# Per tier (enterprise, mid-market, small business): big customers churn less and buy more over time.
_CHURN_PER_MONTH = np.array([0.007, 0.016, 0.04])
_EXPANSION_PER_MONTH = np.array([0.065, 0.045, 0.02])
_UPSELL_SHARE = 0.6  # of expansion deals: more units of the customer's plan; the rest are add-ons
_REFERRER_KNOWN = 0.85  # of customers who came through a referral, the share whose referrer is on record
_CARE_MIX = np.cumsum([0.5, 0.5, 0, 0, 0, 0])  # check-in calls and meetings


def _referrers(
    rng: np.random.Generator, new: NewAccounts, earlier: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Who referred each referred customer: an account (earlier, or of this batch) that existed before the lead."""
    pool_ids = np.concatenate([earlier[0], new.account_id])
    pool_created = np.concatenate([earlier[1], new.created])
    order = np.argsort(pool_created, kind="stable")
    pool_ids, pool_created = pool_ids[order], pool_created[order]
    referred = np.flatnonzero(new.referral & (rng.random(len(new.referral)) < _REFERRER_KNOWN))
    older = np.searchsorted(
        pool_created, new.lead_created[referred]
    )  # how many accounts are older than the lead
    pick = np.floor(rng.random(len(referred)) * older).astype(np.int64)
    referred_by = np.full(len(new.account_id), None, dtype=object)
    known = older > 0
    referred_by[referred[known]] = pool_ids[pick[known]]
    return referred_by


def _within_account(values: np.ndarray, starts: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Running sums of per-row values, restarting at each account's first row (rows are grouped by account)."""
    total = np.cumsum(values)
    return total - np.repeat(total[starts] - values[starts], months)


def make_accounts(
    rng: np.random.Generator,
    cal: DemoCalendar,
    org: DemoOrg,
    counter: IdCounter,
    actuals: Actuals,
    new: NewAccounts,
    earlier: tuple[np.ndarray, np.ndarray],
) -> list[Rows]:
    """Everything that happens to customers from their first order until they churn or today.

    `new` are customers won in the history or, with `created` before its start, the installed base. `earlier`
    holds (ids, created days) of accounts made before, which referred customers point to.
    """
    now = cal.now
    k = len(new.account_id)
    rep_ids = np.array([p.user_id for p in org.reps], dtype=object)
    referred_by = _referrers(rng, new, earlier)
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

    # One row per account and month it is a customer: from the month it was won (or the first month of the
    # history, for the installed base) until it churns or now.
    signed_before = new.created < 0
    tier = org.rep_tier[new.owner]
    first_month = cal.month_of(np.maximum(new.created, 0.0))
    lifetime = rng.geometric(_CHURN_PER_MONTH[tier])
    last_month = np.minimum(first_month + lifetime - 1, cal.current_month)
    months = last_month - first_month + 1
    starts = np.cumsum(months) - months
    acc = np.repeat(np.arange(k), months)
    offset = np.arange(len(acc)) - np.repeat(starts, months)
    month = first_month[acc] + offset
    paying = (offset > 0) | signed_before[acc]  # a month after the one of the first order
    window_start = np.maximum(cal.month_starts[month].astype(float), new.created[acc])
    window_end = np.minimum(cal.month_starts[month + 1].astype(float), now)
    length = window_end - window_start

    def moments(mask: np.ndarray) -> np.ndarray:
        return window_start[mask] + rng.random(int(mask.sum())) * length[mask]

    # Expansion deals: more units of the plan or an add-on, sold to a customer of at least a month.
    grows = np.flatnonzero(paying & (length > 0) & (rng.random(len(acc)) < _EXPANSION_PER_MONTH[tier[acc]]))
    grown = acc[grows]
    upsell = rng.random(len(grows)) < _UPSELL_SHARE
    add_on = np.where(upsell, new.product[grown], rng.choice(ADD_ON_PRODUCTS, len(grows)))
    # An upsell adds a third to two thirds of the contract in seats; an add-on is sold at about its list price.
    upsell_amount = new.amount[grown] * rng.uniform(0.3, 0.7, len(grows))
    quantity = np.where(
        upsell, np.maximum(1, np.round(upsell_amount / _PRICES[add_on])), rng.integers(1, 4, len(grows))
    ).astype(np.int64)
    expansion_amount = np.round(
        np.where(upsell, upsell_amount, _PRICES[add_on] * quantity * rng.lognormal(0.0, 0.2, len(grows))), 2
    )
    expansion = make_deals(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=new.owner[grown],
        created=window_start[grows] + rng.random(len(grows)) * length[grows],
        product=add_on,
        quantity=quantity,
        amount=expansion_amount,
        win_rate=np.full(len(grows), 0.6),
        cycle_days=np.where(upsell, 21.0, 14.0),
        lead_id=None,
        account_id=new.account_id[grown],
    )
    won = np.flatnonzero(expansion.won)

    # MRR drifts a little (usage, discounts), and a won expansion adds its twelfth from the next month on.
    u = rng.random(len(acc))
    step = np.where(
        u < 0.05, rng.uniform(1.03, 1.15, len(acc)), np.where(u < 0.09, rng.uniform(0.8, 0.95, len(acc)), 1.0)
    )
    step[offset == 0] = 1.0
    level = np.exp(_within_account(np.log(step), starts, months))
    added = np.zeros(len(acc))
    won_acc = grown[won]
    billed_from = cal.month_of(expansion.closed_at[won]) + 1
    lands = billed_from <= last_month[won_acc]
    np.add.at(
        added,
        starts[won_acc[lands]] + billed_from[lands] - first_month[won_acc[lands]],
        expansion_amount[won[lands]] / 12.0,
    )
    mrr_value = np.round(new.amount[acc] / 12.0 * level + _within_account(added, starts, months), 2)
    labels = np.array([month_label(y, m) for y, m in cal.months], dtype=object)
    mrr = Rows("mrr", ("account_id", "month", "mrr"), (new.account_id[acc], labels[month], mrr_value))

    # Repeat orders: the plan's invoices and add-ons in later months.
    repeat = paying & (length > 0) & (rng.random(len(acc)) < 0.85)
    repeat_product = np.where(
        rng.random(int(repeat.sum())) < 0.6,
        new.product[acc[repeat]],
        rng.choice(ADD_ON_PRODUCTS, int(repeat.sum())),
    )
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
