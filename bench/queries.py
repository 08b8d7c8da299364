"""Hand-written SQL for each benchmarked chat command: the same numbers, asked of the database directly.

Each query is what someone who knows the schema would write by hand for that one answer — no query builder, no
catalogue, no permissions — so `command time / hand-written time` says how much kpibot adds on top of the work the
database must do anyway. tests/bench/test_bench_sql.py checks that every query returns exactly the numbers of the
command's MetricResult, which is what makes that ratio honest.

Every query takes the period's bounds (naive UTC, as stored), `now`, and the owners in scope (None: the whole
organisation), and returns a flat dict of measure key -> value, keyed like the MetricResult's measures.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, text

from metrics.periods import Period, iter_buckets, local_midnight
from metrics.result import MetricResult, Number, ratio
from storage.config.settings import Settings

__all__ = [
    "HandParams",
    "HandQuery",
    "HAND_QUERIES",
    "COMPARED",
    "hand_params",
    "result_numbers",
    "same_number",
]

Numbers = dict[str, Number | None]


@dataclass(frozen=True)
class HandParams:
    """What a hand-written query needs to know: when, for whom, and the organisation's funnel."""

    start: datetime  # naive UTC
    end: datetime
    now: datetime
    owner_ids: tuple[str, ...] | None  # None: the whole organisation
    period: Period
    settings: Settings


HandQuery = Callable[[Connection, HandParams], Numbers]


def hand_params(result: MetricResult, now: datetime, settings: Settings) -> HandParams:
    """The parameters of the question a MetricResult answered."""
    from datetime import UTC

    owners = result.scope.owner_ids
    return HandParams(
        start=result.period.start_utc,
        end=result.period.end_utc,
        now=now.astimezone(UTC).replace(tzinfo=None),
        owner_ids=None if owners is None else tuple(owners),
        period=result.period,
        settings=settings,
    )


# --- helpers ----------------------------------------------------------------------------------------------------


def _run(conn: Connection, sql: str, p: HandParams, **values: Any):
    """Execute `sql` with the period, `now` and (when the SQL names it) the owners bound."""
    stmt = text(sql)
    bound: dict[str, Any] = {"start": p.start, "end": p.end, "now": p.now, **values}
    if ":owners" in sql:
        stmt = stmt.bindparams(bindparam("owners", expanding=True))
        bound["owners"] = list(p.owner_ids or ())
    for name, value in values.items():
        if isinstance(value, list | tuple):
            stmt = stmt.bindparams(bindparam(name, expanding=True))
            bound[name] = list(value)
    return conn.execute(stmt, bound)


def _owner(column: str, p: HandParams) -> str:
    return "" if p.owner_ids is None else f" AND {column} IN :owners"


def _days(conn: Connection, start: str, end: str) -> str:
    """`end - start` in fractional days, written the way each database counts days."""
    if conn.dialect.name == "sqlite":
        return f"(julianday({end}) - julianday({start}))"
    return f"(EXTRACT(EPOCH FROM {end}) / 86400.0 - EXTRACT(EPOCH FROM {start}) / 86400.0)"


def _rank(column: str, stages: tuple[str, ...]) -> str:
    """The funnel position of a stage name."""
    return "CASE " + " ".join(f"WHEN {column} = '{s}' THEN {i}" for i, s in enumerate(stages)) + " ELSE 0 END"


def _entries(p: HandParams, leads: str, *, every_event: bool = False) -> str:
    """Every funnel stage entry (lead_id, stage, entered_at) of the leads in the CTE `leads`: their events, their
    creation as the first stage, a linked deal's creation as opportunity and its win as won. Events of other
    stages (lost, disqualified) only with `every_event`."""
    stages = p.settings.funnel.stages
    names = ", ".join(f"'{s}'" for s in stages)
    ids = f"IN (SELECT lead_id FROM {leads})"
    events = f"SELECT lead_id, stage, entered_at FROM lead_stage_events WHERE lead_id {ids}"
    parts = [
        events if every_event else f"{events} AND stage IN ({names})",
        f"SELECT lead_id, '{stages[0]}', created_at FROM leads WHERE lead_id {ids}",
    ]
    if "opportunity" in stages:
        parts.append(f"SELECT lead_id, 'opportunity', created_at FROM deals WHERE lead_id {ids}")
    if "won" in stages:
        parts.append(
            f"SELECT lead_id, 'won', closed_at FROM deals WHERE lead_id {ids}"
            " AND status = 'won' AND closed_at IS NOT NULL"
        )
    return " UNION ALL ".join(parts)


