"""Sales activity (`/activity`, SPEC 3.1): what reps did, what they were given, what is late, what moved leads.

Every count is one grouped SQL query, grouped by owner (which serves the rep, the team, the organisation and the
`by rep` / `by team` rows at once) or by local month / week / day bucket.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Integer,
    Subquery,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    text,
    true,
    union_all,
)

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.periods import Period, iter_buckets
from metrics.plan.actuals import bucket_label
from metrics.plan.progress import progress
from metrics.plan.targets import PlanKey, holders_of, load_plan_book, resolve_target
from metrics.result import BreakdownRow, Measure, Series, ratio
from metrics.sql.customers import day_number
from storage.journeys import journey, journeys_current, reached_column
from storage.schema import OPEN_ACTIVITY, Activity, Deal, Team, User

__all__ = ["ACTIVITY", "TYPES", "TYPE_MEASURES"]

TYPES = ("call", "meeting", "email", "task", "demo", "proposal", "other")
TYPE_MEASURES = {"call": "calls", "meeting": "meetings", "email": "emails", "task": "tasks", "demo": "demos",
                 "proposal": "proposals", "other": "other"}  # fmt: skip
"""Each activity type's measure key: the plural the /activity reply names it by ("calls")."""
_PLANNED = ("calls", "meetings", "activities")

Group = str  # an owner id, or a bucket label
Tally = dict[Group, int]


_DAILY_SERIES_DAYS = 366  # the longest period charted day by day (see _compute)


@dataclass(frozen=True)
class _Part:
    """One tally: sum(amount) (default: a count) of the rows meeting `where`, per owner — or per time bucket of
    `at` — and per `extra` value if given."""

    name: str
    owner: Any
    at: Any
    where: ColumnElement[bool]
    amount: Any = None
    extra: Any = None
    buckets: Sequence[Period] | None = None


def _union(ctx: ComputeContext, parts: Sequence[_Part]) -> CompoundSelect:
    """Every part's tally as one statement (one branch of a UNION ALL each, told apart by the part's name): a
    reply's tallies are small, and each a statement of its own was a round trip and its building in Python."""
    branches = []
    for part in parts:
        key = bucket_label(part.at, part.buckets) if part.buckets else part.owner
        # Grouped by the output names, never by the CASE itself (PostgreSQL would see its parameters twice and
        # refuse to match them); no subquery either, whose column objects cost more to build than the query takes.
        branches.append(
            select(
                literal_column(f"'{part.name}'").label("part"),
                key.label("g"),
                (part.extra if part.extra is not None else literal_column("''")).label("x"),
                (func.sum(part.amount) if part.amount is not None else func.count()).label("n"),
            )
            .where(part.where, _in_scope(ctx, part.owner))
            .group_by("g", "x")
        )
    return union_all(*branches)


def _tallies(
    ctx: ComputeContext, stmt: CompoundSelect, names: Collection[str]
) -> dict[str, dict[tuple[Group, str], int]]:
    found: dict[str, dict[tuple[Group, str], int]] = {name: {} for name in names}
    for name, g, x, n in ctx.conn.execute(stmt, _values(ctx)).tuples():
        found[name][(g or "", x)] = int(n or 0)
    return found


# The question's values are bound parameters, so one built statement serves every question of its shape.
_START = bindparam("start", type_=DateTime())
_END = bindparam("end", type_=DateTime())
_NOW = bindparam("now", type_=DateTime())
_WINDOW = bindparam("window", type_=Integer())
_OWNERS: BindParameter[Any] = bindparam("owners", expanding=True)


def _in_scope(ctx: ComputeContext, column: Any) -> ColumnElement[bool]:
    return true() if ctx.scope.owner_ids is None else column.in_(_OWNERS)


def _values(ctx: ComputeContext) -> dict[str, Any]:
    values: dict[str, Any] = {"start": ctx.start, "end": ctx.end, "now": ctx.now_utc}
    values["window"] = ctx.settings.activity.qualify_window_days
    if ctx.scope.owner_ids is not None:
        values["owners"] = list(ctx.scope.owner_ids)
    return values


