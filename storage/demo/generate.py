"""The demo sales organisation: a realistic, deterministic year of CRM data for trying kpibot out.

Who is who (same for every seed; names, e-mails and numbers vary with the seed):

- ``admin`` — RevOps administrator, sees everything (Europe/Berlin, en).
- ``mgr-1`` … ``mgr-N`` — one manager per team; ``mgr-1`` leads ``team-1`` "Enterprise" (Europe/Berlin, en) and is
  the console's default user; ``mgr-2`` leads ``team-2`` "Mid-Market" (America/New_York, en); ``mgr-3`` leads
  ``team-3`` "SMB" (Europe/Moscow, ru); further teams repeat the three home zones.
- ``rep-001`` … — reps spread evenly over the teams, working from the team's home zone, every fourth one from
  another (including Europe/London); reps in Moscow use Russian. Their strengths repeat in this cycle:
  ``rep-001`` steady (on plan), ``rep-002`` star (ahead of plan), ``rep-003`` behind plan (few calls, overdue
  tasks), ``rep-004`` weak MQL->SQL acceptance, ``rep-005`` busy caller (many calls, few meetings),
  ``rep-006`` steady, ``rep-007`` big-deal hunter (few large deals, long cycle), ``rep-008`` new hire (joined four
  months ago), then again from "steady".

Teams differ in what they sell: Enterprise sells the Enterprise plan (large deals, ~45-day cycle), Mid-Market the
Professional plan, SMB the Starter plan (small deals, ~12-day cycle).

History runs from the first day of the month a year before `today` up to `today` 00:00 UTC (`now`): nothing
happens at or after `now` except planned activities and plans. Working days are Monday to Friday (at weekends one
rep per team is on duty and a few others catch up on e-mails and tasks); organisation holidays are left to the
configuration.

The business adds up: customers signed in the years before the history (the installed base) keep paying and buy
more, so part of the revenue is not new and MRR grows where expansions are won; about one new customer in ten was
referred by an older one; marketing and sales cost about a fifth of what first sales bring in; leads that stall
are disqualified or lost some weeks later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from sqlalchemy import Engine, text
from tqdm import tqdm

from storage.config.settings import Settings
from storage.db import table_counts
from storage.demo.accounts import make_accounts
from storage.demo.activities import Actuals, IdCounter, hire_days, routine_activities
from storage.demo.base import BASE_PER_LEAD, installed_base
from storage.demo.calendar import make_calendar
from storage.demo.leads import LeadWorld, make_leads
from storage.demo.marketing import make_campaigns, make_email_lists, make_spend
from storage.demo.names import company_names
from storage.demo.org import PRODUCTS, TRAITS, ZONES, DemoOrg, make_org
from storage.demo.plans import make_plans
from storage.demo.write import Rows, bulk_load, write_rows
from storage.errors import UserError
from storage.journeys import refresh_kept
from storage.schema import CRM_TABLES, KEPT_TABLES

__all__ = ["Scale", "SCALES", "DemoSummary", "generate_demo", "has_crm_data", "clear_crm_data"]


@dataclass(frozen=True)
class Scale:
    teams: int
    reps: int
    leads: int


SCALES = {
    "tiny": Scale(teams=2, reps=8, leads=2_500),
    "small": Scale(teams=3, reps=15, leads=20_000),
    "medium": Scale(teams=5, reps=50, leads=200_000),
    "large": Scale(teams=10, reps=210, leads=1_000_000),
}
"""`tiny` is for tests; `large` is the performance benchmark's data set."""

