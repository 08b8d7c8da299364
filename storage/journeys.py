"""A lead's way through the funnel: when it first reached each configured stage, live from the CRM tables or from
the `lead_journeys` table that keeps it.

The rules (SPEC section 1) in one place, so `/funnel`, `/sql`, `/winrate` and the digests count the same way:
- a lead enters the first stage (`lead`) at its `created_at`, with or without an event;
- it reaches `opportunity` when a deal links to it (the deal's `created_at`) and `won` when a linked deal is won
  (its `closed_at`), or by its own events, whichever comes first;
- a lead that reached a later stage has passed every earlier one: a skipped stage counts as entered when the
  first later stage was entered;
- `lost` and `disqualified` are not stages: a lead keeps every stage it reached before it was lost.
Each lead counts once per stage, at its first entry.

Working a journey out means gathering every event and deal of every lead asked about, which for a team's quarter
is a hundred thousand rows; `lead_journeys` holds the answer, one row per lead, with when the lead closed (won,
lost or disqualified). It is kept without trusting every writer: triggers on `leads`, `lead_stage_events` and
`deals` (whoever writes to them: the importer, the demo, a CRM sync, a hand-made fix) put the ids of the leads
they change into `lead_journey_dirty`. A reader takes a dirty lead's journey live, so answers are always those of
the CRM tables as they are; `refresh_journeys` (after `kpibot import`, after the demo, at the console's start and
every minute in the bot's scheduler) recomputes the dirty leads and empties the list. The table answers for one
list of stages and terminal stages, recorded in `lead_journey_state`; under any other configuration readers take
every journey live until the next refresh rebuilds the table.

`lead_stage_spans` is kept alongside, by the same marks, refresh and recorded stages: one row per funnel stage a
lead has left, from its first entry to the next stage's first entry (what `/stages` measures). The deals' own
stages are kept the same way in storage/deal_spans.py, and `refresh_kept` brings all of them up to date.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Select,
    String,
    Subquery,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
)

from storage.account_months import ACCOUNT_MONTH_SOURCES, refresh_account_months
from storage.config.settings import Settings
from storage.deal_spans import refresh_deal_spans
from storage.marks import Marking, clear_marks, lock_marks
from storage.schema import (
    JOURNEY_STAGES_MAX,
    Deal,
    Lead,
    LeadStageEvent,
    lead_journey_dirty,
    lead_journey_state,
    lead_journeys,
    lead_stage_spans,
)
from storage.times import days_between

__all__ = [
    "OPPORTUNITY",
    "WON",
    "reached_column",
    "stage_entries",
    "live_journey",
    "journey",
    "LeadWhere",
    "refresh_journeys",
    "refresh_kept",
    "refresh_store",
    "LEAD_SPAN_COLUMNS",
    "SpanWhere",
    "live_lead_spans",
    "lead_spans",
    "JOURNEY_MARKING",
    "KEPT_SOURCES",
    "journeys_current",
    "trigger_ddl",
    "drop_trigger_ddl",
    "JOURNEY_SOURCES",
]

OPPORTUNITY = "opportunity"
WON = "won"
LEAD_COLUMNS = ("source", "campaign_id", "segment")
JOURNEY_SOURCES = ("leads", "lead_stage_events", "deals")
"""The CRM tables a journey is worked out from."""
KEPT_SOURCES = (*JOURNEY_SOURCES, "deal_stage_events", *ACCOUNT_MONTH_SOURCES)
"""The CRM tables any kept table (journeys, stage spans, account months) is worked out from: a write to one calls
for a refresh."""


def reached_column(index: int) -> str:
    """The name of the journey column holding when a lead first reached stage number `index` (or NULL)."""
    return f"reached_{index}"


def _as_stage(name: str):
    return cast(literal(name), String)


def stage_entries(settings: Settings, leads: Select | None, *, every_event: bool = False) -> CompoundSelect:
    """Every stage entry (`lead_id`, `stage`, `entered_at`) of the leads whose ids `leads` selects (None: every
    lead): their events, their creation and what their deals imply. Events of other stages (lost, disqualified)
    only with `every_event`."""
    stages = settings.funnel.stages

    def of_leads(column) -> list[ColumnElement[bool]]:
        return [] if leads is None else [column.in_(leads)]

    events = select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at).where(
        *of_leads(LeadStageEvent.lead_id)
    )
    parts = [
        events if every_event else events.where(LeadStageEvent.stage.in_(stages)),
        select(Lead.lead_id, _as_stage(stages[0]), Lead.created_at).where(*of_leads(Lead.lead_id)),
    ]
    if OPPORTUNITY in stages:
        parts.append(
            select(Deal.lead_id, _as_stage(OPPORTUNITY), Deal.created_at).where(
                Deal.lead_id.is_not(None), *of_leads(Deal.lead_id)
            )
        )
    if WON in stages:
        parts.append(
            select(Deal.lead_id, _as_stage(WON), Deal.closed_at).where(
                Deal.lead_id.is_not(None),
                *of_leads(Deal.lead_id),
                Deal.status == "won",
                Deal.closed_at.is_not(None),
            )
        )
    return union_all(*parts)


def _closing_entries(settings: Settings, leads: Select | None) -> CompoundSelect:
    """(`lead_id`, `closed_at`) for every way a lead of `leads` (None: every lead) closes: an event of a terminal
    stage or `won`, or a linked deal won or lost."""
    closers = (*settings.funnel.terminal_stages, WON)
    events = select(LeadStageEvent.lead_id, LeadStageEvent.entered_at).where(
        LeadStageEvent.stage.in_(closers)
    )
    deals = select(Deal.lead_id, Deal.closed_at).where(
        Deal.lead_id.is_not(None), Deal.status.in_(("won", "lost")), Deal.closed_at.is_not(None)
    )
    if leads is not None:
        events = events.where(LeadStageEvent.lead_id.in_(leads))
        deals = deals.where(Deal.lead_id.in_(leads))
    return union_all(events, deals)


def _live_reached(settings: Settings, leads: Select | None) -> Select:
    stages = settings.funnel.stages
    ids = None if leads is None else select(leads.cte("journey_leads").c.lead_id)
    reaching = stage_entries(settings, ids).subquery("stage_entries")
    closing = _closing_entries(settings, ids).subquery("closing_entries")
    entries = union_all(
        select(
            reaching.c.lead_id, reaching.c.stage, reaching.c.entered_at, literal_column("0").label("closes")
        ),
        select(closing.c.lead_id, _as_stage(""), closing.c.entered_at, literal_column("1")),
    ).subquery("entries")
    reaches = entries.c.closes == 0
    columns = [
        func.min(
            case((and_(reaches, entries.c.stage.in_(stages[i:] if i else stages[:1])), entries.c.entered_at))
        ).label(reached_column(i))
        for i in range(len(stages))
    ]
    closed_at = func.min(case((entries.c.closes == 1, entries.c.entered_at))).label("closed_at")
    return select(entries.c.lead_id, *columns, closed_at).group_by(entries.c.lead_id)


def live_journey(settings: Settings, leads: Select) -> Subquery:
    """Per lead of `leads` (a select of lead ids): `lead_id`, `reached_<i>` for each configured stage i and
    `closed_at`, worked out from the CRM tables.

    `reached_<i>` is the earliest entry into stage i or any later stage, so skipped stages are filled in — except
    the first stage, which a lead enters when it is created (or by an event of that stage), never earlier because
    the CRM dated a later stage before the lead existed.
    """
    return _live_reached(settings, leads).subquery("journey")


def _live_rows(settings: Settings, where: Sequence[ColumnElement[bool]] | None) -> Select:
    """The rows of `lead_journeys` for the leads meeting `where` (on `leads`; None: every lead), worked out from
    the CRM tables."""
    ids = None if where is None else select(Lead.lead_id).where(*where)
    reached = _live_reached(settings, ids).subquery("journey")
    return select(
        func.coalesce(Lead.owner_id, "").label("owner_id"),
        *(Lead.__table__.c[name] for name in ("created_at", "lead_id", *LEAD_COLUMNS)),
        *(reached.c[reached_column(i)] for i in range(len(settings.funnel.stages))),
        reached.c.closed_at,
    ).join(reached, reached.c.lead_id == Lead.lead_id)


LEAD_SPAN_COLUMNS = ("owner_id", "left_at", "lead_id", "stage", "entered_at", "days", "left_by_touch")

SpanWhere = Callable[[Any], Sequence[ColumnElement[bool]]]
"""Conditions on a lead's stage span, given its columns (`lead_stage_spans.c` or the live spans'): those of
LEAD_SPAN_COLUMNS."""


def live_lead_spans(settings: Settings, leads: Select | None) -> Select:
    """Every funnel stage left by the leads whose ids `leads` selects (None: every lead), in LEAD_SPAN_COLUMNS,
    worked out from the CRM tables.

    A stage lasts from its first entry to the next first entry of any stage in time order (ties in funnel
    order): a lost or disqualified event also ends the stage before it. A lead's creation enters the first stage
    and a linked deal enters opportunity and won, as in the journey.
    """
    stages = settings.funnel.stages
    ids = None if leads is None else select(leads.cte("span_leads").c.lead_id)
    entries = stage_entries(settings, ids, every_event=True).subquery("entries")
    firsts = (
        select(entries.c.lead_id, entries.c.stage, func.min(entries.c.entered_at).label("entered_at"))
        .group_by(entries.c.lead_id, entries.c.stage)
        .subquery("first_entries")
    )
    funnel_order = case({s: i for i, s in enumerate(stages)}, value=firsts.c.stage, else_=len(stages))
    step = select(
        firsts.c.lead_id,
        firsts.c.stage,
        firsts.c.entered_at,
        func.lead(firsts.c.entered_at, type_=DateTime)
        .over(partition_by=firsts.c.lead_id, order_by=(firsts.c.entered_at, funnel_order))
        .label("left_at"),
    ).subquery("lead_steps")
    return (
        select(
            func.coalesce(Lead.owner_id, "").label("owner_id"),
            step.c.left_at,
            step.c.lead_id,
            step.c.stage,
            step.c.entered_at,
            days_between(step.c.entered_at, step.c.left_at).label("days"),
            # Any first entry but the creation is an event or a deal of the lead at that moment.
            (step.c.left_at != Lead.created_at).label("left_by_touch"),
        )
        .select_from(step.join(Lead, Lead.lead_id == step.c.lead_id))
        .where(step.c.left_at.is_not(None), step.c.stage.in_(stages))
    )


def lead_spans(conn: Connection, settings: Settings, where: SpanWhere, leads: Select) -> Subquery:
    """The leads' stage spans (LEAD_SPAN_COLUMNS) meeting `where`: from `lead_stage_spans` where it is current, a
    marked lead's live; `leads` (a select of ids from `leads`) bounds the ones worked out live."""
    current, dirty = journeys_current(conn, settings)
    columns = list(LEAD_SPAN_COLUMNS)
    if not current:
        everyone = live_lead_spans(settings, leads).subquery("live_lead_spans")
        return select(*(everyone.c[n] for n in columns)).where(*where(everyone.c)).subquery("lead_spans")
    kept = select(*(lead_stage_spans.c[n] for n in columns)).where(*where(lead_stage_spans.c))
    if not dirty:
        return kept.subquery("lead_spans")
    waiting = select(lead_journey_dirty.c.lead_id)
    live = live_lead_spans(settings, leads.where(Lead.lead_id.in_(waiting))).subquery("live_lead_spans")
    stale_ones = select(*(live.c[n] for n in columns)).where(*where(live.c))
    return union_all(kept.where(lead_stage_spans.c.lead_id.not_in(waiting)), stale_ones).subquery(
        "lead_spans"
    )


