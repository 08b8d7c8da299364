"""Targets: which plan rows apply to an asked period and scope, and how they roll up.

Plan rows carry a period code (`2026-11`, `2026-Q4`, `2026`), a scope (`user` / `team` / `org`) and a target.
For an asked period the first of these that exists wins:

1. a row for exactly that period;
2. a row for a longer plan period that contains it (month, then quarter, then year), prorated by working days —
   a week of November gets November's target × its working days / November's working days;
3. for a quarter or a year, rows for every month (or every quarter) inside it, added up.

Roll-up, at each of those steps: a rep has their `user` row; a team its own `team` row, or else the sum of its
members' user rows; the organisation its `org` row, or else the sum of its teams (each rolled up as above).
Several teams (a manager of two) add up. An average deal size target is not additive: it is never prorated and
rolls up as the plain mean of the targets below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from sqlalchemy import CompoundSelect, Connection, null, select, union_all

from metrics.periods import Period, parse_plan_period, plan_periods_covering, working_days
from metrics.plan.actuals import AVERAGE_METRICS, PLAN_METRICS
from metrics.scope import ResolvedScope
from storage.schema import Plan, Team, User

__all__ = ["PlanKey", "Target", "Holder", "PlanBook", "load_plan_book", "holders_of", "resolve_target"]

HolderKind = Literal["user", "team", "org"]


@dataclass(frozen=True, order=True)
class PlanKey:
    """One plan line: a metric, and for product metrics the product (`""`: all products)."""

    metric: str
    product_id: str = ""

    @property
    def code(self) -> str:
        """The stable prefix of its measure keys: `revenue`, `product_units.P-PRO`."""
        return f"{self.metric}.{self.product_id}" if self.product_id else self.metric


@dataclass(frozen=True)
class Target:
    """A resolved target and where it came from (`basis`, shown under the reply)."""

    key: PlanKey
    value: Decimal
    basis: str


@dataclass(frozen=True)
class Holder:
    """Whoever a plan row can belong to: a user, a team, or the organisation (id "")."""

    kind: HolderKind
    id: str = ""


@dataclass(frozen=True)
class PlanBook:
    """The plan rows of some plan periods, with team membership, enough to resolve any target in memory."""

    rows: Mapping[tuple[str, PlanKey, HolderKind, str], Decimal]  # (period code, key, scope, scope_id)
    members: Mapping[str, tuple[str, ...]]  # team_id -> user ids
    team_ids: tuple[str, ...]

    def keys(self) -> tuple[PlanKey, ...]:
        """Every plan line present, in the catalogue's order."""
        found = {key for (_code, key, _kind, _id) in self.rows}
        return tuple(sorted(found, key=lambda k: (_metric_order(k.metric), k.product_id)))


def _metric_order(metric: str) -> int:
    return PLAN_METRICS.index(metric) if metric in PLAN_METRICS else len(PLAN_METRICS)


@dataclass(frozen=True)
class _Candidate:
    codes: tuple[str, ...]
    share: Decimal  # the asked period's share of the plan period, in working days
    basis: str


def _candidates(period: Period, holidays: Sequence[date]) -> tuple[_Candidate, ...]:
    """The ways a target for `period` may be found, best first (see the module doc)."""
    return _candidates_of(period, tuple(holidays))


# A reply resolves a target per plan line, each asking the same period's candidates (working days counted over
# the plan periods around it); they depend on nothing but the period and the holidays.
@lru_cache(maxsize=256)
def _candidates_of(period: Period, holidays: tuple[date, ...]) -> tuple[_Candidate, ...]:
    found: list[_Candidate] = []
    exact = period.key if period.grain in ("month", "quarter", "year") else None
    if exact:
        found.append(_Candidate((exact,), Decimal(1), exact))
    asked_days = working_days(period.start_date, period.end_date, holidays)
    for code in plan_periods_covering(period):
        if code == exact:
            continue
        whole = parse_plan_period(code, period.tz)
        whole_days = working_days(whole.start_date, whole.end_date, holidays)
        if whole_days:
            share = Decimal(asked_days) / Decimal(whole_days)
            found.append(_Candidate((code,), share, f"{code} × {asked_days}/{whole_days} working days"))
    first = period.start_date
    if period.grain == "quarter":
        months = tuple(f"{first.year}-{first.month + i:02d}" for i in range(3))
        found.append(_Candidate(months, Decimal(1), " + ".join(months)))
    if period.grain == "year":
        months = tuple(f"{first.year}-{m:02d}" for m in range(1, 13))
        quarters = tuple(f"{first.year}-Q{q}" for q in range(1, 5))
        found.append(_Candidate(quarters, Decimal(1), " + ".join(quarters)))
        found.append(_Candidate(months, Decimal(1), f"{months[0]} + … + {months[-1]}"))
    return tuple(found)