_CHUNK_LEADS = 25_000
_CHUNK_BASE = 10_000


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_demo` made: row counts per table and the ids worth knowing."""

    scale: str
    seed: int
    today: date
    now: datetime
    counts: dict[str, int]
    admin_id: str
    manager_ids: tuple[str, ...]
    team_ids: tuple[str, ...]
    team_names: tuple[str, ...]
    rep_ids: tuple[str, ...]
    rep_traits: tuple[tuple[str, str, str, str, str], ...]  # rep id, name, team id, time zone, strength
    default_user_id: str = "mgr-1"
    seconds: float = field(default=0.0, compare=False)

    def describe(self) -> str:
        """A printable report: counts per table and who is who."""
        lines = [f"Demo data ({self.scale}, seed {self.seed}, up to {self.now:%Y-%m-%d %H:%M} UTC):"]
        lines += [f"  {name:<18} {count:>10,}" for name, count in self.counts.items()]
        lines.append(f"Admin: {self.admin_id}. Teams:")
        lines += [
            f"  {team} {name}, manager {manager}"
            for team, name, manager in zip(self.team_ids, self.team_names, self.manager_ids, strict=True)
        ]
        lines.append("Reps:")
        lines += [
            f"  {rep} {name} ({team}, {zone}): {trait}" for rep, name, team, zone, trait in self.rep_traits
        ]
        lines.append(f"Generated in {self.seconds:.1f} s; the console user is {self.default_user_id}.")
        return "\n".join(lines)


def has_crm_data(engine: Engine) -> bool:
    """Whether any CRM table holds a row."""
    with engine.connect() as conn:
        return any(conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() for name in CRM_TABLES)


def clear_crm_data(engine: Engine) -> None:
    """Empty every CRM table (kpibot's own tables — invites, subscriptions, outbox, alerts — are kept)."""
    # What kpibot derived from the CRM tables goes with them (TRUNCATE fires no row triggers).
    names = [*CRM_TABLES, *(table.name for table in KEPT_TABLES)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{name}"' for name in names)))
        else:
            for name in names:
                conn.execute(text(f'DELETE FROM "{name}"'))


def _rng(seed: int, *stream: int) -> np.random.Generator:
    # Each part of the data has its own stream, so chunking and order of work never change the numbers.
    return np.random.default_rng(np.random.SeedSequence((seed, *stream)))


def _expected_leads(weekday: np.ndarray, count: int) -> np.ndarray:
    """Leads expected on each day: fewer at weekends, and a business growing about 30 % over the year."""
    weight = np.where(weekday, 1.0, 0.3) * np.linspace(0.85, 1.15, len(weekday))
    return count * weight / weight.sum()


def _lead_days(rng: np.random.Generator, expected: np.ndarray, count: int) -> np.ndarray:
    """Creation day of every lead, sorted."""
    return np.repeat(np.arange(len(expected)), rng.multinomial(count, expected / expected.sum()))


def _org_rows(org: DemoOrg) -> list[Rows]:
    people = org.people
    return [
        Rows(
            "users",
            ("user_id", "name", "email", "role", "team_id", "manager_id", "timezone", "locale", "active"),
            tuple(
                [getattr(p, f) for p in people]
                for f in ("user_id", "name", "email", "role", "team_id", "manager_id", "timezone", "locale")
            )
            + ([True] * len(people),),
        ),
        Rows(
            "teams", ("team_id", "name", "manager_id"), tuple(list(c) for c in zip(*org.teams, strict=True))
        ),
        Rows(
            "products",
            ("product_id", "name", "category", "price"),
            tuple(list(c) for c in zip(*PRODUCTS, strict=True)),
        ),
    ]


def generate_demo(
    engine: Engine,
    *,
    scale: str = "small",
    seed: int = 42,
    today: date,
    progress: bool = False,
    replace: bool = False,
    settings: Settings | None = None,
) -> DemoSummary:
    """Fill a migrated database with the demo organisation (see the module docstring) and say what was made.

    Refuses a database that already holds CRM data unless `replace`, which empties the CRM tables first. With
    `settings`, the lead journeys are worked out for its funnel stages at the end (otherwise at the next refresh).
    """
    if scale not in SCALES:
        raise UserError(
            "demo_unknown_scale",
            "unknown scale {scale}; choose one of {known}",
            scale=scale,
            known=", ".join(SCALES),
        )
    if has_crm_data(engine):
        if not replace:
            raise UserError(
                "demo_not_empty",
                "the database already holds CRM data; use --replace to empty the CRM tables and load the demo",
            )
        clear_crm_data(engine)
    started = time.monotonic()
    size = SCALES[scale]
    cal = make_calendar(today, ZONES)
    org = make_org(_rng(seed, 0), size.teams, size.reps)
    campaigns = make_campaigns(cal)
    world = LeadWorld(
        cal=cal,
        org=org,
        hire_day=hire_days(cal, org),
        companies=company_names(_rng(seed, 1), max(500, size.leads // 4)),
        campaign_ids=campaigns.ids,
        campaign_on=campaigns.on,
    )
    expected_leads = _expected_leads(cal.is_workday[: cal.history_days], size.leads)
    days = _lead_days(_rng(seed, 2), expected_leads, size.leads)
    chunks = np.array_split(days, max(1, -(-len(days) // _CHUNK_LEADS)))
    history_months = cal.current_month + 1
    counter = IdCounter()
    actuals = Actuals(len(org.reps), len(cal.months))
    earlier_ids: list[np.ndarray] = []
    earlier_created: list[np.ndarray] = []
    leads_per_day = size.leads / cal.history_days
    base = installed_base(
        _rng(seed, 8),
        org,
        counter,
        hire_day=world.hire_day,
        companies=world.companies,
        count=int(round(BASE_PER_LEAD * size.leads)),
    )
    base_chunks = np.array_split(
        np.arange(len(base.account_id)), max(1, -(-len(base.account_id) // _CHUNK_BASE))
    )
    with (
        tqdm(
            total=len(base_chunks) + len(chunks) + history_months + 1,
            desc="demo data",
            unit="step",
            disable=not progress,
        ) as bar,
        bulk_load(engine) as conn,
    ):
        for rows in (*_org_rows(org), campaigns.rows):
            write_rows(conn, rows)
        # The installed base first: its accounts are the oldest, and this year's referrals point to them.
        for i, part in enumerate(base_chunks):
            customers = base.take(part)
            nobody = (np.zeros(0, object), np.zeros(0))
            for rows in make_accounts(_rng(seed, 9, i), cal, org, counter, actuals, customers, nobody):
                write_rows(conn, rows)
            conn.commit()
            earlier_ids.append(customers.account_id)
            earlier_created.append(customers.created)
            bar.update()
        for i, chunk in enumerate(chunks):
            rng = _rng(seed, 3, i)
            lead_rows, won = make_leads(rng, world, counter, actuals, chunk)
            earlier = (
                np.concatenate(earlier_ids or [np.zeros(0, object)]),
                np.concatenate(earlier_created or [np.zeros(0)]),
            )
            for rows in (*lead_rows, *make_accounts(rng, cal, org, counter, actuals, won, earlier)):
                write_rows(conn, rows)
            conn.commit()
            earlier_ids.append(won.account_id)
            earlier_created.append(won.created)
            bar.update()
        # Prospecting about 1.5 a day for every lead a rep gets a day, so big orgs are busy orgs.
        per_rep_day = 1.5 * size.leads / max(1, int(cal.is_workday[: cal.history_days].sum())) / size.reps
        for month in range(history_months):
            for rows in routine_activities(
                _rng(seed, 4, month), cal, org, counter, actuals, month=month, per_rep_day=per_rep_day
            ):
                write_rows(conn, rows)
            conn.commit()
            bar.update()
        write_rows(conn, make_spend(_rng(seed, 5), cal, campaigns, expected_leads))
        write_rows(conn, make_email_lists(_rng(seed, 6), cal, leads_per_day))
        write_rows(conn, make_plans(_rng(seed, 7), cal, org, actuals))
        conn.commit()
        bar.update()
    if settings is not None:
        with engine.begin() as conn:
            refresh_kept(conn, settings)
    counts = table_counts(engine, [name for name in CRM_TABLES if name != "fx_rates"])
    return DemoSummary(
        scale=scale,
        seed=seed,
        today=today,
        now=cal.now_datetime,
        counts=counts,
        admin_id=org.admin.user_id,
        manager_ids=tuple(p.user_id for p in org.managers),
        team_ids=tuple(t[0] for t in org.teams),
        team_names=tuple(t[1] for t in org.teams),
        rep_ids=tuple(p.user_id for p in org.reps),
        rep_traits=tuple(
            (p.user_id, p.name, p.team_id or "", p.timezone, TRAITS[p.trait or "steady"].description)
            for p in org.reps
        ),
        seconds=time.monotonic() - started,
    )
