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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Engine,
    Select,
    String,
    Subquery,
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

from storage.account_months import refresh_account_months
from storage.config.settings import Settings
from storage.marks import Marks, empty_list, hold_writers
from storage.schema import (
    JOURNEY_STAGES_MAX,
    Deal,
    Lead,
    LeadStageEvent,
    lead_journey_dirty,
    lead_journey_state,
    lead_journeys,
)

__all__ = [
    "OPPORTUNITY",
    "WON",
    "reached_column",
    "stage_entries",
    "live_journey",
    "journey",
    "LeadWhere",
    "refresh_journeys",
    "refresh_store",
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


def refresh_store(engine: Engine, settings: Settings, *, wait: bool = True) -> int:
    """Bring every table kept from the CRM tables up to date (after an import, at start-up, every minute in the
    bot): `refresh_journeys`, then `refresh_account_months`, each in a transaction of its own; how many leads
    were worked out."""
    with engine.begin() as conn:
        leads = refresh_journeys(conn, settings, wait=wait)
    with engine.begin() as conn:
        refresh_account_months(conn, settings, wait=wait)
    return leads


def refresh_journeys(conn: Connection, settings: Settings, *, wait: bool = True) -> int:
    """Bring `lead_journeys` up to date in the caller's transaction: the waiting leads, or every lead when the
    stages changed or most leads are waiting; how many leads were worked out.

    Without `wait`, a writer still marking leads (an import in progress) makes PostgreSQL refuse at once with
    `OperationalError` instead of waiting for it to commit.
    """
    if len(settings.funnel.stages) > JOURNEY_STAGES_MAX:
        return 0  # more stages than the table has columns: readers always take the live journey
    current, dirty = journeys_current(conn, settings)
    if current and not dirty:
        return 0
    hold_writers(conn, lead_journey_dirty, wait=wait)
    leads = conn.execute(select(func.count()).select_from(Lead)).scalar_one()
    waiting = select(lead_journey_dirty.c.lead_id)
    changed = conn.execute(
        select(func.count()).select_from(Lead).where(Lead.lead_id.in_(waiting))
    ).scalar_one()
    where: list[ColumnElement[bool]] | None = [Lead.lead_id.in_(waiting)]
    # Past a fifth of the leads, one pass over whole tables beats looking each changed lead up.
    if not current or changed * 5 > leads:
        conn.execute(delete(lead_journeys))
        conn.execute(delete(lead_journey_state))
        conn.execute(insert(lead_journey_state).values(stages=_stages_key(settings)))
        where, changed = None, leads
    else:
        conn.execute(delete(lead_journeys).where(lead_journeys.c.lead_id.in_(waiting)))
    # In key order, so PostgreSQL too finds one owner's leads of a period on neighbouring pages.
    rows = _live_rows(settings, where).order_by("owner_id", "created_at")
    conn.execute(insert(lead_journeys).from_select([c.name for c in rows.selected_columns], rows))
    empty_list(conn, lead_journey_dirty)
    return int(changed)


JOURNEY_MARKS = Marks(
    name="journey",
    dirty="lead_journey_dirty",
    key="lead_id",
    watched={
        "leads": "lead_id, created_at, owner_id, source, campaign_id, segment",
        "lead_stage_events": "lead_id, stage, entered_at",
        "deals": "lead_id, created_at, closed_at, status",
    },
)
"""The leads `leads`, `lead_stage_events` and `deals` change, with the columns a journey reads."""


def trigger_ddl(dialect: str) -> list[str]:
    """The statements that make `leads`, `lead_stage_events` and `deals` mark the leads they change."""
    return JOURNEY_MARKS.trigger_ddl(dialect)


def drop_trigger_ddl(dialect: str) -> list[str]:
    """The statements that undo `trigger_ddl`."""
    return JOURNEY_MARKS.drop_trigger_ddl(dialect)
