"""Leads of the demo and their way down the funnel: stage events, the deals they become, the work on them."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from storage.demo.activities import LEAD_MIX, Actuals, IdCounter, make_activities, type_mix
from storage.demo.calendar import DemoCalendar
from storage.demo.deals import make_deals
from storage.demo.org import (
    PRODUCTS,
    SEGMENT_SHARE,
    SEGMENTS,
    SOURCE_MQL_FACTOR,
    SOURCE_SHARE,
    SOURCES,
    TIERS,
    DemoOrg,
)
from storage.demo.write import Rows, ids, sql_times

__all__ = ["LeadWorld", "NewAccounts", "make_leads"]

_MINUTE = 1.0 / 1440.0
_FUNNEL = ("mql", "sal", "sql", "opportunity")
_MQL_RATE = 0.65
# Mean days spent before entering mql, sal, sql, opportunity.
_STAGE_GAP_DAYS = np.array([1.5, 2.0, 3.0, 5.0])


@dataclass(frozen=True)
class LeadWorld:
    """What every chunk of leads draws from."""

    cal: DemoCalendar
    org: DemoOrg
    hire_day: np.ndarray  # per rep
    companies: np.ndarray  # object array of company names
    campaign_ids: np.ndarray  # object array
    campaign_on: np.ndarray  # [source, day] -> index in campaign_ids, or -1


@dataclass(frozen=True)
class NewAccounts:
    """Customers won in a chunk: one per won deal that came from a lead."""

    account_id: np.ndarray
    created: np.ndarray  # days (the deal's close)
    owner: np.ndarray
    amount: np.ndarray
    product: np.ndarray
    segment: np.ndarray
    company: np.ndarray
    referral: np.ndarray  # bool: the lead came through a referral
    lead_created: np.ndarray
    deal_id: np.ndarray

    def take(self, index: np.ndarray) -> NewAccounts:
        """The customers at `index`, as a batch of their own."""
        return NewAccounts(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def make_leads(
    rng: np.random.Generator, world: LeadWorld, counter: IdCounter, actuals: Actuals, days: np.ndarray
) -> tuple[list[Rows], NewAccounts]:
    """Leads created on the given days (sorted), with everything that followed from them up to now."""
    cal, org = world.cal, world.org
    now = cal.now
    n = len(days)
    hours = np.where(cal.is_workday[days], rng.uniform(6, 22, n), rng.uniform(0, 24, n))
    created = np.round((days + hours / 24.0) / _MINUTE) * _MINUTE
    owner = _owners(rng, world, days)
    source = rng.choice(len(SOURCES), n, p=SOURCE_SHARE)
    campaign = world.campaign_on[source, days]
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARE)
    company = world.companies[rng.integers(0, len(world.companies), n)]
    lead_ids = np.array(ids("L-", counter.take("lead", n), n, 7), dtype=object)
    rep_ids = np.array([p.user_id for p in org.reps], dtype=object)
    actuals.add("new_leads", owner, cal.month_of(created))

    # The funnel: each step is taken with the rep's (and source's) odds, after a random wait.
    odds = np.stack(
        [
            np.minimum(_MQL_RATE * SOURCE_MQL_FACTOR[source], 0.95),
            org.trait_array("sal")[owner],
            org.trait_array("sql")[owner],
            org.trait_array("opportunity")[owner],
        ],
        axis=1,
    )
    passes = np.cumprod(rng.random((n, 4)) < odds, axis=1).astype(bool)
    gaps = 5 * _MINUTE + rng.exponential(_STAGE_GAP_DAYS, (n, 4))
    entered = np.round((created[:, None] + np.cumsum(gaps, axis=1)) / _MINUTE) * _MINUTE
    reached = passes & (entered < now)
    level = reached.sum(axis=1)
    last = np.where(level > 0, entered[np.arange(n), np.maximum(level - 1, 0)], created)
    failed = (level < 4) & ~passes[np.arange(n), np.minimum(level, 3)]
    # A lead that stalls is closed out some weeks later, once the rep gives up on it: disqualified before SQL
    # (now and then marked lost instead), lost after it. A few are forgotten and stay open.
    ends = rng.random(n)
    closes_out = failed & (ends < np.where(level <= 2, 0.96, 0.9))
    disqualified = closes_out & (level <= 2) & (ends < 0.88)
    end_at = np.round((last + 7.0 + rng.gamma(2.0, 7.0, n)) / _MINUTE) * _MINUTE
    ended = closes_out & (end_at < now)

    # Leads that reached "opportunity" became deals there.
    opp = np.flatnonzero(level == 4)
    tier = org.rep_tier[owner[opp]]
    product = np.array([t.product for t in TIERS])[tier]
    quantity = rng.integers(1, np.array([t.max_quantity for t in TIERS])[tier] + 1)
    price = np.array([p[3] for p in PRODUCTS])[product]
    amount = price * quantity * rng.lognormal(0.0, 0.25, len(opp)) * org.trait_array("amount")[owner[opp]]
    deals = make_deals(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=owner[opp],
        created=entered[opp, 3],
        product=product,
        quantity=quantity,
        amount=amount,
        win_rate=np.minimum(
            np.array([t.win_rate for t in TIERS])[tier] * org.trait_array("win")[owner[opp]], 0.9
        ),
        cycle_days=np.array([t.cycle_days for t in TIERS])[tier] * org.trait_array("cycle")[owner[opp]],
        lead_id=lead_ids[opp],
        account_id=None,
        open_accounts=True,
    )
    closed = deals.won | deals.lost

    # Stage events: lead, each stage reached, then the end of the journey if there was one.
    row, step = np.nonzero(reached)
    event_lead = np.concatenate([np.arange(n), row, np.flatnonzero(ended), opp[closed]])
    event_stage = np.concatenate(
        [
            np.full(n, "lead", dtype=object),
            np.array(_FUNNEL, dtype=object)[step],
            np.where(disqualified[ended], "disqualified", "lost").astype(object),
            np.where(deals.won[closed], "won", "lost").astype(object),
        ]
    )
    event_at = np.concatenate([created, entered[row, step], end_at[ended], deals.closed_at[closed]])
    # Keep each lead's events together, in the key's order, so the primary key index grows at its end.
    order = np.argsort(event_lead, kind="stable")
    event_lead, event_stage, event_at = event_lead[order], event_stage[order], event_at[order]
    leads = Rows(
        "leads",
        ("lead_id", "created_at", "owner_id", "source", "campaign_id", "segment", "company"),
        (
            lead_ids,
            sql_times(cal.start, created),
            rep_ids[owner],
            np.array(SOURCES, dtype=object)[source],
            np.where(campaign >= 0, world.campaign_ids[np.maximum(campaign, 0)], None),
            np.array(SEGMENTS, dtype=object)[segment],
            company,
        ),
    )
    events = Rows(
        "lead_stage_events",
        ("lead_id", "stage", "entered_at", "owner_id"),
        (lead_ids[event_lead], event_stage, sql_times(cal.start, event_at), rep_ids[owner[event_lead]]),
    )

    # Work on the lead until it ends or becomes a deal (open leads get planned follow-ups past now).
    until = np.where(ended, end_at, np.where(level == 4, entered[:, 3], np.minimum(last + 4.0, now + 7)))
    count = rng.poisson(0.8 + 0.7 * level)
    which = np.repeat(np.arange(n), count)
    start = created[which]
    span = np.maximum(until[which] - start, 0.5)
    due = cal.work_time(
        rng, start + rng.random(len(which)) * span, org.rep_zone[owner[which]], not_before=start
    )
    activities = make_activities(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=owner[which],
        due=due,
        created=np.maximum(start, due - rng.uniform(0, 3, len(which))),
        cumulative_mix=type_mix(org, LEAD_MIX),
        lead_id=lead_ids[which],
    )

    won = opp[deals.won]
    accounts = NewAccounts(
        account_id=deals.account_id[deals.won],
        created=deals.closed_at[deals.won],
        owner=owner[won],
        amount=amount[deals.won],
        product=product[deals.won],
        segment=segment[won],
        company=company[won],
        referral=source[won] == SOURCES.index("referral"),
        lead_created=created[won],
        deal_id=deals.deal_id[deals.won],
    )
    return [leads, events, *deals.rows, activities], accounts


def _owners(rng: np.random.Generator, world: LeadWorld, days: np.ndarray) -> np.ndarray:
    """Leads go to reps by their weight; a rep hired later gets none before the start date."""
    weight = world.org.trait_array("lead_weight")
    anyone = rng.choice(len(weight), len(days), p=weight / weight.sum())
    veterans = np.flatnonzero(world.hire_day == 0)
    fallback = rng.choice(veterans, len(days), p=weight[veterans] / weight[veterans].sum())
    return np.where(days >= world.hire_day[anyone], anyone, fallback)
