"""Which leads a period touched: the lead-level question beside the journey itself (storage/journeys.py, which
holds the funnel rules of SPEC section 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    and_,
    exists,
    literal,
    or_,
    select,
    union,
)

from storage.schema import Deal, Lead, LeadStageEvent

__all__ = ["touched_leads", "was_touched"]


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
