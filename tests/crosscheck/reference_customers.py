"""The reference's reading of retention (SPEC 3.3), revenue and marketing (3.6) and customer success (3.7)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from storage.config.settings import Settings
from tests.crosscheck.reference import Frames, Window, mine, ratio, won_in

__all__ = [
    "active_accounts",
    "acquired_at",
    "retention",
    "mrr_retention",
    "revenue",
    "cac",
    "campaign_roi",
    "email_growth",
    "customer_success",
]


def _accounts_of(frames: Frames, owners: tuple[str, ...] | None) -> pd.Series:
    """The scope's accounts (a customer counts for its account's owner)."""
    accounts = frames.accounts
    return accounts.loc[mine(accounts["owner_id"], owners), "account_id"]


def _mrr_in(frames: Frames, month: str) -> pd.Series:
    """MRR per account in one month (accounts without a row are absent)."""
    rows = frames.mrr[frames.mrr["month"] == month]
    return rows.groupby("account_id")["mrr"].sum()


def active_accounts(frames: Frames, settings: Settings, at: datetime, month_before: str) -> set[str]:
    """SPEC 3.3: accounts with an order in the W days before `at` (naive UTC), or with MRR > 0 in the month
    before it."""
    orders = frames.orders
    since = at - timedelta(days=settings.retention.window_days)
    ordered = orders.loc[(orders["ordered_at"] >= since) & (orders["ordered_at"] < at), "account_id"]
    paying = _mrr_in(frames, month_before)
    return set(ordered) | set(paying[paying > 0].index)


def _first_orders(frames: Frames) -> pd.Series:
    return frames.orders.groupby("account_id")["ordered_at"].min()


def retention(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.3 CRR = |S ∩ E| / |S|, with S, E, N and the repeat purchase rate."""
    scope = set(_accounts_of(frames, owners))
    at_start = active_accounts(frames, settings, window.start, window.month_before) & scope
    at_end = active_accounts(frames, settings, window.end, window.last_month) & scope
    first = _first_orders(frames)
    new = {a for a in scope if a in first.index and window.start <= first[a] < window.end}
    orders = frames.orders[
        window.holds(frames.orders["ordered_at"]) & frames.orders["account_id"].isin(scope)
    ]
    per_customer = orders.groupby("account_id").size()
    crr = ratio(len(at_start & at_end), len(at_start))
    return {
        "crr": crr,
        "churn_rate": None if crr is None else 1 - crr,
        "start_customers": len(at_start),
        "end_customers": len(at_end),
        "retained_customers": len(at_start & at_end),
        "new_customers": len(new),
        "repeat_purchase_rate": ratio(int((per_customer >= 2).sum()), len(per_customer)),
    }


def _end_month(frames: Frames, window: Window) -> str:
    """The period's last month, or the latest month of the period already loaded."""
    loaded = set(frames.mrr["month"])
    months = pd.period_range(window.first_day, window.end_day - timedelta(days=1), freq="M").strftime("%Y-%m")
    if window.last_month in loaded:
        return window.last_month
    in_period = [m for m in months if m in loaded]
    return in_period[-1] if in_period else window.last_month


