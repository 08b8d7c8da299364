"""Activities of the demo: calls, meetings, e-mails … with due dates, completion, overdue and cancelled ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from storage.demo.calendar import DemoCalendar
from storage.demo.org import DemoOrg
from storage.demo.write import Rows, ids, sql_times

__all__ = [
    "ACTIVITY_TYPES",
    "IdCounter",
    "Actuals",
    "type_mix",
    "LEAD_MIX",
    "DEAL_MIX",
    "ROUTINE_MIX",
    "make_activities",
    "routine_activities",
    "hire_days",
]

ACTIVITY_TYPES = ("call", "meeting", "email", "task", "demo", "proposal")
#                      call  meet  email task  demo  prop
LEAD_MIX = np.array([0.45, 0.10, 0.33, 0.12, 0.00, 0.00])
DEAL_MIX = np.array([0.25, 0.22, 0.18, 0.07, 0.18, 0.10])
ROUTINE_MIX = np.array([0.78, 0.04, 0.18, 0.00, 0.00, 0.00])
_WEEKEND_MIX = np.cumsum([0.15, 0.00, 0.55, 0.30, 0.00, 0.00])  # cumulative: mostly e-mails and tasks
_WEEKEND_SHARE = 0.25  # chance that a rep (besides the one on duty) does some work on a weekend day
_MINUTE = 1.0 / 1440.0


@dataclass
class IdCounter:
    """The next free number of each id series, so ids stay dense and chronological per series across chunks."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, series: str, count: int) -> int:
        first = self.next.get(series, 1)
        self.next[series] = first + count
        return first


@dataclass
class Actuals:
    """What each rep really did per month, collected while generating, so plans can be set around it."""

    n_reps: int
    n_months: int
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, metric: str, rep: np.ndarray, month: np.ndarray, weight: np.ndarray | None = None) -> None:
        table = self.metrics.setdefault(metric, np.zeros((self.n_reps, self.n_months)))
        np.add.at(table, (rep, month), 1.0 if weight is None else weight)


def type_mix(org: DemoOrg, base: np.ndarray) -> np.ndarray:
    """Per-rep cumulative type probabilities: a rep's meeting share scales meetings and demos."""
    share = org.trait_array("meeting_share")[:, None]
    weights = np.tile(base, (len(org.reps), 1))
    weights[:, [1, 4]] *= share
    weights /= weights.sum(axis=1, keepdims=True)
    return np.cumsum(weights, axis=1)


def make_activities(
    rng: np.random.Generator,
    cal: DemoCalendar,
    org: DemoOrg,
    counter: IdCounter,
    actuals: Actuals,
    *,
    owner: np.ndarray,
    due: np.ndarray,
    created: np.ndarray,
    cumulative_mix: np.ndarray,
    lead_id: np.ndarray | None = None,
    deal_id: np.ndarray | None = None,
    account_id: np.ndarray | None = None,
) -> Rows:
    """Activity rows for the given owners and due times; those created at or after now are left out.

    Past-due activities are mostly done (completed shortly after they were due), some cancelled and some left
    open, which is what makes them overdue; future ones are planned.
    """
    now = cal.now
    keep = created < now
    owner, due, created = owner[keep], due[keep], created[keep]
    n = len(owner)
    kind = (rng.random(n)[:, None] > cumulative_mix[owner]).sum(axis=1)
    kind = np.minimum(kind, len(ACTIVITY_TYPES) - 1)
    u = rng.random(n)
    past = due < now
    cancelled = past & (u < 0.05)
    # Reps clean up old tasks eventually: what stays open past its due date is mostly from the last month.
    open_odds = org.trait_array("overdue")[owner] * np.where(due > now - 30, 1.0, 0.1)
    left_open = past & ~cancelled & (u < 0.05 + open_odds)
    completed = due + rng.uniform(5, 60, n) * _MINUTE
    done = past & ~cancelled & ~left_open & (completed < now)
    status = np.where(done, "done", np.where(cancelled, "cancelled", "planned"))
    month = cal.month_of(completed[done])
    done_owner = owner[done]
    actuals.add("activities", done_owner, month)
    for name, code in (("calls", 0), ("meetings", 1)):
        is_kind = kind[done] == code
        actuals.add(name, done_owner[is_kind], month[is_kind])
    nothing = [None] * n

    def linked(values: np.ndarray | None) -> list | np.ndarray:
        return nothing if values is None else values[keep]

    rep_ids = np.array([p.user_id for p in org.reps], dtype=object)
    return Rows(
        "activities",
        (
            "activity_id",
            "owner_id",
            "type",
            "created_at",
            "due_at",
            "completed_at",
            "status",
            "lead_id",
            "deal_id",
            "account_id",
        ),
        (
            ids("ACT-", counter.take("activity", n), n, 8),
            rep_ids[owner],
            np.array(ACTIVITY_TYPES)[kind],
            sql_times(cal.start, created),
            sql_times(cal.start, due),
            sql_times(cal.start, completed, missing=~done),
            status,
            linked(lead_id),
            linked(deal_id),
            linked(account_id),
        ),
    )


