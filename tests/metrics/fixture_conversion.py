"""A small, hand-made November 2026 of leads, deals and marketing spend for the conversion and pipeline tests.

Every timestamp is UTC, at 10:00 unless said otherwise, so no asker's time zone moves a row across a day.
The asker's "now" is 2026-12-10 12:00 UTC.

leads  owner  source          segment  campaign  created  stage events (and what linked deals imply)
L1     rep-1  paid_search     saas     c-spring  Nov 2    mql Nov 3, sal Nov 4, sql Nov 6; D1 opened Nov 10, won Nov 20
L2     rep-1  paid_search     retail   c-spring  Nov 3    mql Nov 5, sql Nov 8 (skips sal), lost Nov 12
L3     rep-1  organic_search  saas     -         Nov 5    mql Nov 6, disqualified Nov 7
L4     rep-2  organic_search  saas     -         Nov 4    (none)
L5     rep-2  referral        retail   -         Nov 10   won Nov 25 (skips everything, no deal)
L6     rep-2  paid_search     saas     -         Nov 12   mql Nov 13, sal Nov 14
L7     rep-3  email           retail   c-autumn  Nov 15   mql 16, sal 17, sql 18, opportunity 19; D7 opened Nov 19, lost Nov 28
L8     rep-3  email           saas     c-autumn  Nov 20   mql Dec 2 (after November, before now)
L9     rep-1  paid_search     saas     -         Oct 10   mql Oct 12, sal Nov 2, sql Nov 3
L10    rep-2  organic_search  retail   -         Oct 20   mql Oct 21; D10 opened Nov 5, won Dec 3
L11    rep-3  referral        saas     -         Oct 5    mql 6, sal 7, sql 8, lost Oct 30; D16 opened Oct 8, lost Oct 30
L12    rep-2  organic_search  retail   -         Nov 21   mql Nov 22

deals  owner  lead  product  created  status  closed
D1     rep-1  L1    P-PRO    Nov 10   won     Nov 20
D7     rep-3  L7    P-PRO    Nov 19   lost    Nov 28
D10    rep-2  L10   P-START  Nov 5    won     Dec 3
D12    rep-2  -     P-START  Sep 1    won     Nov 15
D13    rep-1  -     P-START  Oct 1    lost    Nov 5
D15    rep-2  -     P-START  Nov 1    open    -
D16    rep-3  L11   P-PRO    Oct 8    lost    Oct 30 12:00

marketing spend: Oct 1 paid_search 1000 · Oct 15 organic_search 240 · Oct 31 paid_search/c-spring 60 ·
Nov 5 paid_search/c-spring 300 · Nov 15 paid_search 200 · Nov 20 email/c-autumn 100; sales spend Nov 10 999.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert, update

from storage.config.settings import Settings, load_settings
from storage.journeys import refresh_store
from storage.schema import Campaign, Deal, Lead, LeadStageEvent, Product, Spend
from tests.metrics.org import seed_people

__all__ = ["NOW", "SETTINGS", "at", "seed_conversion"]

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
SETTINGS: Settings = load_settings(env={})


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A naive-UTC moment of 2026, the way the store keeps it."""
    return datetime(2026, month, day, hour, minute)


LEADS = [
    ("L1", "rep-1", "paid_search", "saas", "c-spring", at(11, 2)),
    ("L2", "rep-1", "paid_search", "retail", "c-spring", at(11, 3)),
    ("L3", "rep-1", "organic_search", "saas", None, at(11, 5)),
    ("L4", "rep-2", "organic_search", "saas", None, at(11, 4)),
    ("L5", "rep-2", "referral", "retail", None, at(11, 10)),
    ("L6", "rep-2", "paid_search", "saas", None, at(11, 12)),
    ("L7", "rep-3", "email", "retail", "c-autumn", at(11, 15)),
    ("L8", "rep-3", "email", "saas", "c-autumn", at(11, 20)),
    ("L9", "rep-1", "paid_search", "saas", None, at(10, 10)),
    ("L10", "rep-2", "organic_search", "retail", None, at(10, 20)),
    ("L11", "rep-3", "referral", "saas", None, at(10, 5)),
    ("L12", "rep-2", "organic_search", "retail", None, at(11, 21)),
]