_BUILT: dict[tuple[bool, str], CompoundSelect] = {}
"""The one-day-or-less answer's statement, per (whole organisation or not, funnel settings), built once.

Building it (eight branches, the journeys' subquery, SQLAlchemy's cache key of all that) cost several times what
the database takes to run it for a rep's day. Only built while the kept journeys answer and no lead waits: the
statement read from the table then is right for as long as that holds, whatever it was built as."""


def _flat(tally: dict[tuple[Group, str], int]) -> Tally:
    out: Tally = {}
    for (g, _x), n in tally.items():
        out[g] = out.get(g, 0) + n
    return out


@dataclass(frozen=True)
class _Counts:
    """Every count behind the measures, per group."""

    done: dict[tuple[Group, str], int]  # (group, type) -> done
    assigned: Tally
    due: Tally
    due_done: Tally
    overdue: Tally | None  # as of now, so only per owner
    qualifying: Tally
    won: Tally
    on_won: Tally

    def measures(self, groups: Collection[Group] | None) -> list[Measure]:
        def total(t: Mapping[Group, int]) -> int:
            return sum(n for g, n in t.items() if groups is None or g in groups)

        by_type = {k: 0 for k in TYPE_MEASURES.values()}
        for (g, kind), n in self.done.items():
            if groups is None or g in groups:
                by_type[TYPE_MEASURES.get(kind, "other")] += n
        done, due, due_done, won, on_won = (
            total(t) for t in (self.done_flat, self.due, self.due_done, self.won, self.on_won)
        )
        measures = [Measure("activities", "Activities done", "count", done)]
        measures += [Measure(key, key.capitalize(), "count", n) for key, n in by_type.items()]
        measures += [
            Measure("assigned", "Assigned", "count", total(self.assigned)),
            Measure(
                "completion_rate",
                "Completion rate",
                "percent",
                ratio(due_done, due),
                detail=f"{due_done} / {due}",
            ),
        ]
        if self.overdue is not None:
            measures.append(Measure("overdue", "Overdue now", "count", total(self.overdue)))
        measures += [
            Measure("qualifying_calls", "Qualifying calls", "count", total(self.qualifying)),
            Measure("activities_per_won_deal", "Activities per won deal", "ratio", ratio(on_won, won),
                    detail=f"{on_won} / {won}"),
        ]  # fmt: skip
        return measures

    @property
    def done_flat(self) -> Tally:
        return _flat(self.done)


def _counts(
    ctx: ComputeContext, buckets: Sequence[Period] | None, days: Sequence[Period] = ()
) -> tuple[_Counts, Tally]:
    """Every count behind the measures, per owner or per bucket; and done activities per day of `days`."""
    names = ["due", "done", "assigned", "qualifying", "won", "on_won"]
    names += [] if buckets else ["overdue"]
    names += ["day"] if len(days) > 1 else []
    reusable = not buckets and len(days) <= 1 and journeys_current(ctx.conn, ctx.settings) == (True, False)
    shape = (ctx.scope.owner_ids is None, repr(ctx.settings.funnel))
    stmt = _BUILT.get(shape) if reusable else None
    if stmt is None:
        stmt = _union(ctx, _parts(ctx, buckets, days))
        if reusable:
            _BUILT[shape] = stmt
    tallies = _tallies(ctx, stmt, names)
    per_day = _flat(tallies["day"]) if len(days) > 1 else {}
    if len(days) == 1:  # a one-day period is its one day: what was done per day is what was done
        per_day = {days[0].label: sum(tallies["done"].values())}
    due_pair = tallies["due"]
    counts = _Counts(
        done=tallies["done"],
        assigned=_flat(tallies["assigned"]),
        due=_flat(due_pair),
        due_done={g: n for (g, x), n in due_pair.items() if x == "done"},
        overdue=None if buckets else _flat(tallies["overdue"]),
        qualifying=_flat(tallies["qualifying"]),
        won=_flat(tallies["won"]),
        on_won=_flat(tallies["on_won"]),
    )
    return counts, per_day