def routine_activities(
    rng: np.random.Generator,
    cal: DemoCalendar,
    org: DemoOrg,
    counter: IdCounter,
    actuals: Actuals,
    *,
    month: int,
    per_rep_day: float,
) -> list[Rows]:
    """Prospecting calls and e-mails not tied to a lead on every working day of one month, and light weekend work.

    Every rep has at least one on the last two working days before today, so "yesterday" is never empty.
    """
    first = int(cal.month_starts[month])
    last = int(cal.month_starts[month + 1]) if month + 1 < len(cal.months) else len(cal.is_workday)
    days = np.arange(first, min(last, cal.history_days))
    weekend = days[~cal.is_workday[days]]
    days = days[cal.is_workday[days]]
    rate = per_rep_day * org.trait_array("cold_calls")
    counts = rng.poisson(rate[:, None], size=(len(org.reps), len(days)))
    recent = np.isin(days, cal.recent_workdays(2))
    counts[:, recent] = np.maximum(counts[:, recent], 1)
    counts[days[None, :] < hire_days(cal, org)[:, None]] = 0
    rep = np.repeat(np.arange(len(org.reps)), counts.sum(axis=1))
    day = np.concatenate([np.repeat(days, row) for row in counts]) if counts.sum() else np.zeros(0, int)
    due = cal.at_local_hour(day, org.rep_zone[rep], rng.uniform(9.0, 17.0, len(rep)))
    created = due - rng.uniform(0, 30, len(rep)) * _MINUTE
    routine = make_activities(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=rep,
        due=due,
        created=created,
        cumulative_mix=type_mix(org, ROUTINE_MIX),
    )
    weekend_rep, weekend_due = _weekend_work(rng, cal, org, weekend, per_rep_day)
    weekend_work = make_activities(
        rng,
        cal,
        org,
        counter,
        actuals,
        owner=weekend_rep,
        due=weekend_due,
        created=weekend_due - rng.uniform(0, 600, len(weekend_rep)) * _MINUTE,
        cumulative_mix=np.tile(_WEEKEND_MIX, (len(org.reps), 1)),
    )
    return [routine, weekend_work]


def _weekend_work(
    rng: np.random.Generator, cal: DemoCalendar, org: DemoOrg, days: np.ndarray, per_rep_day: float
) -> tuple[np.ndarray, np.ndarray]:
    """(rep, due time) of weekend work: a few reps catch up on e-mails and tasks, one on duty in every team.

    Working reps do under half a weekday's routine, so a weekend day carries some 5-10 % of a weekday's
    activities.
    """
    n_reps = len(org.reps)
    works = rng.random((n_reps, len(days))) < _WEEKEND_SHARE
    on_duty = np.zeros_like(works)
    for team in range(len(org.teams)):
        members = np.flatnonzero(org.rep_team == team)
        # Duty rotates through the team, so every weekend day has someone answering in each team.
        on_duty[members[(days + team) % len(members)], np.arange(len(days))] = True
    hired = days[None, :] >= hire_days(cal, org)[:, None]
    counts = np.maximum(1, rng.poisson(0.4 * per_rep_day, works.shape))
    counts = np.where(on_duty, np.maximum(counts, 2), counts) * ((works | on_duty) & hired)
    rep = np.repeat(np.arange(n_reps), counts.sum(axis=1))
    day = np.concatenate([np.repeat(days, row) for row in counts]) if counts.sum() else np.zeros(0, int)
    return rep, cal.at_local_hour(day, org.rep_zone[rep], rng.uniform(10.0, 18.0, len(rep)))


def hire_days(cal: DemoCalendar, org: DemoOrg) -> np.ndarray:
    """Day index from which each rep works (0 for those there all year)."""
    months_ago = org.trait_array("hired_months_ago").astype(int)
    current = cal.current_month
    return np.array([cal.month_starts[current - m] if m else 0 for m in months_ago])