def _stages_key(settings: Settings) -> str:
    """The configuration a kept journey depends on: the stages in order, then the terminal stages."""
    return "\n".join((*settings.funnel.stages, "--", *settings.funnel.terminal_stages))


def journeys_current(conn: Connection, settings: Settings) -> tuple[bool, bool]:
    """(whether `lead_journeys` answers for the configured stages, whether any lead is waiting to be refreshed)."""
    key, dirty = conn.execute(
        select(
            select(lead_journey_state.c.stages).scalar_subquery(),
            select(lead_journey_dirty.c.lead_id).limit(1).exists(),
        )
    ).one()
    return key == _stages_key(settings), bool(dirty)


LeadWhere = Callable[[Any], Sequence[ColumnElement[bool]]]
"""Conditions on a lead, given the columns to put them on (`Lead` or `lead_journeys.c`): owner_id, created_at,
lead_id, source, campaign_id, segment."""


def journey(conn: Connection, settings: Settings, where: LeadWhere) -> Subquery:
    """Per lead meeting `where`: `lead_id`, `owner_id` ('' when none), `created_at`, `source`, `campaign_id`,
    `segment`, `reached_<i>` for each configured stage i and `closed_at` (its first won, lost or disqualified event,
    or the close of a linked deal won or lost; NULL while open), from `lead_journeys` where it is current and worked out
    live where it is not."""
    current, dirty = journeys_current(conn, settings)
    if not current:
        return _live_rows(settings, where(Lead)).subquery("journey")
    kept = [
        *(lead_journeys.c[name] for name in ("owner_id", "created_at", "lead_id", *LEAD_COLUMNS)),
        *(lead_journeys.c[reached_column(i)] for i in range(len(settings.funnel.stages))),
        lead_journeys.c.closed_at,
    ]
    fresh = select(*kept).where(*where(lead_journeys.c))
    if not dirty:
        return fresh.subquery("journey")
    waiting = select(lead_journey_dirty.c.lead_id)
    stale_ones = _live_rows(settings, [*where(Lead), Lead.lead_id.in_(waiting)])
    return union_all(fresh.where(lead_journeys.c.lead_id.not_in(waiting)), stale_ones).subquery("journey")