def _touched(lead: str, p: HandParams) -> str:
    """Whether the lead `lead` had a stage event, or a linked deal created or closed, in the period: looked up per
    lead for a rep or a team, gathered once for the whole organisation."""
    deal_in_period = (
        "((d.created_at >= :start AND d.created_at < :end) OR (d.closed_at >= :start AND d.closed_at < :end))"
    )
    if p.owner_ids is None:
        return (
            f"{lead}.lead_id IN (SELECT lead_id FROM lead_stage_events WHERE entered_at >= :start AND entered_at < :end"
            f" UNION SELECT d.lead_id FROM deals d WHERE d.lead_id IS NOT NULL AND {deal_in_period})"
        )
    return (
        f"(EXISTS (SELECT 1 FROM lead_stage_events e WHERE e.lead_id = {lead}.lead_id"
        " AND e.entered_at >= :start AND e.entered_at < :end)"
        f" OR EXISTS (SELECT 1 FROM deals d WHERE d.lead_id = {lead}.lead_id AND {deal_in_period}))"
    )


def _money(value: Any) -> Decimal:
    """A sum of money as the store keeps it, to the cent (SQLite sums NUMERIC columns as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _median_mean(values: list[float]) -> tuple[int, float | None, float | None]:
    if not values:
        return 0, None, None
    return len(values), statistics.median(values), statistics.fmean(values)


# --- the queries ------------------------------------------------------------------------------------------------


def funnel(conn: Connection, p: HandParams) -> Numbers:
    """Leads created in the period, and how many of them reached each stage by now (per owner, then summed)."""
    stages = p.settings.funnel.stages
    sql = f"""
        WITH cohort AS (
            SELECT lead_id, owner_id FROM leads
            WHERE created_at >= :start AND created_at < :end{_owner("owner_id", p)}
        ),
        entries AS ({_entries(p, "cohort")}),
        furthest AS (
            SELECT lead_id, MAX({_rank("stage", stages)}) AS rank FROM entries
            WHERE entered_at <= :now GROUP BY lead_id
        )
        SELECT c.owner_id, COUNT(f.lead_id),
               {", ".join(f"COUNT(CASE WHEN f.rank >= {i} THEN 1 END)" for i in range(1, len(stages)))}
        FROM cohort c LEFT JOIN furthest f ON f.lead_id = c.lead_id
        GROUP BY c.owner_id
    """
    totals = [0] * len(stages)
    for _owner_id, *counts in _run(conn, sql, p):
        totals = [t + int(n) for t, n in zip(totals, counts, strict=True)]
    return dict(zip(stages, totals, strict=True))


def activity(conn: Connection, p: HandParams) -> Numbers:
    """Done by type, assigned, completion, overdue, qualifying calls and activities per won deal."""
    stages = p.settings.funnel.stages
    own = _owner("owner_id", p)
    done = dict(
        _run(
            conn,
            "SELECT type, COUNT(*) FROM activities WHERE status = 'done'"
            f" AND completed_at >= :start AND completed_at < :end{own} GROUP BY type",
            p,
        ).all()
    )
    status = "COALESCE(status, 'planned')"
    counts = _run(
        conn,
        f"""
        SELECT
          (SELECT COUNT(*) FROM activities WHERE created_at >= :start AND created_at < :end{own}),
          (SELECT COUNT(*) FROM activities WHERE due_at >= :start AND due_at < :end
              AND {status} <> 'cancelled'{own}),
          (SELECT COUNT(*) FROM activities WHERE due_at >= :start AND due_at < :end
              AND status = 'done'{own}),
          (SELECT COUNT(*) FROM activities WHERE due_at < :now
              AND {status} NOT IN ('done', 'cancelled'){own}),
          (SELECT COUNT(*) FROM deals WHERE status = 'won' AND closed_at >= :start AND closed_at < :end{own}),
          (SELECT COUNT(*) FROM deals d JOIN activities a ON a.deal_id = d.deal_id
              WHERE d.status = 'won' AND d.closed_at >= :start AND d.closed_at < :end
              AND a.status = 'done'{_owner("d.owner_id", p)})
        """,
        p,
    ).one()
    assigned, due, due_done, overdue, won, on_won = (int(n) for n in counts)
    rank = _rank("e.stage", stages)
    qualifying = _run(
        conn,
        f"""
        WITH calls AS (
            SELECT activity_id, lead_id, completed_at FROM activities
            WHERE status = 'done' AND type = 'call' AND lead_id IS NOT NULL
              AND completed_at >= :start AND completed_at < :end{own}
        ),
        call_leads AS (SELECT DISTINCT lead_id FROM calls),
        entries AS ({_entries(p, "call_leads")}),
        ranked AS (
            SELECT c.activity_id,
                   MAX(CASE WHEN e.entered_at <= c.completed_at THEN {rank} END) AS before_rank,
                   MAX(CASE WHEN e.entered_at > c.completed_at AND e.entered_at <= :now
                            AND {_days(conn, "c.completed_at", "e.entered_at")} <= :window
                       THEN {rank} END) AS after_rank
            FROM calls c JOIN entries e ON e.lead_id = c.lead_id
            GROUP BY c.activity_id
        )
        SELECT COUNT(*) FROM ranked WHERE after_rank > COALESCE(before_rank, 0)
        """,
        p,
        window=p.settings.activity.qualify_window_days,
    ).scalar_one()
    kinds = {"call": "calls", "meeting": "meetings", "email": "emails", "task": "tasks", "demo": "demos",
             "proposal": "proposals"}  # fmt: skip
    numbers: Numbers = {"activities": sum(int(n) for n in done.values())}
    for kind, key in kinds.items():
        numbers[key] = int(done.get(kind, 0))
    numbers["other"] = sum(int(n) for k, n in done.items() if k not in kinds)
    numbers.update(
        assigned=assigned,
        completion_rate=ratio(due_done, due),
        overdue=overdue,
        qualifying_calls=int(qualifying),
        activities_per_won_deal=ratio(on_won, won),
    )
    return numbers


_PLAN_ACTUALS = {
    # plan metric -> (table, what is summed, when it happened, which rows count)
    "revenue": ("deals", "amount", "closed_at", "status = 'won'"),
    "deals_won": ("deals", "1", "closed_at", "status = 'won'"),
    "new_leads": ("leads", "1", "created_at", "1 = 1"),
    "calls": ("activities", "1", "completed_at", "status = 'done' AND type = 'call'"),
    "meetings": ("activities", "1", "completed_at", "status = 'done' AND type = 'meeting'"),
}


def _bucket_case(column: str, bounds: list[datetime]) -> tuple[str, dict[str, datetime]]:
    """A CASE giving the index of the bucket `column` falls in, given the buckets' boundaries (n + 1 of them)."""
    whens = " ".join(f"WHEN {column} < :b{i + 1} THEN {i}" for i in range(len(bounds) - 2))
    return f"CASE {whens} ELSE {len(bounds) - 2} END", {f"b{i}": b for i, b in enumerate(bounds)}


