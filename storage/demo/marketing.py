"""Marketing of the demo: campaigns per quarter, daily spend by channel and campaign, e-mail list counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from storage.demo.calendar import DemoCalendar
from storage.demo.org import SOURCE_SHARE, SOURCES
from storage.demo.write import Rows, sql_dates, sql_times

__all__ = ["Campaigns", "make_campaigns", "make_spend", "make_email_lists"]

# source, id code, name pattern
_CAMPAIGN_CHANNELS = (
    ("paid_search", "PS", "Paid search {q}"),
    ("email", "EM", "Newsletter nurture {q}"),
    ("events", "EV", "Trade show {q}"),
)
_EVENT_DAYS = 21
# What one lead of a source costs: clicks, list upkeep, booth and travel, SEO content, referral bonuses
# (marketing) and the outbound team's time and data (sales). Set so that the campaigns earn back one to five
# times their cost and all spend is some 15-20 % of what new customers bring in.
_COST_PER_LEAD = {
    "paid_search": 600.0,
    "email": 500.0,
    "events": 1300.0,
    "organic_search": 120.0,
    "referral": 200.0,
    "outbound": 550.0,
}
_SALES_TEAM_PER_LEAD = 170.0  # account executives' pay and tools, per lead the organisation works
_EVENT_UPFRONT = 0.5  # of a trade show's cost (stand, sponsorship) paid in instalments over its quarter


@dataclass(frozen=True)
class Campaigns:
    """Campaign rows and which campaign (if any) a lead from a source on a day belongs to."""

    rows: Rows
    ids: np.ndarray  # object array
    on: np.ndarray  # [source, day] -> index in ids, or -1
    source: np.ndarray  # per campaign: index in SOURCES
    window: np.ndarray  # [campaign, 2] first and last+1 day index, clipped to the history
    quarter: np.ndarray  # [campaign, 2] first and last+1 day index of the campaign's quarter, not clipped


def _quarters(cal: DemoCalendar) -> list[tuple[date, date, str]]:
    """(first day, first day of the next, label) of every quarter touching the history."""
    out = []
    year, q = cal.start.year, (cal.start.month - 1) // 3
    while date(year, q * 3 + 1, 1) < cal.today:
        first = date(year, q * 3 + 1, 1)
        nxt = date(year + 1, 1, 1) if q == 3 else date(year, q * 3 + 4, 1)
        out.append((first, nxt, f"Q{q + 1} {year}"))
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)
    return out


def make_campaigns(cal: DemoCalendar) -> Campaigns:
    """Paid search and nurture e-mails run all quarter; each quarter has one three-week trade show."""
    days = cal.history_days
    on = np.full((len(SOURCES), days), -1, dtype=np.int64)
    ids: list[str] = []
    names: list[str] = []
    channels: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    sources: list[int] = []
    windows: list[tuple[int, int]] = []
    quarters: list[tuple[int, int]] = []
    for first, nxt, label in _quarters(cal):
        for source, code, pattern in _CAMPAIGN_CHANNELS:
            begin = (first - cal.start).days
            end = (nxt - cal.start).days
            quarter = (begin, end)
            if source == "events":
                begin, end = begin + 30, begin + 30 + _EVENT_DAYS
            lo, hi = max(begin, 0), min(end, days)
            if lo >= hi:
                continue
            on[SOURCES.index(source), lo:hi] = len(ids)
            ids.append(f"C-{code}-{first.year}Q{(first.month - 1) // 3 + 1}")
            names.append(pattern.format(q=label))
            channels.append(source)
            starts.append(begin)
            ends.append(end - 1.0 / 86400)
            sources.append(SOURCES.index(source))
            windows.append((lo, hi))
            quarters.append(quarter)
    rows = Rows(
        "campaigns",
        ("campaign_id", "name", "channel", "started_at", "ended_at"),
        (ids, names, channels, sql_times(cal.start, np.array(starts)), sql_times(cal.start, np.array(ends))),
    )
    return Campaigns(
        rows, np.array(ids, dtype=object), on, np.array(sources), np.array(windows), np.array(quarters)
    )


def make_spend(
    rng: np.random.Generator, cal: DemoCalendar, campaigns: Campaigns, expected_leads: np.ndarray
) -> Rows:
    """Daily costs, following the leads each channel is expected to bring that day (`expected_leads` per day).

    Marketing: campaigns (a trade show's stand is paid in instalments over its quarter, the rest during the
    show, so its month does not dwarf the others), SEO content and referral bonuses. Sales (working days only):
    the outbound team and the account executives.
    """
    days = np.arange(cal.history_days)
    by_source = SOURCE_SHARE[:, None] * expected_leads[None, :]
    rows: list[tuple[np.ndarray, str, str, object, np.ndarray]] = []
    for c, (lo, hi) in enumerate(campaigns.window):
        source = int(campaigns.source[c])
        cost = by_source[source, lo:hi] * _COST_PER_LEAD[SOURCES[source]]
        span, amount = days[lo:hi], cost
        if SOURCES[source] == "events":
            q_first, q_end = campaigns.quarter[c]
            q_lo, q_hi = max(q_first, 0), min(q_end, cal.history_days)
            upfront = _EVENT_UPFRONT * cost.sum() / (q_end - q_first)
            span = days[q_lo:q_hi]
            amount = np.full(len(span), upfront)
            amount[lo - q_lo : hi - q_lo] += (1 - _EVENT_UPFRONT) * cost
        amount = amount * rng.lognormal(0, 0.15, len(span))
        rows.append((span, "marketing", SOURCES[source], campaigns.ids[c], amount))
    for channel in ("organic_search", "referral"):
        cost = by_source[SOURCES.index(channel)] * _COST_PER_LEAD[channel]
        rows.append((days, "marketing", channel, "", cost * rng.lognormal(0, 0.1, len(days))))
    # Salaries are paid for the month, spread here over its working days like the work itself, growing with it.
    work = cal.is_workday[days]
    per_workday = expected_leads[work] * expected_leads.sum() / expected_leads[work].sum()
    for channel, cost in (
        ("outbound", _COST_PER_LEAD["outbound"] * SOURCE_SHARE[SOURCES.index("outbound")]),
        ("sales_team", _SALES_TEAM_PER_LEAD),
    ):
        amount = cost * per_workday * rng.lognormal(0, 0.05, len(per_workday))
        rows.append((days[work], "sales", channel, "", amount))
    return Rows(
        "spend",
        ("date", "kind", "channel", "campaign_id", "amount"),
        (
            sql_dates(cal.start, np.concatenate([r[0] for r in rows])),
            [r[1] for r in rows for _ in range(len(r[0]))],
            [r[2] for r in rows for _ in range(len(r[0]))],
            [r[3] for r in rows for _ in range(len(r[0]))],
            np.round(np.concatenate([r[4] for r in rows]), 2),
        ),
    )


def make_email_lists(rng: np.random.Generator, cal: DemoCalendar, leads_per_day: float) -> Rows:
    """Two lists that grow on working days and lose a few subscribers every day."""
    scale = max(leads_per_day / 50.0, 0.1)
    days = np.arange(cal.history_days)
    out_days, out_list, subs, unsubs, sizes = [], [], [], [], []
    for list_id, size, joins, leaves in (("newsletter", 6000, 22, 7), ("product-updates", 2500, 8, 3)):
        joined = rng.poisson(joins * scale * np.where(cal.is_workday[days], 1.0, 0.4))
        left = rng.poisson(leaves * scale, len(days))
        out_days.append(days)
        out_list += [list_id] * len(days)
        subs.append(joined)
        unsubs.append(left)
        sizes.append(int(size * scale) + np.cumsum(joined - left))
    return Rows(
        "email_list",
        ("date", "list_id", "subscribed", "unsubscribed", "size"),
        (
            sql_dates(cal.start, np.concatenate(out_days)),
            out_list,
            np.concatenate(subs),
            np.concatenate(unsubs),
            np.concatenate(sizes),
        ),
    )