# SQLite has one writer: a refresh holds its write lock until it commits. With more leads than this waiting (a
# million-lead import), `refresh_store` works them out this many at a time, each slice its own transaction, so the
# bot's and the scheduler's writes get in between; readers take a lead still waiting live meanwhile.
SQLITE_SLICE = 50_000


def refresh_store(engine: Engine, settings: Settings, *, wait: bool = True) -> int:
    """Bring every table kept from the CRM tables up to date (after an import, at start-up, every minute in the
    bot): the journeys with the leads' stage spans and the deals' stage spans in one transaction (on SQLite the
    journeys in slices of `SQLITE_SLICE` leads when more wait), then the account months in one of their own (an
    orders import still writing holds back only them); how many leads were worked out."""
    leads = 0
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            current, dirty = journeys_current(conn, settings)
            waiting = (
                conn.execute(select(func.count()).select_from(lead_journey_dirty)).scalar_one()
                if current and dirty
                else 0
            )
        # The slices there are now, and no more: marks made meanwhile wait for the next refresh.
        for _ in range(math.ceil(waiting / SQLITE_SLICE) if waiting > SQLITE_SLICE else 0):
            with engine.begin() as conn:
                leads += refresh_journeys(conn, settings, wait=wait, at_most=SQLITE_SLICE)
    with engine.begin() as conn:
        leads += refresh_journeys(conn, settings, wait=wait)
        refresh_deal_spans(conn, wait=wait)
    with engine.begin() as conn:
        refresh_account_months(conn, settings, wait=wait)
    return leads


