"""`/funnel`: how many leads reach each stage of the configured funnel, and the conversion from step to step.

Counted per lead with the rules of `metrics.sql.lead_journey` (skipped stages filled in, deals imply `opportunity` and
`won`, lost and disqualified are not stages). The two modes answer two questions:
- cohort: "of the leads that came in this month, how far have they got by now?"
- flow: "how many stage entries happened this month?" (the leads may have come in earlier).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.result import BreakdownRow, Measure, Series, ratio
from metrics.sql.breakdowns import (
    TIME_BREAKDOWNS,
    breakdown_rows,
    group_key,
    lead_filters,
    time_buckets,
)
from metrics.sql.lead_journey import touched_leads, was_touched
from storage.journeys import LeadWhere, journey, reached_column

__all__ = ["FUNNEL", "STAGE_LABELS", "stage_label", "step_key", "funnel_measures", "stage_counts"]

STAGE_LABELS = {
    "lead": "Leads",
    "mql": "MQL",
    "sal": "SAL",
    "sql": "SQL",
    "opportunity": "Opportunities",
    "won": "Won",
}

# Named rates of SPEC 3.2: (key, label, numerator stage, denominator stage).
_NAMED_RATES = (
    ("mql_rate", "MQL rate", "mql", "lead"),
    ("acceptance_rate", "Acceptance rate", "sql", "mql"),
    ("proposal_rate", "Proposal rate", "opportunity", "sql"),
)


def stage_label(stage: str) -> str:
    """How a stage is named in a reply: the known abbreviations, else the configured name capitalised."""
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


def step_key(stage: str, next_stage: str) -> str:
    """The measure key of the conversion from one stage to another, e.g. `mql_to_sal`."""
    return f"{stage}_to_{next_stage}"


def _rate(key: str, label: str, numerator: int, denominator: int) -> Measure:
    return Measure(
        key, label, "percent", ratio(numerator, denominator), detail=f"{numerator} / {denominator}"
    )


def funnel_measures(stages: Sequence[str], counts: Sequence[int]) -> tuple[Measure, ...]:
    """Leads and overall conversion first (what a manager reads first), then each stage with the step into it,
    then the named rates of SPEC 3.2."""
    first, last = stages[0], stages[-1]
    measures = [
        Measure(first, stage_label(first), "count", counts[0]),
        _rate(step_key(first, last), f"{stage_label(first)} → {stage_label(last)}", counts[-1], counts[0]),
    ]
    for i in range(1, len(stages)):
        stage, before = stages[i], stages[i - 1]
        measures.append(Measure(stage, stage_label(stage), "count", counts[i]))
        if len(stages) > 2:  # with two stages the one step is the overall rate above
            label = f"{stage_label(before)} → {stage_label(stage)}"
            measures.append(_rate(step_key(before, stage), label, counts[i], counts[i - 1]))
    index = {stage: i for i, stage in enumerate(stages)}
    for key, label, top, bottom in _NAMED_RATES:
        if top in index and bottom in index:
            measures.append(_rate(key, label, counts[index[top]], counts[index[bottom]]))
    return tuple(measures)


def _in_period(ctx: ComputeContext, column) -> ColumnElement[bool]:
    return and_(column >= ctx.start, column < ctx.end)


def _leads(ctx: ComputeContext) -> LeadWhere:
    """Which leads' journeys matter: created in the period (cohort), or touched in it (flow)."""

    def where(lead) -> list[ColumnElement[bool]]:
        conditions = [ctx.owner_in_scope(lead.owner_id), *lead_filters(ctx.filters, lead)]
        if ctx.mode == "cohort":
            return [*conditions, _in_period(ctx, lead.created_at)]
        if ctx.scope.owner_ids is None:
            return [*conditions, lead.lead_id.in_(touched_leads(ctx.start, ctx.end, created=True))]
        touched = was_touched(lead.lead_id, ctx.start, ctx.end, scoped=True)
        return [*conditions, or_(_in_period(ctx, lead.created_at), touched)]

    return where


def stage_counts(ctx: ComputeContext, by: str | None) -> dict[str, list[int]]:
    """Per group key, the count at each configured stage (in ctx.mode); no breakdown gives the one key ''."""
    stages = ctx.settings.funnel.stages
    path = journey(ctx.conn, ctx.settings, _leads(ctx))
    reached = [path.c[reached_column(i)] for i in range(len(stages))]

    if ctx.mode == "flow" and by in TIME_BREAKDOWNS:
        # Each stage's entries fall in their own month/week, so each (bucket, stage) is a column of its own.
        buckets = time_buckets(ctx.period, by)
        columns = [
            func.count(case((and_(r >= b.start_utc, r < b.end_utc), 1))) for b in buckets for r in reached
        ]
        row = ctx.conn.execute(select(*columns).select_from(path)).one()
        n = len(stages)
        return {b.label: list(row[j * n : (j + 1) * n]) for j, b in enumerate(buckets)}

    key = group_key(by, period=ctx.period, owner=path.c.owner_id, lead=path.c, time=path.c.created_at)
    inner = select(key.label("grp"), *reached).select_from(path).subquery("funnel_rows")
    if ctx.mode == "cohort":
        counted = [case((inner.c[reached_column(i)] <= ctx.now_utc, 1)) for i in range(len(stages))]
    else:
        counted = [case((_in_period(ctx, inner.c[reached_column(i)]), 1)) for i in range(len(stages))]
    stmt = select(inner.c.grp, *[func.count(c) for c in counted]).group_by(inner.c.grp)
    return {grp: list(counts) for grp, *counts in ctx.conn.execute(stmt).tuples()}


def _funnel(ctx: ComputeContext) -> Computed:
    stages = ctx.settings.funnel.stages
    groups = stage_counts(ctx, ctx.by)
    totals = [sum(counts[i] for counts in groups.values()) for i in range(len(stages))]
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by is not None:
        zeros = [0] * len(stages)
        rows = breakdown_rows(
            ctx.conn, ctx.by, ctx.period, groups, lambda counts: funnel_measures(stages, counts), empty=zeros
        )
    series = Series("stages", "Funnel", tuple((stage, totals[i]) for i, stage in enumerate(stages)))
    return Computed(measures=funnel_measures(stages, totals), rows=rows, series=(series,))


FUNNEL = MetricDef(
    name="funnel",
    title="Funnel",
    description=(
        "Leads reaching each funnel stage and the conversion from each stage to the next; the headline is "
        "the number of leads, then lead → won overall. Cohort (default): leads created in the period, "
        "counted at every stage they reached by now. Flow: stage entries during the period (leads may be "
        "older); a step rate is entries into the next stage / entries into this one, so it can exceed "
        "100 %. Each lead counts once per stage, at its first entry; a lead that skipped a stage counts as "
        "entering it when it entered the later stage; a linked deal means opportunity (at its creation) "
        "and, once won, won (at its close); lost and disqualified leads keep the stages they reached. "
        "Leads are credited to the lead's owner."
    ),
    compute=_funnel,
    needs=("leads", "lead_stage_events", "deals"),
    breakdowns=("rep", "team", "source", "segment", "campaign", "month", "week"),
    filters=("source", "segment", "campaign"),
    modes=("cohort", "flow"),
    defines=(
        "stage",
        "step",
        "lead_to_won",
        "mql_rate",
        "acceptance_rate",
        "proposal_rate",
    ),
)