def _parts(ctx: ComputeContext, buckets: Sequence[Period] | None, days: Sequence[Period]) -> list[_Part]:
    start, end, now = _START, _END, _NOW
    status = func.coalesce(Activity.status, "planned")
    done = and_(Activity.status == "done", Activity.completed_at >= start, Activity.completed_at < end)
    due = and_(Activity.due_at >= start, Activity.due_at < end, status != "cancelled")
    won = and_(Deal.status == "won", Deal.closed_at >= start, Deal.closed_at < end)
    a = Activity
    on_won = (
        select(Deal.owner_id, Deal.closed_at)
        .select_from(Deal)
        .join(Activity, Activity.deal_id == Deal.deal_id)
        .where(won, Activity.status == "done")
        .subquery()
    )
    moved = _qualifying_calls(ctx)
    due_is_done = case((a.status == "done", "done"), else_="open")
    parts = [
        _Part("due", a.owner_id, a.due_at, due, extra=due_is_done, buckets=buckets),
        _Part("done", a.owner_id, a.completed_at, done, extra=a.type, buckets=buckets),
        _Part(
            "assigned",
            a.owner_id,
            a.created_at,
            and_(a.created_at >= start, a.created_at < end),
            buckets=buckets,
        ),
        _Part("qualifying", moved.c.owner_id, moved.c.completed_at, true(), buckets=buckets),
        _Part("won", Deal.owner_id, Deal.closed_at, won, buckets=buckets),
        _Part("on_won", on_won.c.owner_id, on_won.c.closed_at, true(), buckets=buckets),
    ]
    if not buckets:
        # Word for word the partial index's condition, so the database reads only open activities.
        parts.append(_Part("overdue", a.owner_id, a.due_at, and_(a.due_at < now, text(OPEN_ACTIVITY))))
    if len(days) > 1:
        parts.append(_Part("day", a.owner_id, a.completed_at, done, buckets=days))
    return parts


def _qualifying_calls(ctx: ComputeContext) -> Subquery:
    """The period's qualifying calls (owner, completion): done calls on a lead that entered a later funnel stage
    than it had at the call, within the window after it.

    The lead's stage at the call is the furthest configured stage it had entered by the call's completion (`lead`
    if none); the later entry must come after the call, no more than `activity.qualify_window_days` days after it,
    and by now. Written as joins over the period's calls rather than as a correlated test per call, so each
    database can hash or index the lead's stage entries once.
    """
    a = Activity
    calls = (
        select(a.activity_id, a.owner_id, a.completed_at, a.lead_id)
        .where(
            a.status == "done",
            a.type == "call",
            a.lead_id.is_not(None),
            a.completed_at >= _START,
            a.completed_at < _END,
            _in_scope(ctx, a.owner_id),
        )
        .subquery("calls")
    )
    # The lead's journey says it all: reached_i (i >= 1) is its first entry into stage i or a later one, so it only
    # grows with i; the stages it had by the call are those with reached_i <= the call, and the first reached_i
    # after the call is its first entry into any stage beyond them.
    path = journey(ctx.conn, ctx.settings, lambda lead: [lead.lead_id.in_(select(calls.c.lead_id))])
    reached = [path.c[reached_column(i)] for i in range(1, len(ctx.settings.funnel.stages))]
    next_entry = case(*((r > calls.c.completed_at, r) for r in reached), else_=null()) if reached else null()
    moved = (
        select(calls.c.owner_id, calls.c.completed_at)
        .join(path, path.c.lead_id == calls.c.lead_id)
        .where(
            next_entry <= _NOW,
            day_number(next_entry) - day_number(calls.c.completed_at) <= _WINDOW,
        )
        .subquery("moved")
    )
    return moved


def _plan_measures(ctx: ComputeContext, actual: dict[str, int], now: datetime) -> list[Measure]:
    holidays = ctx.settings.org.holidays
    holders = holders_of(ctx.scope)
    book = load_plan_book(ctx.conn, [ctx.period], holidays, holders)
    measures = []
    for metric in _PLANNED:
        target = resolve_target(book, holders, ctx.period, PlanKey(metric), holidays)
        if target is None:
            continue
        p = progress(target, actual[metric], ctx.period, now, holidays)
        measures += [
            Measure(f"{metric}_attainment", f"{metric.capitalize()} vs plan", "percent", p.attainment,
                    detail=f"{actual[metric]} / {float(target.value):g}"),
            Measure(f"{metric}_pace", f"{metric.capitalize()} pace", "percent", p.pace,
                    detail=f"{actual[metric]} / ({float(target.value):g} × {p.elapsed_share:.3f})"),
        ]  # fmt: skip
    return measures