def mrr_retention(frames: Frames, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.3 NRR and GRR over the accounts paying in the month before the period, and the MRR movements."""
    scope = set(_accounts_of(frames, owners))
    start = _mrr_in(frames, window.month_before)
    start = start[(start > 0) & start.index.isin(scope)]
    end_all = _mrr_in(frames, _end_month(frames, window))
    end_all = end_all[end_all.index.isin(scope)]
    end = end_all.reindex(start.index).fillna(0.0)
    change = end - start
    newcomers = end_all[~end_all.index.isin(start.index) & (end_all > 0)]
    base = float(start.sum())
    return {
        "nrr": ratio(float(end.sum()), base),
        "grr": ratio(float(end.clip(upper=start).sum()), base),
        "mrr_start": base,
        "mrr_end": float(end.sum() + newcomers.sum()),
        "new_mrr": float(newcomers.sum()),
        "expansion_mrr": float(change[change > 0].sum()),
        "contraction_mrr": float(-change[(change < 0) & (end > 0)].sum()),
        "churned_mrr": float(start[end <= 0].sum()),
    }


def acquired_at(frames: Frames) -> pd.Series:
    """When each account became a customer: its first order or its first won deal, whichever came first."""
    deals = frames.deals[(frames.deals["status"] == "won") & frames.deals["account_id"].notna()]
    both = pd.concat(
        [
            pd.DataFrame({"account_id": frames.orders["account_id"], "at": frames.orders["ordered_at"]}),
            pd.DataFrame({"account_id": deals["account_id"], "at": deals["closed_at"]}),
        ]
    )
    return both.dropna().groupby("account_id")["at"].min()


def revenue(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.6 revenue (won deals by close date) and new revenue (customer acquired at most
    revenue.new_customer_days before the sale)."""
    won = won_in(frames, window, owners)
    since = won["account_id"].map(acquired_at(frames))
    new = since.notna() & (won["closed_at"] - since <= timedelta(days=settings.revenue.new_customer_days))
    total = float(won["amount"].sum())
    return {
        "revenue": total,
        "new_revenue": float(won.loc[new, "amount"].sum()),
        "deals_won": len(won),
        "avg_deal_size": ratio(total, len(won)),
    }


def _spend(frames: Frames, window: Window, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    spend = frames.spend
    days = (spend["date"] >= window.first_day) & (spend["date"] < window.end_day)
    if kinds is not None:
        days &= spend["kind"].isin(kinds)
    return spend[days]


def cac(frames: Frames, window: Window) -> dict:
    """SPEC 3.6 CAC = marketing and sales spend on the period's days / customers acquired in the period."""
    spend = float(_spend(frames, window, ("marketing", "sales"))["amount"].sum())
    new = int(window.holds(acquired_at(frames)).sum())
    return {"cac": ratio(spend, new), "spend": spend, "new_customers": new}


def campaign_roi(frames: Frames, window: Window) -> dict:
    """SPEC 3.6 ROI = (revenue of won deals from the campaigns' leads − the campaigns' spend) / that spend."""
    won = won_in(frames, window, None)
    campaign = won["lead_id"].map(frames.leads.set_index("lead_id")["campaign_id"])
    # A campaign is its id on the lead and on the spend row, whether or not the campaigns table names it.
    from_campaigns = won[campaign.notna() & (campaign != "")]
    spend = _spend(frames, window)
    spend = spend[spend["campaign_id"].fillna("") != ""]
    revenue_ = float(from_campaigns["amount"].sum())
    cost = float(spend["amount"].sum())
    return {"roi": ratio(revenue_ - cost, cost), "revenue": revenue_, "spend": cost}


def email_growth(frames: Frames, window: Window) -> dict:
    """SPEC 3.6 growth = (subscribed − unsubscribed over the period's days) / list size at the period's start."""
    lists = frames.email_list
    days = lists[(lists["date"] >= window.first_day) & (lists["date"] < window.end_day)]

    def size_before(day) -> int:
        earlier = lists[lists["date"] < day].sort_values("date")
        return int(earlier.groupby("list_id")["size"].last().sum())

    subscribed, unsubscribed = int(days["subscribed"].sum()), int(days["unsubscribed"].sum())
    start = size_before(window.first_day)
    return {
        "growth_rate": ratio(subscribed - unsubscribed, start),
        "subscribed": subscribed,
        "unsubscribed": unsubscribed,
        "size_start": start,
        "size_end": size_before(window.end_day),
    }


def customer_success(
    frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None
) -> dict:
    """SPEC 3.7: portfolio growth, account retention on MRR, referrals, tickets per active account, onboardings."""
    scope_ids = _accounts_of(frames, owners)
    scope = set(scope_ids)
    at_start = len(active_accounts(frames, settings, window.start, window.month_before) & scope)
    at_end = len(active_accounts(frames, settings, window.end, window.last_month) & scope)
    before = _mrr_in(frames, window.month_before)
    paying = set(before[before > 0].index) & scope
    last = _mrr_in(frames, _end_month(frames, window))
    still = paying & set(last[last > 0].index)
    accounts = frames.accounts[frames.accounts["account_id"].isin(scope)]
    referred = window.holds(accounts["created_at"]) & accounts["referred_by"].notna()
    tickets = frames.tickets[
        frames.tickets["account_id"].isin(scope) & window.holds(frames.tickets["opened_at"])
    ]
    onboarded = accounts[window.holds(accounts["onboarded_at"])]
    days = (onboarded["onboarded_at"] - onboarded["created_at"]).dt.total_seconds() / 86400
    return {
        "portfolio_growth": ratio(at_end - at_start, at_start),
        "active_start": at_start,
        "active_end": at_end,
        "account_retention": ratio(len(still), len(paying)),
        "referrals": int(referred.sum()),
        "tickets": len(tickets),
        "tickets_per_active_account": ratio(len(tickets), at_end),
        "onboardings": len(onboarded),
        "median_onboarding_days": float(days.median()) if len(days.dropna()) else None,
    }