def load_plan_book(
    conn: Connection,
    periods: Iterable[Period],
    holidays: Sequence[date] = (),
    holders: Sequence[Holder] | None = None,
) -> PlanBook:
    """Every plan row that could apply to any of `periods`, in one query, plus who is in which team (one more).

    With `holders` that are all users (a rep's question), only their own rows are read and no team at all: a user's
    target never comes from anyone else's, and the whole organisation's rows are thousands.
    """
    codes = {code for period in periods for c in _candidates(period, holidays) for code in c.codes}
    rows: dict[tuple[str, PlanKey, HolderKind, str], Decimal] = {}
    stmt = select(Plan.period, Plan.metric, Plan.product_id, Plan.scope, Plan.scope_id, Plan.target).where(
        Plan.period.in_(sorted(codes))
    )
    users_only = bool(holders) and all(h.kind == "user" for h in (holders or ()))
    if users_only:
        stmt = stmt.where(Plan.scope == "user", Plan.scope_id.in_(sorted(h.id for h in holders or ())))
    plan_rows = conn.execute(stmt)
    for code, metric, product_id, scope, scope_id, target in plan_rows:
        if scope not in ("user", "team", "org"):
            continue
        holder_id = "" if scope == "org" else (scope_id or "")
        rows[(code, PlanKey(metric, product_id or ""), scope, holder_id)] = Decimal(target)
    if users_only:
        return PlanBook(rows, {}, ())
    members, team_ids = _teams(conn)
    return PlanBook(rows, members, team_ids)


def _teams(conn: Connection) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Who is in which team (team_id -> user ids, a team unknown to `teams` included), and every team's id."""
    teams: CompoundSelect = union_all(
        select(User.team_id.label("team_id"), User.user_id.label("user_id")).where(User.team_id.is_not(None)),
        select(Team.team_id, null()),
    ).order_by("team_id")  # the teams in the database's collation, as a breakdown by team lists them
    members: dict[str, list[str]] = {}
    team_ids: list[str] = []
    for team_id, user_id in conn.execute(teams).tuples():
        if user_id is None:
            team_ids.append(team_id)
        else:
            members.setdefault(team_id, []).append(user_id)
    return {t: tuple(sorted(u)) for t, u in members.items()}, tuple(team_ids)


def holders_of(scope: ResolvedScope) -> tuple[Holder, ...]:
    """Whose plan rows make a scope's target: the rep, each of the teams, or the organisation."""
    if scope.kind == "rep":
        return (Holder("user", scope.user_id or ""),)
    if scope.kind == "team":
        return tuple(Holder("team", team_id) for team_id in scope.team_ids)
    return (Holder("org"),)


def _combine(values: list[Decimal], average: bool) -> Decimal | None:
    if not values:
        return None
    total = sum(values, Decimal(0))
    return total / len(values) if average else total


def _holder_target(book: PlanBook, code: str, key: PlanKey, holder: Holder) -> Decimal | None:
    own = book.rows.get((code, key, holder.kind, holder.id))
    if own is not None or holder.kind == "user":
        return own
    below = (
        [Holder("user", u) for u in book.members.get(holder.id, ())]
        if holder.kind == "team"
        else [Holder("team", t) for t in book.team_ids]
    )
    values = [v for h in below if (v := _holder_target(book, code, key, h)) is not None]
    return _combine(values, key.metric in AVERAGE_METRICS)


def resolve_target(
    book: PlanBook, holders: Sequence[Holder], period: Period, key: PlanKey, holidays: Sequence[date] = ()
) -> Target | None:
    """The target of `holders` together for `period`, or None when no plan row applies (module doc)."""
    average = key.metric in AVERAGE_METRICS
    for candidate in _candidates(period, holidays):
        per_code = []
        for code in candidate.codes:
            values = [v for h in holders if (v := _holder_target(book, code, key, h)) is not None]
            per_code.append(_combine(values, average))
        if not per_code or any(v is None for v in per_code):
            continue
        found = [v for v in per_code if v is not None]
        value = _combine(found, average)
        assert value is not None
        if average:  # an average is the same whatever the stretch of time it is asked for
            return Target(
                key, value, " + ".join(candidate.codes) if len(candidate.codes) < 4 else candidate.basis
            )
        return Target(key, value * candidate.share, candidate.basis)
    return None
