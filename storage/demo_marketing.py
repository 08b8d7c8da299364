"""Marketing of the demo: campaigns per quarter, daily spend by channel and campaign, e-mail list counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from storage.demo_calendar import DemoCalendar
from storage.demo_org import SOURCES
from storage.demo_write import Rows, sql_dates, sql_times

__all__ = ["Campaigns", "make_campaigns", "make_spend", "make_email_lists"]

# source, id code, name pattern, daily spend per 50 leads a day
_CAMPAIGN_CHANNELS = (
    ("paid_search", "PS", "Paid search {q}", 420.0),
    ("email", "EM", "Newsletter nurture {q}", 60.0),
    ("events", "EV", "Trade show {q}", 950.0),
)
_EVENT_DAYS = 21


@dataclass(frozen=True)
class Campaigns:
    """Campaign rows and which campaign (if any) a lead from a source on a day belongs to."""

    rows: Rows
    ids: np.ndarray  # object array
    on: np.ndarray  # [source, day] -> index in ids, or -1
    spend_per_day: np.ndarray  # per campaign, at 50 leads a day
    window: np.ndarray  # [campaign, 2] first and last+1 day index, clipped to the history


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
    costs: list[float] = []
    windows: list[tuple[int, int]] = []
    for first, nxt, label in _quarters(cal):
        for source, code, pattern, cost in _CAMPAIGN_CHANNELS:
            begin = (first - cal.start).days
            end = (nxt - cal.start).days
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
            costs.append(cost)
            windows.append((lo, hi))
    rows = Rows(
        "campaigns",
        ("campaign_id", "name", "channel", "started_at", "ended_at"),
        (ids, names, channels, sql_times(cal.start, np.array(starts)), sql_times(cal.start, np.array(ends))),
    )
    return Campaigns(rows, np.array(ids, dtype=object), on, np.array(costs), np.array(windows))


def make_spend(
    rng: np.random.Generator, cal: DemoCalendar, campaigns: Campaigns, leads_per_day: float
) -> Rows:
    """Daily costs: campaign spend, SEO content and referral bonuses (marketing), outbound team costs (sales)."""
    scale = leads_per_day / 50.0
    days = np.arange(cal.history_days)
    weekday = np.where(cal.is_workday[days], 1.0, 0.45)
    rows: list[tuple[np.ndarray, str, str, object, np.ndarray]] = []
    for c, (lo, hi) in enumerate(campaigns.window):
        span = days[lo:hi]
        amount = campaigns.spend_per_day[c] * scale * weekday[span] * rng.lognormal(0, 0.15, len(span))
        rows.append((span, "marketing", str(campaigns.rows.data[2][c]), campaigns.ids[c], amount))
    for channel, kind, cost in (("organic_search", "marketing", 150.0), ("referral", "marketing", 40.0)):
        rows.append((days, kind, channel, "", cost * scale * weekday * rng.lognormal(0, 0.1, len(days))))
    work = days[cal.is_workday[days]]
    rows.append((work, "sales", "outbound", "", 700.0 * scale * rng.lognormal(0, 0.05, len(work))))
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