def _rows(ctx: ComputeContext, counts: _Counts) -> tuple[BreakdownRow, ...]:
    if ctx.by in ("month", "week"):
        buckets = list(iter_buckets(ctx.period, "month" if ctx.by == "month" else "week"))
        per_bucket, _days = _counts(ctx, buckets)
        return tuple(BreakdownRow(b.label, b.label, tuple(per_bucket.measures({b.label}))) for b in buckets)
    seen = set(counts.done_flat) | set(counts.assigned) | set(counts.due) | set(counts.overdue or {})
    owners = sorted(set(ctx.scope.owner_ids or ()) | seen)
    people = ctx.conn.execute(
        select(User.user_id, User.name, User.team_id).where(User.user_id.in_(owners))
    ).all()
    names = {u: n for u, n, _t in people}
    if ctx.by == "rep":
        return tuple(
            BreakdownRow(o, names.get(o, o or "(no owner)"), tuple(counts.measures({o}))) for o in owners
        )
    teams: dict[str, set[str]] = {}
    for owner in owners:
        team = next((t for u, _n, t in people if u == owner), None) or ""
        teams.setdefault(team, set()).add(owner)
    stmt = select(Team.team_id, Team.name).where(Team.team_id.in_(teams))
    team_names: dict[str, str] = {team_id: name for team_id, name in ctx.conn.execute(stmt)}
    return tuple(
        BreakdownRow(t, team_names.get(t, t or "(no team)"), tuple(counts.measures(members)))
        for t, members in sorted(teams.items())
    )


def _compute(ctx: ComputeContext) -> Computed:
    # Each day is one branch of the bucketing CASE: a chart column per day is kept to periods of up to a year,
    # where it is still readable, so ten years do not cost 3,653 comparisons per activity row.
    charted = not ctx.is_comparison and ctx.period.days <= _DAILY_SERIES_DAYS
    days = list(iter_buckets(ctx.period, "day")) if charted else []
    counts, per_day = _counts(ctx, None, days)
    measures = counts.measures(None)
    actual = {m.key: int(m.value or 0) for m in measures if m.key in _PLANNED}
    measures += _plan_measures(ctx, actual, ctx.now)
    rows = _rows(ctx, counts) if ctx.by else ()
    if ctx.is_comparison:
        return Computed(tuple(measures), rows)
    by_type = {m.key: m.value for m in measures}
    series = (
        Series("by_type", "Activities by type", tuple((t, by_type[TYPE_MEASURES[t]]) for t in TYPES)),
        Series("by_day", "Activities per day", tuple((d.label, per_day.get(d.label, 0)) for d in days)),
    )
    return Computed(tuple(measures), rows, series)


ACTIVITY = MetricDef(
    name="activity",
    title="Sales activity",
    description=(
        "Activities done (status done, completed in the period), in total and by type; assigned = created in "
        "the period, whatever their status; completion rate = of the activities due in the period and not "
        "cancelled, the share done by now; overdue = due before now, neither done nor cancelled (as of now, "
        "whatever the period). A qualifying call is a done call on a lead that, after the call and within "
        "activity.qualify_window_days, entered a funnel stage beyond the furthest it had reached at the call. "
        "Activities per won deal = done activities linked to the deals won in the period (by anyone, at any "
        "time) / those deals; where a plan for calls, meetings or activities exists, attainment and pace as "
        "in /plan."
    ),
    compute=_compute,
    needs=("activities", "deals", "leads", "lead_stage_events", "plans", "users", "teams"),
    breakdowns=("rep", "team", "month", "week"),
    defines=(
        "activities",
        "calls",
        "meetings",
        "emails",
        "tasks",
        "demos",
        "proposals",
        "other",
        "assigned",
        "completion_rate",
        "overdue",
        "qualifying_calls",
        "activities_per_won_deal",
        "calls_attainment",
        "calls_pace",
        "meetings_attainment",
        "meetings_pace",
        "activities_attainment",
        "activities_pace",
    ),
)