def refresh_kept(conn: Connection, settings: Settings, *, wait: bool = True) -> int:
    """`refresh_store` in the caller's transaction (the demo's): the journeys with the leads' stage spans, the
    deals' stage spans and the account months; how many leads were worked out."""
    leads = refresh_journeys(conn, settings, wait=wait)
    refresh_deal_spans(conn, wait=wait)
    refresh_account_months(conn, settings, wait=wait)
    return leads


def refresh_journeys(
    conn: Connection, settings: Settings, *, wait: bool = True, at_most: int | None = None
) -> int:
    """Bring `lead_journeys` and `lead_stage_spans` up to date in the caller's transaction: the waiting leads, or
    every lead when the stages changed or most leads are waiting; how many leads were worked out. `at_most`: only
    that many of the waiting leads (the lowest ids), their marks cleared and the others' kept, while the stages
    are unchanged.

    Without `wait`, a writer still marking leads (an import in progress) makes PostgreSQL refuse at once with
    `OperationalError` instead of waiting for it to commit.
    """
    if len(settings.funnel.stages) > JOURNEY_STAGES_MAX:
        return 0  # more stages than the table has columns: readers always take the live journey
    current, dirty = journeys_current(conn, settings)
    if current and not dirty:
        return 0
    lock_marks(conn, lead_journey_dirty, wait=wait)
    leads = conn.execute(select(func.count()).select_from(Lead)).scalar_one()
    sliced = at_most is not None and current
    if sliced:
        conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS journey_slice (lead_id VARCHAR PRIMARY KEY)")
        conn.execute(delete(_journey_slice))
        conn.execute(
            insert(_journey_slice).from_select(
                ["lead_id"],
                select(lead_journey_dirty.c.lead_id).order_by(lead_journey_dirty.c.lead_id).limit(at_most),
            )
        )
    waiting = select((_journey_slice if sliced else lead_journey_dirty).c.lead_id)
    changed = conn.execute(
        select(func.count()).select_from(Lead).where(Lead.lead_id.in_(waiting))
    ).scalar_one()
    where: list[ColumnElement[bool]] | None = [Lead.lead_id.in_(waiting)]
    # Past a fifth of the leads, one pass over whole tables beats looking each changed lead up.
    if not sliced and (not current or changed * 5 > leads):
        conn.execute(delete(lead_journeys))
        conn.execute(delete(lead_stage_spans))
        conn.execute(delete(lead_journey_state))
        conn.execute(insert(lead_journey_state).values(stages=_stages_key(settings)))
        where, changed = None, leads
    else:
        conn.execute(delete(lead_journeys).where(lead_journeys.c.lead_id.in_(waiting)))
        conn.execute(delete(lead_stage_spans).where(lead_stage_spans.c.lead_id.in_(waiting)))
    # In key order, so PostgreSQL too finds one owner's leads of a period on neighbouring pages.
    rows = _live_rows(settings, where).order_by("owner_id", "created_at")
    conn.execute(insert(lead_journeys).from_select([c.name for c in rows.selected_columns], rows))
    spans = live_lead_spans(settings, None if where is None else waiting).order_by("owner_id", "left_at")
    conn.execute(insert(lead_stage_spans).from_select(list(LEAD_SPAN_COLUMNS), spans))
    if sliced:
        conn.execute(delete(lead_journey_dirty).where(lead_journey_dirty.c.lead_id.in_(waiting)))
        conn.execute(delete(_journey_slice))
    else:
        clear_marks(conn, lead_journey_dirty)
    return int(changed)


# The waiting leads one slice works out: a temporary table (SQLite's, this connection's own), made when first used.
_journey_slice = Table("journey_slice", MetaData(), Column("lead_id", String, primary_key=True))


JOURNEY_MARKING = Marking(
    name="journey",
    function="lead_journey_mark",
    dirty="lead_journey_dirty",
    key="lead_id",
    watched={
        "leads": "lead_id, created_at, owner_id, source, campaign_id, segment",
        "lead_stage_events": "lead_id, stage, entered_at",
        "deals": "lead_id, created_at, closed_at, status",
    },
)
"""The triggers that mark the leads whose journey (and stage spans) a change of the CRM tables touches."""


def trigger_ddl(dialect: str) -> list[str]:
    """The statements that make `leads`, `lead_stage_events` and `deals` mark the leads they change."""
    return JOURNEY_MARKING.trigger_ddl(dialect)


def drop_trigger_ddl(dialect: str) -> list[str]:
    """The statements that undo `trigger_ddl`."""
    return JOURNEY_MARKING.drop_trigger_ddl(dialect)
