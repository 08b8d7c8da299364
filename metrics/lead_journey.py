"""A lead's way through the funnel, in SQL: when it first reached each configured stage, and when it closed.

The rules (SPEC section 1) in one place, so `/funnel`, `/sql` and `/winrate` count the same way:
- a lead enters the first stage (`lead`) at its `created_at`, with or without an event;
- it reaches `opportunity` when a deal links to it (the deal's `created_at`) and `won` when a linked deal is won
  (its `closed_at`), or by its own events, whichever comes first;
- a lead that reached a later stage has passed every earlier one: a skipped stage counts as entered when the
  first later stage was entered;
- `lost` and `disqualified` are not stages: a lead keeps every stage it reached before it was lost.
Each lead counts once per stage, at its first entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    union_all,
)

from storage.config import Settings
from storage.schema import Deal, Lead, LeadStageEvent

__all__ = [
    "OPPORTUNITY",
    "WON",
    "reached_column",
    "touched_leads",
    "was_touched",
    "stage_entries",
    "journey",
    "closings",
]

OPPORTUNITY = "opportunity"
WON = "won"


def reached_column(index: int) -> str:
    """The name of the journey column holding when a lead first reached stage number `index` (or NULL)."""
    return f"reached_{index}"


def _as_stage(name: str):
    return cast(literal(name), String)


def touched_leads(start: datetime, end: datetime, *, created: bool = False) -> CompoundSelect:
    """Ids of the leads with a stage event, a linked deal created or a linked deal closed in `[start, end)`; with
    `created`, also those created in it (one union: PostgreSQL cannot hash `created … OR lead_id IN (…)` and
    falls back to running the subquery for every lead)."""
    extra = [select(Lead.lead_id).where(Lead.created_at >= start, Lead.created_at < end)] if created else []
    return union(
        *extra,
        select(LeadStageEvent.lead_id).where(
            LeadStageEvent.entered_at >= start, LeadStageEvent.entered_at < end
        ),
        select(Deal.lead_id).where(
            Deal.lead_id.is_not(None),
            or_(
                and_(Deal.created_at >= start, Deal.created_at < end),
                and_(Deal.closed_at >= start, Deal.closed_at < end),
            ),
        ),
    )


def was_touched(lead_id: Any, start: datetime, end: datetime, *, scoped: bool) -> ColumnElement[bool]:
    """Whether the lead `lead_id` was touched in `[start, end)`, as `touched_leads` counts it.

    For a rep's or a team's leads (`scoped`) each lead is looked up by its id, which reads only their events; for
    the whole organisation the touched leads of the period are gathered once, which reads only the period's.
    """
    if not scoped:
        return lead_id.in_(touched_leads(start, end))
    by_event = exists(
        select(literal(1)).where(
            LeadStageEvent.lead_id == lead_id,
            LeadStageEvent.entered_at >= start,
            LeadStageEvent.entered_at < end,
        )
    )
    by_deal = exists(
        select(literal(1)).where(
            Deal.lead_id == lead_id,
            or_(
                and_(Deal.created_at >= start, Deal.created_at < end),
                and_(Deal.closed_at >= start, Deal.closed_at < end),
            ),
        )
    )
    return or_(by_event, by_deal)


def stage_entries(settings: Settings, leads: CTE, *, every_event: bool = False) -> CompoundSelect:
    """Every stage entry (`lead_id`, `stage`, `entered_at`) of the leads in `leads`: their events, their creation
    and what their deals imply. Events of other stages (lost, disqualified) only with `every_event`."""
    stages = settings.funnel.stages
    ids = select(leads.c.lead_id)
    events = select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at).where(
        LeadStageEvent.lead_id.in_(ids)
    )
    parts = [
        events if every_event else events.where(LeadStageEvent.stage.in_(stages)),
        select(Lead.lead_id, _as_stage(stages[0]), Lead.created_at).where(Lead.lead_id.in_(ids)),
    ]
    if OPPORTUNITY in stages:
        parts.append(
            select(Deal.lead_id, _as_stage(OPPORTUNITY), Deal.created_at).where(Deal.lead_id.in_(ids))
        )
    if WON in stages:
        parts.append(
            select(Deal.lead_id, _as_stage(WON), Deal.closed_at).where(
                Deal.lead_id.in_(ids), Deal.status == "won", Deal.closed_at.is_not(None)
            )
        )
    return union_all(*parts)


def journey(settings: Settings, leads: Select) -> Subquery:
    """Per lead of `leads` (a select of lead ids): `lead_id` and `reached_<i>` for each configured stage i.

    `reached_<i>` is the earliest entry into stage i or any later stage, so skipped stages are filled in — except
    the first stage, which a lead enters when it is created (or by an event of that stage), never earlier because
    the CRM dated a later stage before the lead existed.
    """
    stages = settings.funnel.stages
    entries = stage_entries(settings, leads.cte("journey_leads")).subquery("stage_entries")
    columns = [
        func.min(case((entries.c.stage.in_(stages[i:] if i else stages[:1]), entries.c.entered_at))).label(
            reached_column(i)
        )
        for i in range(len(stages))
    ]
    return select(entries.c.lead_id, *columns).group_by(entries.c.lead_id).subquery("journey")


def closings(settings: Settings, leads: Select) -> Subquery:
    """Per lead of `leads` that has closed: `lead_id` and `closed_at`, the first of its won, lost or disqualified
    events and the closing (won or lost) of a deal linked to it."""
    closers = (*settings.funnel.terminal_stages, WON)
    scoped = leads.cte("closing_leads")
    ids = select(scoped.c.lead_id)
    ends = union_all(
        select(LeadStageEvent.lead_id, LeadStageEvent.entered_at.label("closed_at")).where(
            LeadStageEvent.lead_id.in_(ids), LeadStageEvent.stage.in_(closers)
        ),
        select(Deal.lead_id, Deal.closed_at).where(
            Deal.lead_id.in_(ids), Deal.status.in_(("won", "lost")), Deal.closed_at.is_not(None)
        ),
    ).subquery("lead_ends")
    return (
        select(ends.c.lead_id, func.min(ends.c.closed_at).label("closed_at"))
        .group_by(ends.c.lead_id)
        .subquery("closings")
    )
