"""Who works at the demo organisation: teams, managers, reps with their strengths, products and lead sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage.demo.names import PersonNames

__all__ = [
    "Trait",
    "TRAITS",
    "TRAIT_CYCLE",
    "Tier",
    "TIERS",
    "Person",
    "DemoOrg",
    "make_org",
    "ZONES",
    "SOURCES",
    "SOURCE_SHARE",
    "SOURCE_MQL_FACTOR",
    "SEGMENTS",
    "SEGMENT_SHARE",
    "PRODUCTS",
    "LOST_REASONS",
    "DEAL_STAGES",
    "ADD_ON_PRODUCTS",
]

ZONES = ("Europe/Berlin", "America/New_York", "Europe/Moscow", "Europe/London")

SOURCES = ("organic_search", "paid_search", "email", "referral", "events", "outbound")
SOURCE_SHARE = np.array([0.25, 0.22, 0.15, 0.08, 0.10, 0.20])
# Referrals and event contacts qualify more often than bought clicks and cold outreach.
SOURCE_MQL_FACTOR = np.array([1.0, 0.85, 0.9, 1.4, 1.1, 0.7])

SEGMENTS = ("saas", "retail", "manufacturing", "healthcare", "finance", "education", "logistics")
SEGMENT_SHARE = np.array([0.24, 0.16, 0.16, 0.12, 0.14, 0.08, 0.10])

# product_id, name, category, price (per unit per year for plans)
PRODUCTS = (
    ("P-STARTER", "Starter plan", "subscription", 1200.0),
    ("P-PRO", "Professional plan", "subscription", 4800.0),
    ("P-ENT", "Enterprise plan", "subscription", 24000.0),
    ("P-ONBOARD", "Onboarding package", "services", 2500.0),
    ("P-ANALYTICS", "Analytics add-on", "add-on", 1800.0),
    ("P-SUPPORT", "Premium support", "add-on", 3000.0),
)
ADD_ON_PRODUCTS = np.array([3, 4, 5])

DEAL_STAGES = ("Discovery", "Demo", "Proposal", "Negotiation")
LOST_REASONS = (
    "Price too high",
    "Chose a competitor",
    "No budget this year",
    "Went silent",
    "Timing: revisit next year",
    "Missing feature",
)


@dataclass(frozen=True)
class Trait:
    """How a rep differs from the average: multipliers on the funnel, the pipeline and the daily routine."""

    name: str
    description: str
    lead_weight: float = 1.0  # share of incoming leads
    sal: float = 0.85  # P(mql -> sal)
    sql: float = 0.8  # P(sal -> sql)
    opportunity: float = 0.75  # P(sql -> opportunity)
    win: float = 1.0  # multiplier on the tier's win rate
    amount: float = 1.0
    cycle: float = 1.0
    cold_calls: float = 1.0  # prospecting calls per day, relative
    meeting_share: float = 1.0  # relative share of meetings among activities
    overdue: float = 0.08  # share of past-due activities left undone
    plan_factor: float = 1.0  # target / what the rep actually sells
    hired_months_ago: int = 0  # 0: there all year


TRAITS = {
    t.name: t
    for t in (
        Trait("steady", "on plan: average conversion and activity"),
        Trait(
            "star",
            "ahead of plan: wins more, closes faster, books many meetings",
            win=1.35,
            cycle=0.75,
            amount=1.1,
            meeting_share=1.6,
            overdue=0.03,
            plan_factor=0.75,
        ),
        Trait(
            "behind",
            "behind plan: works fewer leads, few calls, many overdue tasks",
            lead_weight=0.7,
            win=0.75,
            cold_calls=0.5,
            overdue=0.25,
            plan_factor=1.45,
        ),
        Trait(
            "weak_acceptance",
            "weak MQL->SQL acceptance: turns most marketing leads away",
            sal=0.45,
            sql=0.45,
            plan_factor=1.15,
        ),
        Trait(
            "busy_caller",
            "many calls, few meetings: high call volume, low meeting rate",
            opportunity=0.5,
            cold_calls=3.0,
            meeting_share=0.15,
            plan_factor=1.1,
        ),
        Trait(
            "big_deal_hunter",
            "few, large deals with a long sales cycle",
            lead_weight=0.6,
            win=0.85,
            amount=2.6,
            cycle=1.7,
        ),
        Trait(
            "ramping",
            "new hire (joined 4 months ago), still ramping up",
            lead_weight=0.8,
            plan_factor=1.2,
            hired_months_ago=4,
        ),
    )
}
TRAIT_CYCLE = (
    "steady",
    "star",
    "behind",
    "weak_acceptance",
    "busy_caller",
    "steady",
    "big_deal_hunter",
    "ramping",
)


@dataclass(frozen=True)
class Tier:
    """What a team sells: its main product, deal size, sales cycle and win rate."""

    product: int  # index in PRODUCTS
    max_quantity: int
    cycle_days: float
    win_rate: float


TIERS = (
    Tier(product=2, max_quantity=3, cycle_days=45.0, win_rate=0.34),  # enterprise
    Tier(product=1, max_quantity=6, cycle_days=24.0, win_rate=0.42),  # mid-market
    Tier(product=0, max_quantity=4, cycle_days=12.0, win_rate=0.50),  # small business
)

_TEAM_NAMES = (
    "Enterprise",
    "Mid-Market",
    "SMB",
    "Strategic Accounts",
    "Public Sector",
    "Partners & Channels",
    "EMEA Growth",
    "North America Growth",
    "Inside Sales",
    "Renewals & Expansion",
    "Healthcare",
    "Financial Services",
)


@dataclass(frozen=True)
class Person:
    """One row of `users`."""

    user_id: str
    name: str
    email: str
    role: str
    team_id: str | None
    manager_id: str | None
    timezone: str
    locale: str
    trait: str | None = None


@dataclass(frozen=True)
class DemoOrg:
    """The people and teams; per-rep numpy arrays line up with `reps`."""

    admin: Person
    managers: tuple[Person, ...]
    reps: tuple[Person, ...]
    teams: tuple[tuple[str, str, str], ...]  # team_id, name, manager_id
    rep_team: np.ndarray  # team index per rep
    rep_tier: np.ndarray  # index in TIERS per rep
    rep_zone: np.ndarray  # index in ZONES per rep
    rep_traits: tuple[Trait, ...]

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.admin, *self.managers, *self.reps)

    def trait_array(self, field: str) -> np.ndarray:
        return np.array([getattr(t, field) for t in self.rep_traits], dtype=np.float64)


def _locale(zone: str) -> str:
    return "ru" if zone == "Europe/Moscow" else "en"


def make_org(rng: np.random.Generator, n_teams: int, n_reps: int) -> DemoOrg:
    """Teams of equal size; each team has a home time zone, and every fourth rep works from another one."""
    names = PersonNames(rng)
    admin_name, admin_email = names.take("en")
    admin = Person("admin", admin_name, admin_email, "admin", None, None, ZONES[0], "en")
    managers, teams, reps = [], [], []
    rep_team, rep_tier, rep_zone, traits = [], [], [], []
    for t in range(n_teams):
        zone = ZONES[t % 3]
        name, email = names.take(_locale(zone))
        manager_id = f"mgr-{t + 1}"
        team_id = f"team-{t + 1}"
        team_name = _TEAM_NAMES[t] if t < len(_TEAM_NAMES) else f"Sales Team {t + 1}"
        managers.append(Person(manager_id, name, email, "manager", team_id, None, zone, _locale(zone)))
        teams.append((team_id, team_name, manager_id))
    for i in range(n_reps):
        t = i * n_teams // n_reps
        home = t % 3
        z = (home + 1 + i % 2) % len(ZONES) if i % 4 == 3 else home
        zone = ZONES[z]
        trait = TRAITS[TRAIT_CYCLE[i % len(TRAIT_CYCLE)]]
        name, email = names.take(_locale(zone))
        reps.append(
            Person(
                f"rep-{i + 1:03d}",
                name,
                email,
                "rep",
                teams[t][0],
                teams[t][2],
                zone,
                _locale(zone),
                trait.name,
            )
        )
        rep_team.append(t)
        rep_tier.append(t % len(TIERS))
        rep_zone.append(z)
        traits.append(trait)
    return DemoOrg(
        admin=admin,
        managers=tuple(managers),
        reps=tuple(reps),
        teams=tuple(teams),
        rep_team=np.array(rep_team),
        rep_tier=np.array(rep_tier),
        rep_zone=np.array(rep_zone),
        rep_traits=tuple(traits),
    )