EVENTS = [
    ("L1", "mql", at(11, 3)),
    ("L1", "sal", at(11, 4)),
    ("L1", "sql", at(11, 6)),
    ("L2", "mql", at(11, 5)),
    ("L2", "sql", at(11, 8)),
    ("L2", "lost", at(11, 12)),
    ("L3", "mql", at(11, 6)),
    ("L3", "disqualified", at(11, 7)),
    ("L5", "won", at(11, 25)),
    ("L6", "mql", at(11, 13)),
    ("L6", "sal", at(11, 14)),
    ("L7", "mql", at(11, 16)),
    ("L7", "sal", at(11, 17)),
    ("L7", "sql", at(11, 18)),
    ("L7", "opportunity", at(11, 19)),
    ("L8", "mql", at(12, 2)),
    ("L9", "mql", at(10, 12)),
    ("L9", "sal", at(11, 2)),
    ("L9", "sql", at(11, 3)),
    ("L10", "mql", at(10, 21)),
    ("L11", "mql", at(10, 6)),
    ("L11", "sal", at(10, 7)),
    ("L11", "sql", at(10, 8)),
    ("L11", "lost", at(10, 30)),
    ("L12", "mql", at(11, 22)),
]

DEALS = [
    ("D1", "rep-1", "L1", "P-PRO", at(11, 10), "won", at(11, 20), Decimal("1000")),
    ("D7", "rep-3", "L7", "P-PRO", at(11, 19), "lost", at(11, 28), Decimal("800")),
    ("D10", "rep-2", "L10", "P-START", at(11, 5), "won", at(12, 3), Decimal("500")),
    ("D12", "rep-2", None, "P-START", at(9, 1), "won", at(11, 15), Decimal("300")),
    ("D13", "rep-1", None, "P-START", at(10, 1), "lost", at(11, 5), Decimal("300")),
    ("D15", "rep-2", None, "P-START", at(11, 1), "open", None, Decimal("300")),
    ("D16", "rep-3", "L11", "P-PRO", at(10, 8), "lost", at(10, 30, 12), Decimal("900")),
]

SPEND = [
    (date(2026, 10, 1), "marketing", "paid_search", "", "1000"),
    (date(2026, 10, 15), "marketing", "organic_search", "", "240"),
    (date(2026, 10, 31), "marketing", "paid_search", "c-spring", "60"),
    (date(2026, 11, 5), "marketing", "paid_search", "c-spring", "300"),
    (date(2026, 11, 15), "marketing", "paid_search", "", "200"),
    (date(2026, 11, 20), "marketing", "email", "c-autumn", "100"),
    (date(2026, 11, 10), "sales", "", "", "999"),
]


def seed_conversion(engine: Engine) -> None:
    """The fixture org's people, then the leads, stage events, deals, campaigns, products and spend above."""
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Campaign),
            [
                dict(campaign_id="c-spring", name="Spring Promo", channel="paid_search"),
                dict(campaign_id="c-autumn", name="Autumn Webinars", channel="email"),
            ],
        )
        conn.execute(
            insert(Product),
            [
                dict(product_id="P-PRO", name="Professional plan", price=Decimal("1000")),
                dict(product_id="P-START", name="Starter plan", price=Decimal("300")),
            ],
        )
        conn.execute(
            insert(Lead),
            [
                dict(lead_id=i, owner_id=o, source=s, segment=g, campaign_id=c, created_at=t)
                for i, o, s, g, c, t in LEADS
            ],
        )
        owners = {lead[0]: lead[1] for lead in LEADS}
        conn.execute(
            insert(LeadStageEvent),
            [dict(lead_id=i, stage=s, entered_at=t, owner_id=owners[i]) for i, s, t in EVENTS],
        )
        conn.execute(
            insert(Deal),
            [
                dict(
                    deal_id=d,
                    owner_id=o,
                    lead_id=lead,
                    product_id=p,
                    created_at=c,
                    status=st,
                    closed_at=cl,
                    amount=a,
                )
                for d, o, lead, p, c, st, cl, a in DEALS
            ],
        )
        conn.execute(
            insert(Spend),
            [dict(date=d, kind=k, channel=ch, campaign_id=c, amount=Decimal(a)) for d, k, ch, c, a in SPEND],
        )


JOURNEY_STATES = ("worked out live", "kept", "partly kept")
"""How the leads' journeys are read: live from the CRM tables (never refreshed), from `lead_journeys`, or from it
with three leads changed since (L1, L5 and L7 are then worked out live)."""


def prepare_journeys(engine: Engine, state: str) -> None:
    """Put the fixture's lead journeys into `state` (one of JOURNEY_STATES); every answer must be the same."""
    if state == "worked out live":
        return
    refresh_store(engine, SETTINGS)
    if state == "partly kept":
        with engine.begin() as conn:
            # Setting a column to itself is a change to the triggers: the three leads wait for the next refresh.
            conn.execute(
                update(Lead).where(Lead.lead_id.in_(["L1", "L5", "L7"])).values(created_at=Lead.created_at)
            )
