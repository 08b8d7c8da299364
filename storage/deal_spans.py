"""How long a deal stayed in each of its stages: live from `deal_stage_events`, or from the `deal_stage_spans`
table that keeps it.

A deal's stage events in time order (ties by stage name) are its steps; a step lasts until the next one, and a
stage the deal is still in has not been left. The deal's owner is the one in `deals`, and a deal that `deals` does
not hold has no spans. Triggers on `deal_stage_events` and `deals` put the ids of the deals they change into
`deal_span_dirty` (storage/marks.py); a reader takes a marked deal's spans live, and `refresh_deal_spans` (with
the journeys' refresh: after an import, the demo, a CRM sync, at the console's start and every minute in the bot)
works them out again and empties the list. Nothing in the configuration changes a span.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Select,
    Subquery,
    delete,
    func,
    insert,
    select,
    union_all,
)

from storage.marks import Marking, clear_marks, lock_marks
from storage.schema import Deal, DealStageEvent, deal_span_dirty, deal_stage_spans
from storage.times import days_between

__all__ = [
    "DEAL_SPAN_MARKING",
    "SPAN_COLUMNS",
    "SpanWhere",
    "live_deal_spans",
    "deal_spans",
    "refresh_deal_spans",
]

DEAL_SPAN_MARKING = Marking(
    name="span",
    function="deal_span_mark",
    dirty="deal_span_dirty",
    key="deal_id",
    watched={"deal_stage_events": "deal_id, stage, entered_at", "deals": "deal_id, owner_id"},
)
"""The triggers that mark the deals whose spans a change of `deal_stage_events` or `deals` touches."""

SPAN_COLUMNS = ("owner_id", "left_at", "deal_id", "position", "stage", "entered_at", "days")

SpanWhere = Callable[[Any], Sequence[ColumnElement[bool]]]
"""Conditions on a span, given its columns (`deal_stage_spans.c` or the live spans'): those of SPAN_COLUMNS."""


def live_deal_spans(deals: Select | None) -> Select:
    """Every stage left by the deals whose ids `deals` selects (None: every deal), in SPAN_COLUMNS, worked out from
    `deal_stage_events` and `deals`."""
    order = (DealStageEvent.entered_at, DealStageEvent.stage)
    steps = select(
        DealStageEvent.deal_id,
        DealStageEvent.stage,
        DealStageEvent.entered_at,
        func.lead(DealStageEvent.entered_at, type_=DateTime)
        .over(partition_by=DealStageEvent.deal_id, order_by=order)
        .label("left_at"),
        func.row_number().over(partition_by=DealStageEvent.deal_id, order_by=order).label("position"),
    )
    if deals is not None:
        steps = steps.where(DealStageEvent.deal_id.in_(deals))
    step = steps.subquery("deal_steps")
    return (
        select(
            Deal.owner_id,
            step.c.left_at,
            step.c.deal_id,
            step.c.position,
            step.c.stage,
            step.c.entered_at,
            days_between(step.c.entered_at, step.c.left_at).label("days"),
        )
        .select_from(step.join(Deal, Deal.deal_id == step.c.deal_id))
        .where(step.c.left_at.is_not(None))
    )


def deal_spans(conn: Connection, where: SpanWhere) -> Subquery:
    """The spans (SPAN_COLUMNS) meeting `where`: kept ones from `deal_stage_spans`, a marked deal's live."""
    kept = select(*(deal_stage_spans.c[name] for name in SPAN_COLUMNS)).where(*where(deal_stage_spans.c))
    dirty = conn.execute(select(select(deal_span_dirty.c.deal_id).limit(1).exists())).scalar_one()
    if not dirty:
        return kept.subquery("deal_spans")
    waiting = select(deal_span_dirty.c.deal_id)
    live = live_deal_spans(waiting).subquery("live_deal_spans")
    stale_ones = select(*(live.c[name] for name in SPAN_COLUMNS)).where(*where(live.c))
    return union_all(kept.where(deal_stage_spans.c.deal_id.not_in(waiting)), stale_ones).subquery(
        "deal_spans"
    )


def refresh_deal_spans(conn: Connection, *, wait: bool = True) -> int:
    """Bring `deal_stage_spans` up to date in the caller's transaction: the marked deals, or every deal when most
    are marked; how many deals were worked out (see `lock_marks` for `wait`)."""
    if not conn.execute(select(select(deal_span_dirty.c.deal_id).limit(1).exists())).scalar_one():
        return 0
    lock_marks(conn, deal_span_dirty, wait=wait)
    deals = conn.execute(select(func.count()).select_from(Deal)).scalar_one()
    waiting = select(deal_span_dirty.c.deal_id)
    changed = conn.execute(
        select(func.count()).select_from(Deal).where(Deal.deal_id.in_(waiting))
    ).scalar_one()
    ids: Select | None = waiting
    # Past a fifth of the deals, one pass over whole tables beats looking each changed deal up.
    if changed * 5 > deals:
        conn.execute(delete(deal_stage_spans))
        ids, changed = None, deals
    else:
        conn.execute(delete(deal_stage_spans).where(deal_stage_spans.c.deal_id.in_(waiting)))
    # In key order, so PostgreSQL too finds one owner's exits of a period on neighbouring pages.
    rows = live_deal_spans(ids).order_by("owner_id", "left_at")
    conn.execute(insert(deal_stage_spans).from_select(list(SPAN_COLUMNS), rows))
    clear_marks(conn, deal_span_dirty)
    return int(changed)
