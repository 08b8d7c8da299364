"""Plan execution (`/plan`, SPEC 3.4): actual against target, pace, forecast, dynamics and what it takes.

The pieces live beside this module: `plan_targets` finds and rolls up targets, `plan_actuals` computes actuals in
SQL, `plan_progress` does the pace arithmetic and `plan_reverse` the reverse funnel. This module declares the
metric and assembles its reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.periods import Period, iter_buckets, working_days
from metrics.plan.actuals import AVERAGE_METRICS, PLAN_METRICS, Actual, plan_actual, plan_actual_by_bucket
from metrics.plan.progress import Progress, metric_label, progress, progress_measures, unit_of
from metrics.plan.reverse import FUNNEL_STARTS, TRAILING_DAYS, Trailing, trailing, what_it_takes
from metrics.plan.targets import Holder, PlanBook, PlanKey, Target, holders_of, load_plan_book, resolve_target
from metrics.result import BreakdownRow, Measure, Note, Number, Series, Table, Unit, ratio
from storage.errors import UserError
from storage.schema import Team, User

__all__ = ["PLAN", "dynamics_trend"]

DEFAULT_DYNAMICS_PERIODS = 6
FLAT_SLOPE = 0.01  # attainment moving less than one percentage point per period is flat


def dynamics_trend(attainments: Sequence[float]) -> int | None:
    """+1 rising, -1 falling, 0 flat: the sign of the least-squares slope through the attainments (oldest first);
    None with fewer than two."""
    n = len(attainments)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(attainments) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(attainments)) / sum(
        (x - mean_x) ** 2 for x in range(n)
    )
    if abs(slope) < FLAT_SLOPE:
        return 0
    return 1 if slope > 0 else -1


def _chosen_keys(book: PlanBook, option: str | None) -> tuple[PlanKey, ...]:
    keys = book.keys()
    if not option:
        return keys
    metric, _, product = option.partition(".")
    if metric not in PLAN_METRICS:
        raise UserError(
            "plan.unknown_metric",
            "There is no plan metric '{name}'; try: {allowed}.",
            name=option,
            allowed=", ".join(PLAN_METRICS),
        )
    return tuple(k for k in keys if k.metric == metric and (not product or k.product_id == product))


def _headline_first(progresses: list[Progress]) -> list[Progress]:
    revenue = [p for p in progresses if p.key == PlanKey("revenue")]
    return revenue + [p for p in progresses if p.key != PlanKey("revenue")]


def _history(period: Period, count: int) -> list[Period]:
    periods = [period]
    for _ in range(count - 1):
        periods.append(periods[-1].previous())
    return periods[::-1]


def _periods_option(ctx: ComputeContext) -> int:
    raw = ctx.options.get("periods", str(DEFAULT_DYNAMICS_PERIODS))
    if not raw.isdigit() or not 2 <= int(raw) <= 24:
        raise UserError(
            "plan.bad_periods", "periods must be a whole number from 2 to 24, not '{raw}'.", raw=raw
        )
    return int(raw)


def _summary_only(ctx: ComputeContext) -> bool:
    """`detail=summary`: the plan lines and their rows without dynamics or "what it takes" (digests, alerts)."""
    detail = ctx.options.get("detail", "full")
    if detail not in ("full", "summary"):
        raise UserError("plan.bad_detail", "detail is full or summary, not '{raw}'.", raw=detail)
    return detail == "summary"


def _compute(ctx: ComputeContext) -> Computed:
    holidays = ctx.settings.org.holidays
    lines_only = ctx.is_comparison or _summary_only(ctx)
    history = [ctx.period] if lines_only else _history(ctx.period, _periods_option(ctx))
    holders = holders_of(ctx.scope)
    book = load_plan_book(ctx.conn, history, holidays, holders)
    targets = [
        t
        for key in _chosen_keys(book, ctx.options.get("plan_metric"))
        if (t := resolve_target(book, holders, ctx.period, key, holidays)) is not None
    ]
    if not targets:
        return Computed(
            measures=(),
            notes=(
                Note(
                    "plan.none",
                    "No plan for {scope} in {period}.",
                    (("scope", ctx.scope.label, None), ("period", ctx.period.label, None)),
                ),
            ),
        )
    actuals = {t.key: _actual(ctx, t.key, ctx.period) for t in targets}
    progresses = _headline_first(
        [progress(t, actuals[t.key].value(), ctx.period, ctx.now, holidays) for t in targets]
    )
    measures = [m for p in progresses for m in progress_measures(p)]
    rows = _rows(ctx, book, targets, actuals)
    if lines_only:
        return Computed(measures=tuple(measures), rows=rows)
    headline = progresses[0]
    points = _dynamics(ctx, book, holders, history, headline.key)
    done = [a for (p, (_code, a)) in zip(history, points, strict=True) if p.end <= ctx.now and a is not None]
    trend = dynamics_trend([float(a) for a in done])
    measures.append(
        Measure(
            "dynamics_trend", "Attainment trend", "number", trend, detail=f"{len(done)} completed periods"
        )
    )
    series = [Series("dynamics", f"{metric_label(headline.key)}: attainment", tuple(points), "percent")]
    series += _cumulative(ctx, headline, holidays)
    tables: list[Table] = []
    notes: list[str | Note] = [
        f"{metric_label(p.key)} target: {p.basis}." for p in progresses if p.basis != ctx.period.key
    ]
    notes.extend(_forecast_notes(ctx))
    driver = _what_it_takes_driver(ctx, book, holders, progresses)
    if driver is None:
        notes.append(
            Note(
                "plan.what_it_takes_needs_line",
                "What it takes needs a plan line that adds up over the period.",
            )
        )
    elif driver.remaining_days == 0:
        notes.append(Note("plan.period_over", "The period is over: nothing is left to plan for."))
    else:
        lookback = trailing(ctx.conn, ctx.settings, ctx.scope.owner_ids, ctx.now_utc)
        missing = max(float(driver.target) - float(driver.actual or 0), 0.0)
        start = driver.key.metric if not driver.key.product_id else driver.key.code
        tables.append(
            what_it_takes(missing, lookback, ctx.settings.funnel.stages, driver.remaining_days, start=start)
        )
        if start in FUNNEL_STARTS:
            notes.append(_what_it_takes_basis(ctx, start, lookback))
    return Computed(tuple(measures), rows, tuple(series), tuple(tables), tuple(notes))


def _forecast_notes(ctx: ComputeContext) -> list[str | Note]:
    """How much of the period the forecast rests on, flagged as early over its first few working days."""
    coverage = ctx.coverage
    if not coverage.partial:
        return []
    params: tuple[tuple[str, Number | str | None, Unit | None], ...] = (
        ("elapsed", coverage.working_days_elapsed, "count"),
        ("total", coverage.working_days_total, "count"),
    )
    if coverage.working_days_elapsed == 0:
        return [
            Note("plan.forecast_none", "No forecast yet: none of the {total} working days is over.", params)
        ]
    if coverage.early:
        return [
            Note(
                "plan.forecast_early",
                "Forecast from {elapsed} of {total} working days: early, a run-rate of so few days can move a lot.",
                params,
            )
        ]
    return [Note("plan.forecast_basis", "Forecast from {elapsed} of {total} working days.", params)]


def _what_it_takes_driver(
    ctx: ComputeContext, book: PlanBook, holders: Sequence[Holder], progresses: list[Progress]
) -> Progress | None:
    """The plan line "what it takes" runs from: the scope's revenue plan, else its deals-won plan — also when the
    reply shows another line (`/plan calls`) — else the first shown line that adds up over the period."""
    shown = {p.key: p for p in progresses}
    holidays = ctx.settings.org.holidays
    for metric in FUNNEL_STARTS:
        key = PlanKey(metric)
        if key in shown:
            return shown[key]
        target = resolve_target(book, holders, ctx.period, key, holidays)
        if target is not None:
            return progress(target, _actual(ctx, key, ctx.period).value(), ctx.period, ctx.now, holidays)
    return next((p for p in progresses if p.key.metric not in AVERAGE_METRICS), None)


def _what_it_takes_basis(ctx: ComputeContext, start: str, lookback: Trailing) -> Note:
    params: tuple[tuple[str, Number | str | None, Unit | None], ...] = (
        ("days", TRAILING_DAYS, "count"),
        ("deals", lookback.deals_won, "count"),
        ("avg", lookback.avg_deal_size, "money"),
        ("leads", lookback.funnel[ctx.settings.funnel.stages[0]], "count"),
    )
    if start == "deals_won":
        return Note(
            "plan.what_it_takes_basis_deals",
            "What it takes runs from the deals-won plan and uses the last {days} days: {deals} deals won, "
            "{leads} new leads.",
            params,
        )
    return Note(
        "plan.what_it_takes_basis",
        "What it takes uses the last {days} days: {deals} deals won, average deal {avg}, {leads} new leads.",
        params,
    )


def _actual(ctx: ComputeContext, key: PlanKey, period: Period) -> Actual:
    return plan_actual(
        ctx.conn,
        ctx.settings,
        key.metric,
        key.product_id,
        period.start_utc,
        period.end_utc,
        ctx.scope.owner_ids,
    )


def _dynamics(
    ctx: ComputeContext, book: PlanBook, holders: Sequence[Holder], history: list[Period], key: PlanKey
) -> list[tuple[str, Number | None]]:
    points: list[tuple[str, Number | None]] = []
    for period in history:
        target = resolve_target(book, holders, period, key, ctx.settings.org.holidays)
        if target is None:
            points.append((period.key, None))
            continue
        points.append((period.key, ratio(_actual(ctx, key, period).value(), target.value)))
    return points


def _cumulative(ctx: ComputeContext, headline: Progress, holidays: tuple[date, ...]) -> list[Series]:
    """Day by day: the cumulative actual up to today and the target spread evenly over the working days."""
    if headline.key.metric in AVERAGE_METRICS:
        return []
    days = list(iter_buckets(ctx.period, "day"))
    per_day = plan_actual_by_bucket(
        ctx.conn, ctx.settings, headline.key.metric, headline.key.product_id, days, ctx.scope.owner_ids
    )
    today = ctx.now.astimezone(ctx.period.tz).date()
    total_days = working_days(ctx.period.start_date, ctx.period.end_date, holidays)
    actual: list[tuple[str, Number | None]] = []
    target: list[tuple[str, Number | None]] = []
    running = 0.0
    for day in days:
        running += float(per_day.get(day.label, 0))
        if day.start_date <= today:
            actual.append((day.label, running))
        share = ratio(working_days(ctx.period.start_date, day.end_date, holidays), total_days)
        target.append((day.label, None if share is None else float(headline.target) * share))
    unit = headline.unit
    return [
        Series("cumulative_actual", f"{metric_label(headline.key)}: actual", tuple(actual), unit),
        Series("cumulative_target", f"{metric_label(headline.key)}: target pace", tuple(target), unit),
    ]


def _names(ctx: ComputeContext, stmt: Select) -> dict[str, str]:
    return {key: name for key, name in ctx.conn.execute(stmt)}


def _rows(
    ctx: ComputeContext, book: PlanBook, targets: list[Target], actuals: dict[PlanKey, Actual]
) -> tuple[BreakdownRow, ...]:
    """`by rep`: each rep's own plan line; `by team`: each team's rolled-up target against its members' actual."""
    if ctx.by is None:
        return ()
    holidays = ctx.settings.org.holidays
    if ctx.by == "team":
        if ctx.scope.kind == "rep":
            raise UserError("plan.by_team_rep", "A breakdown by team needs a team or org scope.")
        team_ids = ctx.scope.team_ids or book.team_ids
        names = _names(ctx, select(Team.team_id, Team.name).where(Team.team_id.in_(team_ids)))
        groups = [(t, names.get(t, t), Holder("team", t), book.members.get(t, ())) for t in team_ids]
    else:
        owners = ctx.scope.owner_ids
        if owners is None:
            owners = tuple(sorted({u for members in book.members.values() for u in members}))
        names = _names(ctx, select(User.user_id, User.name).where(User.user_id.in_(owners)))
        groups = [(u, names.get(u, u), Holder("user", u), (u,)) for u in owners]
    rows = []
    for key_id, label, holder, owners_of_row in groups:
        measures: list[Measure] = []
        for t in targets:
            actual = actuals[t.key].value(owners_of_row)
            own = resolve_target(book, (holder,), ctx.period, t.key, holidays)
            if own is None:
                measures.append(Measure(f"{t.key.code}.actual", metric_label(t.key), unit_of(t.key), actual))
            else:
                measures.extend(progress_measures(progress(own, actual, ctx.period, ctx.now, holidays)))
        rows.append(BreakdownRow(key_id, label, tuple(measures)))
    return tuple(rows)