def _plan_actuals_sql(p: HandParams, without: str = "") -> str:
    """One row: each plan metric's actual over the period of the scope (metrics counted in table `without` left out)."""
    return "SELECT " + ", ".join(
        f"(SELECT SUM({amount}) FROM {table} WHERE {where} AND {at} >= :start AND {at} < :end"
        f"{_owner('owner_id', p)})"
        for table, amount, at, where in _PLAN_ACTUALS.values()
        if table != without
    )


def plan(conn: Connection, p: HandParams) -> Numbers:
    """Each plan line's actual and target this month, revenue's last six months and its day-by-day actual.

    Written for the benchmark's question (`/plan`, this month, where every rep has monthly rows): the target of a
    team or the organisation is the sum of its reps' rows, as the demo's plans are built.
    """
    actuals = _run(conn, _plan_actuals_sql(p), p).one()
    history = [p.period]
    for _ in range(5):
        history.insert(0, history[0].previous())
    targets = _run(
        conn,
        "SELECT p.period, p.metric, SUM(p.target) FROM plans p JOIN users u ON u.user_id = p.scope_id"
        " WHERE p.period IN :months AND p.scope = 'user' AND p.metric IN :metrics AND p.product_id = ''"
        f" AND u.role = 'rep'{_owner('p.scope_id', p)} GROUP BY p.period, p.metric",
        p,
        months=[h.start_date.strftime("%Y-%m") for h in history],
        metrics=list(_PLAN_ACTUALS),
    ).all()
    target_of = {(period, metric): total for period, metric, total in targets}
    month = p.period.start_date.strftime("%Y-%m")
    numbers: Numbers = {}
    for metric, actual in zip(_PLAN_ACTUALS, actuals, strict=True):
        target = target_of.get((month, metric))
        value = _money(actual) if metric == "revenue" else int(actual or 0)
        numbers.update({f"{metric}.actual": value, f"{metric}.target": target})
        numbers[f"{metric}.attainment"] = ratio(value, target)
    # The dynamics (revenue per month) and the cumulative line (revenue per day), each one grouped query.
    own = _owner("owner_id", p)
    for name, bounds in (
        ("dynamics", [h.start_utc for h in history] + [p.end]),
        ("by_day", [d.start_utc for d in iter_buckets(p.period, "day")] + [p.end]),
    ):
        bucket, values = _bucket_case("closed_at", bounds)
        rows = _run(
            conn,
            f"SELECT bucket, SUM(amount) FROM (SELECT {bucket} AS bucket, amount FROM deals WHERE status = 'won'"
            f" AND closed_at >= :b0 AND closed_at < :b{len(bounds) - 1}{own}) won GROUP BY bucket",
            p,
            **values,
        ).all()
        sums = dict(rows)
        if name == "dynamics":
            for i, h in enumerate(history):
                target = target_of.get((h.start_date.strftime("%Y-%m"), "revenue"))
                numbers[f"dynamics:{h.key}"] = ratio(sums.get(i, 0), target)
    if p.now < p.end:
        # What it takes: the scope's last 90 days of revenue, deals, meetings, calls and funnel (timed, and the
        # funnel part checked through /funnel's query, which it reuses).
        trailing = replace(p, start=p.now - timedelta(days=90), end=p.now)
        _run(conn, _plan_actuals_sql(trailing, without="leads"), trailing).one()
        funnel(conn, trailing)
    return numbers


def _mrr_month(conn: Connection, day: date) -> str:
    """The MRR month telling whether an account is active at `day`: last month's, or the one before if not loaded."""
    first = day.replace(day=1)
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    loaded = conn.execute(text("SELECT 1 FROM mrr WHERE month = :m LIMIT 1"), {"m": previous}).first()
    if loaded:
        return previous
    return ((first - timedelta(days=1)).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def retention(conn: Connection, p: HandParams) -> Numbers:
    """Customers active at the period's start, at its end, at both; new customers; repeat buyers."""
    window = timedelta(days=p.settings.retention.window_days)

    def active(at: str, month: str) -> str:
        return (
            f"(EXISTS (SELECT 1 FROM orders o WHERE o.account_id = a.account_id"
            f" AND o.ordered_at >= :{at}_window AND o.ordered_at < :{at})"
            f" OR EXISTS (SELECT 1 FROM mrr m WHERE m.account_id = a.account_id AND m.month = :{month}"
            f" AND m.mrr > 0))"
        )

    row = _run(
        conn,
        f"""
        SELECT SUM(CASE WHEN s = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN e = 1 THEN 1 ELSE 0 END),
               SUM(CASE WHEN s = 1 AND e = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END)
        FROM (
            SELECT CASE WHEN {active("start", "start_month")} THEN 1 ELSE 0 END AS s,
                   CASE WHEN {active("end", "end_month")} THEN 1 ELSE 0 END AS e,
                   CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE o.account_id = a.account_id
                                     AND o.ordered_at >= :start AND o.ordered_at < :end)
                         AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.account_id = a.account_id
                                         AND o.ordered_at < :start) THEN 1 ELSE 0 END AS n
            FROM accounts a WHERE 1 = 1{_owner("a.owner_id", p)}
        ) flags
        """,
        p,
        start_window=p.start - window,
        end_window=p.end - window,
        start_month=_mrr_month(conn, p.period.start_date),
        end_month=_mrr_month(conn, p.period.end_date),
    ).one()
    start, end, both, new = (int(n or 0) for n in row)
    repeat, buyers = _run(
        conn,
        f"""
        SELECT COUNT(CASE WHEN n >= 2 THEN 1 END), COUNT(*) FROM (
            SELECT o.account_id, COUNT(*) AS n FROM orders o JOIN accounts a ON a.account_id = o.account_id
            WHERE o.ordered_at >= :start AND o.ordered_at < :end{_owner("a.owner_id", p)}
            GROUP BY o.account_id
        ) per_account
        """,
        p,
    ).one()
    crr = ratio(both, start)
    return {
        **_cohorts(conn, p),
        "crr": crr,
        "churn_rate": None if crr is None else 1 - crr,
        "start_customers": start,
        "end_customers": end,
        "retained_customers": both,
        "new_customers": new,
        "repeat_purchase_rate": ratio(repeat, buyers),
    }


def _cohorts(conn: Connection, p: HandParams, months: int = 12) -> Numbers:
    """The last `months` monthly cohorts (org time zone) of the scope's customers, by month of first order, and
    the share of each that ordered again k months later (keys `cohort:<YYYY-MM>:size` and `…:m<k>`)."""
    tz = p.settings.org.tz
    last = (p.period.end.astimezone(tz) - timedelta(microseconds=1)).date().replace(day=1)
    firsts = [last]
    for _ in range(months):
        firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
    firsts = firsts[1:] + [(last + timedelta(days=32)).replace(day=1)]
    bounds = [local_midnight(day, tz).astimezone(UTC).replace(tzinfo=None) for day in firsts]
    cohort, values = _bucket_case("f.first_at", bounds)
    month, _ = _bucket_case("o.ordered_at", bounds)
    rows = _run(
        conn,
        f"""
        WITH first_orders AS (
            SELECT o.account_id, MIN(o.ordered_at) AS first_at FROM orders o
            JOIN accounts a ON a.account_id = o.account_id WHERE 1 = 1{_owner("a.owner_id", p)}
            GROUP BY o.account_id
        )
        SELECT cohort, month, COUNT(DISTINCT account_id) FROM (
            SELECT f.account_id, {cohort} AS cohort, {month} AS month FROM first_orders f
            JOIN orders o ON o.account_id = f.account_id
            WHERE f.first_at >= :b0 AND f.first_at < :b{months}
              AND o.ordered_at >= :b0 AND o.ordered_at < :b{months}
        ) active GROUP BY cohort, month
        """,
        p,
        **values,
    ).all()
    counts = {(int(c), int(m)): int(n) for c, m, n in rows}
    numbers: Numbers = {}
    for c in range(months):
        label = firsts[c].strftime("%Y-%m")
        size = counts.get((c, c), 0)
        numbers[f"cohort:{label}:size"] = size
        for k in range(months - c):
            numbers[f"cohort:{label}:m{k}"] = ratio(counts.get((c, c + k), 0), size)
    return numbers


def cycle(conn: Connection, p: HandParams) -> Numbers:
    """Days from the lead's (else the deal's) creation to the win, for deals won in the period."""
    days = _days(conn, "COALESCE(l.created_at, d.created_at)", "d.closed_at")
    rows = _run(
        conn,
        f"SELECT {days} FROM deals d LEFT JOIN leads l ON l.lead_id = d.lead_id WHERE d.status = 'won'"
        f" AND d.closed_at >= :start AND d.closed_at < :end{_owner('d.owner_id', p)}",
        p,
    ).scalars()
    count, median, mean = _median_mean([float(x) for x in rows])
    return {"median_days": median, "mean_days": mean, "deals": count}


def stages(conn: Connection, p: HandParams) -> Numbers:
    """Days in each deal stage and each lead stage, for the stage exits that happened in the period."""
    funnel_stages = p.settings.funnel.stages
    deal_rows = _run(
        conn,
        f"""
        WITH moved AS (
            SELECT DISTINCT e.deal_id FROM deal_stage_events e JOIN deals d ON d.deal_id = e.deal_id
            WHERE e.entered_at >= :start AND e.entered_at < :end{_owner("d.owner_id", p)}
        ),
        steps AS (
            SELECT e.stage, e.entered_at,
                   LEAD(e.entered_at) OVER (PARTITION BY e.deal_id ORDER BY e.entered_at, e.stage) AS next_at,
                   ROW_NUMBER() OVER (PARTITION BY e.deal_id ORDER BY e.entered_at, e.stage) AS position
            FROM deal_stage_events e JOIN moved m ON m.deal_id = e.deal_id
        )
        SELECT stage, {_days(conn, "entered_at", "next_at")}, position FROM steps
        WHERE next_at >= :start AND next_at < :end
        """,
        p,
    ).tuples()
    deal_days: dict[str, list[float]] = defaultdict(list)
    positions: dict[str, list[int]] = defaultdict(list)
    for stage, days, position in deal_rows:
        deal_days[stage].append(float(days))
        positions[stage].append(int(position))
    names = ", ".join(f"'{s}'" for s in funnel_stages)
    order = _rank("stage", funnel_stages).replace(" ELSE 0 END", f" ELSE {len(funnel_stages)} END")
    # Every event counts here (a lost or disqualified event ends the stage before it), not just funnel stages.
    entries = _entries(p, "moved", every_event=True)
    lead_rows = _run(
        conn,
        f"""
        WITH moved AS (
            SELECT l.lead_id FROM leads l WHERE {_touched("l", p)}{_owner("l.owner_id", p)}
        ),
        entries AS ({entries}),
        firsts AS (SELECT lead_id, stage, MIN(entered_at) AS entered_at FROM entries GROUP BY lead_id, stage),
        steps AS (
            SELECT stage, entered_at,
                   LEAD(entered_at) OVER (PARTITION BY lead_id ORDER BY entered_at, {order}) AS next_at
            FROM firsts
        )
        SELECT stage, {_days(conn, "entered_at", "next_at")} FROM steps
        WHERE next_at >= :start AND next_at < :end AND stage IN ({names})
        """,
        p,
    ).tuples()
    lead_days: dict[str, list[float]] = defaultdict(list)
    for stage, days in lead_rows:
        lead_days[stage].append(float(days))
    numbers: Numbers = {}
    medians = {}
    for kind, grouped in (("deal", deal_days), ("lead", lead_days)):
        for stage, values in grouped.items():
            count, median, mean = _median_mean(values)
            numbers[f"{kind}:{stage}:median_days"] = median
            numbers[f"{kind}:{stage}:mean_days"] = mean
            numbers[f"{kind}:{stage}:exits"] = count
            if kind == "deal":
                medians[stage] = median
    numbers["slowest_deal_stage_days"] = max((m for m in medians.values() if m is not None), default=None)
    return numbers


def sql_report(conn: Connection, p: HandParams) -> Numbers:
    """Entries into lead, MQL and SQL during the period (skipped stages filled in), and marketing spend."""
    stages = p.settings.funnel.stages
    rank = _rank("stage", stages)
    firsts = ", ".join(
        f"MIN(CASE WHEN {rank} >= {i} THEN entered_at END) AS r{i}" for i in range(len(stages))
    )
    counted = ", ".join(
        f"COUNT(CASE WHEN r{i} >= :start AND r{i} < :end THEN 1 END)" for i in range(len(stages))
    )
    if p.owner_ids is None:  # one union, which PostgreSQL can hash (it cannot hash `… OR lead_id IN (…)`)
        touched = (
            "SELECT lead_id FROM leads WHERE created_at >= :start AND created_at < :end"
            " UNION SELECT lead_id FROM lead_stage_events WHERE entered_at >= :start AND entered_at < :end"
            " UNION SELECT d.lead_id FROM deals d WHERE d.lead_id IS NOT NULL AND ((d.created_at >= :start"
            " AND d.created_at < :end) OR (d.closed_at >= :start AND d.closed_at < :end))"
        )
    else:
        touched = (
            "SELECT l.lead_id FROM leads l WHERE (l.created_at >= :start AND l.created_at < :end"
            f" OR {_touched('l', p)}){_owner('l.owner_id', p)}"
        )
    row = _run(
        conn,
        f"""
        WITH touched AS (
            {touched}
        ),
        entries AS ({_entries(p, "touched")}),
        reached AS (SELECT lead_id, {firsts} FROM entries GROUP BY lead_id)
        SELECT {counted} FROM reached
        """,
        p,
    ).one()
    counts = dict(zip(stages, (int(n) for n in row), strict=True))
    leads, mql, sql = counts[stages[0]], counts.get("mql", 0), counts.get("sql", 0)
    numbers: Numbers = {"sql": sql, "acceptance_rate": ratio(sql, mql), "leads": leads, "mql": mql}
    if p.owner_ids is None:
        lag = timedelta(days=p.settings.marketing.lag_days)
        first, end = p.period.start_date, p.period.end_date
        spend_sql = (
            "SELECT SUM(amount) FROM spend WHERE kind = 'marketing' AND date >= :first AND date < :last"
        )
        spend = _money(_run(conn, spend_sql, p, first=first, last=end).scalar_one())
        lagged = _money(_run(conn, spend_sql, p, first=first - lag, last=end - lag).scalar_one())
        numbers.update(
            spend=spend,
            spend_lagged=lagged,
            cost_per_sql=ratio(spend, sql),
            cost_per_sql_lagged=ratio(lagged, sql),
        )
    return numbers


def win_rate(conn: Connection, p: HandParams) -> Numbers:
    """Deals won and lost in the period, leads created in it, and leads in the pipeline during it."""
    won, lost = _run(
        conn,
        "SELECT COUNT(CASE WHEN status = 'won' THEN 1 END), COUNT(CASE WHEN status = 'lost' THEN 1 END)"
        " FROM deals WHERE status IN ('won', 'lost') AND closed_at >= :start AND closed_at < :end"
        f"{_owner('owner_id', p)}",
        p,
    ).one()
    closers = [*p.settings.funnel.terminal_stages, "won"]
    if p.owner_ids is None and conn.dialect.name == "sqlite":
        closed_before = """l.lead_id NOT IN (SELECT lead_id FROM lead_stage_events
                                             WHERE stage IN :closers AND entered_at < :start)
          AND l.lead_id NOT IN (SELECT lead_id FROM deals WHERE lead_id IS NOT NULL
                                AND status IN ('won', 'lost') AND closed_at < :start)"""
    else:
        # Per lead for a rep or a team, and on PostgreSQL for the organisation too: a NOT IN over a few hundred
        # thousand ids does not fit its hash table and runs the subquery for every lead (it did not finish in ten
        # minutes), where NOT EXISTS becomes a hashed anti-join. The stage test is a CASE on purpose: SQLite 3.40 answers
        # `EXISTS (… lead_id = l.lead_id AND stage IN (…) AND entered_at < …)` wrongly when it searches the
        # (lead_id, stage, entered_at) primary key with the IN.
        closed_before = """NOT EXISTS (SELECT 1 FROM lead_stage_events e WHERE e.lead_id = l.lead_id
                                AND e.entered_at < :start AND CASE WHEN e.stage IN :closers THEN 1 ELSE 0 END = 1)
          AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.lead_id = l.lead_id
                          AND d.status IN ('won', 'lost') AND d.closed_at < :start)"""
    new, pipeline = _run(
        conn,
        f"""
        SELECT COUNT(CASE WHEN l.created_at >= :start THEN 1 END), COUNT(*) FROM leads l
        WHERE l.created_at < :end{_owner("l.owner_id", p)}
          AND {closed_before}
        """,
        p,
        closers=closers,
    ).one()
    return {
        "win_rate": ratio(won, won + lost),
        "won": int(won),
        "lost": int(lost),
        "close_rate": ratio(won, pipeline),
        "leads_per_deal": ratio(new, won),
        "leads": int(new),
        "pipeline_leads": int(pipeline),
    }


def leaderboard(conn: Connection, p: HandParams) -> Numbers:
    """Revenue won per rep in the period, the ranking `/leaderboard` shows (keys: `revenue:<rep id>`)."""
    rows = _run(
        conn,
        "SELECT owner_id, SUM(amount) FROM deals WHERE status = 'won' AND closed_at >= :start AND closed_at < :end"
        f"{_owner('owner_id', p)} GROUP BY owner_id",
        p,
    ).tuples()
    return {f"revenue:{owner}": _money(total) for owner, total in rows if total}


HAND_QUERIES: dict[str, HandQuery] = {
    "funnel": funnel,
    "activity": activity,
    "plan": plan,
    "retention": retention,
    "cycle": cycle,
    "stages": stages,
    "sql": sql_report,
    "winrate": win_rate,
    "leaderboard": leaderboard,
}
"""Command name -> its hand-written query."""

COMPARED: Mapping[str, Iterable[str] | None] = {
    "funnel": None,
    "activity": (
        "activities", "calls", "meetings", "emails", "tasks", "demos", "proposals", "other", "assigned",
        "completion_rate", "overdue", "qualifying_calls", "activities_per_won_deal",
    ),
    "plan": None,
    "retention": None,
    "cycle": None,
    "stages": None,
    "sql": None,
    "winrate": None,
    "leaderboard": None,
}  # fmt: skip
"""Which of the hand-written numbers are checked against the MetricResult (None: all of them)."""


def same_number(a: Any, b: Any) -> bool:
    """Whether two numbers of an answer agree: money to the cent, counts exactly, shares to 1e-9."""
    if a is None or b is None:
        return a is b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def result_numbers(command: str, result: MetricResult, keys: Iterable[str]) -> Numbers:
    """The MetricResult's values for `keys`, as the hand-written query names them."""
    if command == "leaderboard":
        return {
            f"revenue:{row.key}": row.measure("revenue").value
            for row in result.rows
            if row.measure("revenue").value
        }
    if command == "retention":
        values = {m.key: m.value for m in result.measures}
        for label, size, *cells in result.table("cohorts").rows:
            values[f"cohort:{label}:size"] = size
            values.update({f"cohort:{label}:m{k}": cell for k, cell in enumerate(cells)})
        return {k: values.get(k) for k in keys}
    if command == "plan":
        values = {m.key: m.value for m in result.measures}
        values.update({f"dynamics:{key}": value for key, value in result.series_by_key("dynamics").points})
        return {k: values.get(k) for k in keys}
    return {k: result.measure(k).value for k in keys}