PLAN = MetricDef(
    name="plan",
    title="Plan execution",
    description=(
        "Actual against target for each plan line (revenue = won deals' amounts by close date, or order amounts "
        "when revenue.source is orders): attainment = actual / target, pace = actual / (target × elapsed share "
        "of the period's working days, Mon–Fri minus holidays, a day counting once it is over), forecast = "
        "actual / elapsed share, needed per working day = still missing / working days left including today. "
        "A period without its own plan row uses the month, quarter or year plan containing it prorated by "
        "working days (or, for a quarter or year, its months' rows added up); a team without its own row sums "
        "its members', the org sums its teams. Dynamics is the attainment of the last 6 periods; the trend "
        "(+1/−1/0) is the least-squares slope over the completed ones. A period still running says how many of "
        "its working days the forecast rests on, and calls it early while fewer than 3 (or 10 % of them) are "
        "over. What it takes runs the funnel backwards from the revenue plan (else the deals-won plan, else the "
        f"line itself) with the scope's last {TRAILING_DAYS} days of deal size and conversion; a closed period "
        "needs nothing more per working day (—)."
    ),
    compute=_compute,
    needs=("plans", "deals", "orders", "leads", "lead_stage_events", "activities", "users", "teams"),
    breakdowns=("rep", "team"),
    options=("plan_metric", "periods", "detail"),
    compare_to_date=False,  # pace already allows for elapsed time; last month is compared whole
    answers_future=True,  # next month's target and what it will take per working day
    defines=(
        "line_attainment",
        "line_actual",
        "line_target",
        "line_pace",
        "line_forecast",
        "line_needed_per_day",
        "dynamics_trend",
    ),
)
