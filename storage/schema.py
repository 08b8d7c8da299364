"""The canonical CRM tables (SPEC section 1) and kpibot's own bookkeeping tables.

Timestamps are stored as naive UTC datetimes on every database, so SQLite and PostgreSQL compare them the same way.
Referential integrity of CRM data is checked by the importer (which reports every bad row) rather than by database
foreign keys, so bulk loads do not depend on table order and a rejected row never aborts a transaction half-way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "User",
    "Team",
    "Lead",
    "LeadStageEvent",
    "Deal",
    "DealStageEvent",
    "Activity",
    "Account",
    "Order",
    "Product",
    "Mrr",
    "Spend",
    "Campaign",
    "EmailList",
    "Plan",
    "Ticket",
    "FxRate",
    "Invite",
    "ChatBinding",
    "ChatAction",
    "HandledRequest",
    "Subscription",
    "OutboxMessage",
    "AlertState",
    "AlertRun",
    "SyncRun",
    "SyncWatermark",
    "SyncRejected",
    "SyncClaim",
    "lead_journeys",
    "lead_journey_dirty",
    "lead_journey_state",
    "lead_stage_spans",
    "deal_stage_spans",
    "deal_span_dirty",
    "JOURNEY_STAGES_MAX",
    "JOURNEY_TABLES",
    "account_months",
    "account_month_dirty",
    "account_month_state",
    "ACCOUNT_MONTH_TABLES",
    "KEPT_TABLES",
    "CRM_TABLES",
    "MONEY",
    "PLAN_METRICS",
    "MONEY_PLAN_METRICS",
    "ImportRun",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(18, 2)
OPEN_ACTIVITY = "coalesce(status, 'planned') NOT IN ('done', 'cancelled')"
"""An activity neither done nor cancelled (a missing status means planned), as SQL the partial index repeats."""
ID = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- CRM tables -------------------------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(16), default="rep")
    team_id: Mapped[str | None] = mapped_column(ID, index=True)
    manager_id: Mapped[str | None] = mapped_column(ID)
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)


class Team(Base):
    __tablename__ = "teams"
    team_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(ID)


class Lead(Base):
    __tablename__ = "leads"
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    owner_id: Mapped[str | None] = mapped_column(ID)
    source: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(ID, index=True)
    segment: Mapped[str | None] = mapped_column(String(64))
    company: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_leads_owner_created", "owner_id", "created_at"),
        Index("ix_leads_created", "created_at"),
    )


class LeadStageEvent(Base):
    __tablename__ = "lead_stage_events"
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    entered_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        # The lead rides along so the period's touched leads (`/sql`, `/funnel … flow`) read the index alone.
        Index("ix_lead_stage_events_stage_entered_lead", "stage", "entered_at", "lead_id"),
        Index("ix_lead_stage_events_owner_entered", "owner_id", "entered_at"),
    )


class Deal(Base):
    __tablename__ = "deals"
    deal_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    product_id: Mapped[str | None] = mapped_column(ID)
    quantity: Mapped[int | None] = mapped_column(Integer)
    lead_id: Mapped[str | None] = mapped_column(ID, index=True)
    account_id: Mapped[str | None] = mapped_column(ID, index=True)
    lost_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_deals_owner_closed", "owner_id", "closed_at"),
        Index("ix_deals_owner_created", "owner_id", "created_at"),
        Index("ix_deals_closed", "closed_at"),
    )


class DealStageEvent(Base):
    __tablename__ = "deal_stage_events"
    deal_id: Mapped[str] = mapped_column(ID, primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    entered_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)

    __table_args__ = (Index("ix_deal_stage_events_entered", "entered_at"),)


class Activity(Base):
    __tablename__ = "activities"
    activity_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID)
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    lead_id: Mapped[str | None] = mapped_column(ID, index=True)
    deal_id: Mapped[str | None] = mapped_column(ID, index=True)
    account_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        # Type and status ride along so the done calls and meetings of a period (`/plan`, its 90 days of "what it
        # takes") read the index alone instead of looking up every activity of the period.
        Index("ix_activities_owner_completed_kind", "owner_id", "completed_at", "type", "status"),
        Index("ix_activities_owner_created", "owner_id", "created_at"),
        # Status rides along so "due in the period" and its completion read the index alone.
        Index("ix_activities_owner_due_status", "owner_id", "due_at", "status"),
        # The organisation's day (digests, an admin's /activity): PostgreSQL cannot skip through the owner-first
        # indexes above the way SQLite does, and would read all activities for one day's.
        Index("ix_activities_completed_kind", "completed_at", "type", "status", "owner_id"),
        Index("ix_activities_created", "created_at"),
        Index("ix_activities_due", "due_at"),
        # "Overdue now" asks only for open activities, a few percent of them: this index holds just those. A query
        # uses it when it states OPEN_ACTIVITY word for word (literal values, not bound parameters).
        Index(
            "ix_activities_open_due",
            "owner_id",
            "due_at",
            "status",
            sqlite_where=text(OPEN_ACTIVITY),
            postgresql_where=text(OPEN_ACTIVITY),
        ),
    )


class Account(Base):
    __tablename__ = "accounts"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    owner_id: Mapped[str | None] = mapped_column(ID, index=True)
    segment: Mapped[str | None] = mapped_column(String(64))
    referred_by: Mapped[str | None] = mapped_column(ID)
    onboarded_at: Mapped[datetime | None] = mapped_column(DateTime)


class Order(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ID)
    ordered_at: Mapped[datetime] = mapped_column(DateTime)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    product_id: Mapped[str | None] = mapped_column(ID)
    quantity: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[str | None] = mapped_column(ID)
    deal_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        Index("ix_orders_account_ordered", "account_id", "ordered_at"),
        Index("ix_orders_ordered", "ordered_at"),
        Index("ix_orders_owner_ordered", "owner_id", "ordered_at"),
    )


class Product(Base):
    __tablename__ = "products"
    product_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64))
    price: Mapped[Decimal | None] = mapped_column(MONEY)


class Mrr(Base):
    __tablename__ = "mrr"
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    mrr: Mapped[Decimal] = mapped_column(MONEY)

    __table_args__ = (Index("ix_mrr_month", "month"),)


class Spend(Base):
    """Costs per day; channel and campaign_id are '' when not given so the natural key stays unique."""

    __tablename__ = "spend"
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True, default="marketing")
    channel: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    campaign_id: Mapped[str] = mapped_column(ID, primary_key=True, default="")
    amount: Mapped[Decimal] = mapped_column(MONEY)


class Campaign(Base):
    __tablename__ = "campaigns"
    campaign_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class EmailList(Base):
    __tablename__ = "email_list"
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    list_id: Mapped[str] = mapped_column(ID, primary_key=True)
    subscribed: Mapped[int] = mapped_column(Integer)
    unsubscribed: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)


PLAN_METRICS = (
    "revenue",
    "deals_won",
    "avg_deal_size",
    "product_units",
    "product_revenue",
    "new_leads",
    "calls",
    "meetings",
    "activities",
)
"""Every metric a plan row may target (SPEC 3.4), in the order replies show them."""

MONEY_PLAN_METRICS = frozenset({"revenue", "avg_deal_size", "product_revenue"})
"""Plan metrics whose targets are money, in the organisation's currency."""


class Plan(Base):
    """A target; scope_id and product_id are '' when not applicable so the natural key stays unique."""

    __tablename__ = "plans"
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # 2026-11, 2026-Q4, 2026
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # user / team / org
    scope_id: Mapped[str] = mapped_column(ID, primary_key=True, default="")
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[str] = mapped_column(ID, primary_key=True, default="")
    target: Mapped[Decimal] = mapped_column(MONEY)


class FxRate(Base):
    """How many units of the organisation's currency one unit of `currency` bought on `date`."""

    __tablename__ = "fx_rates"
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))


class Ticket(Base):
    __tablename__ = "tickets"
    ticket_id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


CRM_TABLES: dict[str, type[Base]] = {
    "teams": Team,
    "users": User,
    "products": Product,
    "campaigns": Campaign,
    "accounts": Account,
    "leads": Lead,
    "lead_stage_events": LeadStageEvent,
    "deals": Deal,
    "deal_stage_events": DealStageEvent,
    "activities": Activity,
    "orders": Order,
    "mrr": Mrr,
    "spend": Spend,
    "email_list": EmailList,
    "plans": Plan,
    "tickets": Ticket,
    "fx_rates": FxRate,
}
"""Every CRM table by its import name, in an order in which foreign keys resolve."""


# --- kpibot's own tables ----------------------------------------------------------------------------------------


class Invite(Base):
    """A one-time code that links a chat account to a CRM user."""

    __tablename__ = "invites"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by: Mapped[str | None] = mapped_column(String(64))  # "telegram:<id>" / "slack:<id>"


class ChatBinding(Base):
    """A group chat or channel bound to a team, so the bot answers there at team level."""

    __tablename__ = "chat_bindings"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ID)
    bound_by: Mapped[str] = mapped_column(ID)
    bound_at: Mapped[datetime] = mapped_column(DateTime)


class ChatAction(Base):
    """A follow-up button's command, kept when it does not fit the platform's button payload (Telegram: 64 bytes);
    the button carries `action_id`, a hash of the command, so the same command is stored once."""

    __tablename__ = "chat_actions"
    action_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    command: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class HandledRequest(Base):
    """A webhook delivery already answered (a hash of Slack's signed request or event id, or of Telegram's update
    id), kept until `expires_at` so that a replay or the platform's retry is not answered twice — by any instance
    behind the load balancer."""

    __tablename__ = "handled_requests"
    request_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_handled_requests_expires_at", "expires_at"),)


class Subscription(Base):
    """A user's own choice about one digest: on or off, and at which local time."""

    __tablename__ = "subscriptions"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    local_time: Mapped[str | None] = mapped_column(String(5))  # HH:MM; None = the digest's default
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxMessage(Base):
    """One outgoing scheduled message; the idempotency key makes it unique per (source, recipient, period)."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # digest / alert
    source: Mapped[str] = mapped_column(String(64))  # digest name or rule id
    recipient: Mapped[str] = mapped_column(String(128))  # user id or chat address
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    # pending / claimed / sent / dead; held (outside the recipient's working hours, until release_at), grouped
    # (released inside one grouped message), superseded (resolved while held, or replaced by a later notice)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    scope_key: Mapped[str | None] = mapped_column(String(128))  # an alert's scope: what a resolve supersedes
    release_at: Mapped[datetime | None] = mapped_column(DateTime)  # when a held message is released

    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_status_release", "status", "release_at"),
    )


class AlertState(Base):
    """The current state of one alert rule for one scope (a team, the org, or one rep)."""

    __tablename__ = "alert_states"
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok / firing
    since: Mapped[datetime | None] = mapped_column(DateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(ID)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_value: Mapped[float | None] = mapped_column(Float)
    # Evaluations in a row whose condition held: the rule fires once they reach its `for`.
    breaches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertRun(Base):
    """One evaluation of one rule for one scope: its value, outcome and any error."""

    __tablename__ = "alert_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    scope_key: Mapped[str] = mapped_column(String(128))
    evaluated_at: Mapped[datetime] = mapped_column(DateTime)
    value: Mapped[float | None] = mapped_column(Float)
    sample: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    # fired / repeated / resolved / quiet / snoozed / skipped / pending / stale / not_permitted / error
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_alert_runs_rule_time", "rule_id", "evaluated_at"),
        UniqueConstraint("rule_id", "scope_key", "evaluated_at"),
    )


# --- CRM syncs (storage/crm/) ----------------------------------------------------------------------------------


class SyncRun(Base):
    """One `kpibot sync` (or scheduled sync) of one CRM: when, how it ended, and per object what it read, wrote,
    rejected and deleted (`objects`, JSON)."""

    __tablename__ = "sync_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # running / ok / failed
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    read: Mapped[int] = mapped_column(Integer, default=0)
    written: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    objects: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sync_runs_crm_started", "crm", "started_at"),)


class SyncWatermark(Base):
    """How far a CRM object has been read: the newest modification stamp whose rows are committed, or (`cursor`)
    an opaque position the CRM handed out, such as a delta link of the deletions since the last read."""

    __tablename__ = "sync_watermarks"
    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    object: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime)
    cursor: Mapped[str | None] = mapped_column(Text)


class SyncClaim(Base):
    """Which instance is syncing a CRM on schedule, until when: the first to claim a due sync runs it, the others
    skip it (a claim whose holder died lapses at `claimed_until`)."""

    __tablename__ = "sync_claims"
    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    claimed_until: Mapped[datetime] = mapped_column(DateTime)


class SyncRejected(Base):
    """A CRM record a sync could not take, and why (the first of each object and run; the run counts them all)."""

    __tablename__ = "sync_rejects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    object: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class ImportRun(Base):
    """One `kpibot import TABLE FILE`: when it ran, which table from which file, its rows, and whether it was
    written (`ok`) or refused (nothing written). The newest `ok` one says how fresh imported data is."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # ok / refused
    read: Mapped[int] = mapped_column(Integer, default=0)
    written: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_import_runs_finished", "finished_at"),)


# --- what kpibot derives from the CRM tables (storage/journeys.py, storage/deal_spans.py keep it) -----------

JOURNEY_STAGES_MAX = 12
"""Funnel stages `lead_journeys` has room for; a longer configured funnel is always worked out live."""

lead_journeys = Table(
    "lead_journeys",
    Base.metadata,
    # Keyed by owner and creation time, so one team's leads of a quarter lie together (SQLite keeps a table
    # without rowid in key order); the lead's own columns come along so a funnel never goes back to `leads`.
    Column("owner_id", ID, primary_key=True),  # '' for a lead without an owner
    Column("created_at", DateTime, primary_key=True),
    Column("lead_id", ID, primary_key=True),
    Column("source", String(64)),
    Column("campaign_id", ID),
    Column("segment", String(64)),
    *(Column(f"reached_{i}", DateTime) for i in range(JOURNEY_STAGES_MAX)),
    Column("closed_at", DateTime),
    Index("ix_lead_journeys_lead", "lead_id", unique=True),
    sqlite_with_rowid=False,
)
"""A lead's owner, creation, source, campaign and segment as in `leads`, when it first reached funnel stage i
(`reached_i`) for the stages in `lead_journey_state`, and when it closed (won, lost or disqualified)."""

lead_journey_dirty = Table(
    "lead_journey_dirty",
    Base.metadata,
    Column("lead_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)
"""Leads changed since their `lead_journeys` row was worked out (marked by triggers)."""

lead_journey_state = Table(
    "lead_journey_state",
    Base.metadata,
    Column("stages", Text, primary_key=True),
)
"""The funnel stages, one per line, that `lead_journeys` was worked out for."""

lead_stage_spans = Table(
    "lead_stage_spans",
    Base.metadata,
    # Keyed by owner and exit, so one team's exits of a quarter lie together, as in `lead_journeys`.
    Column("owner_id", ID, primary_key=True),  # '' for a lead without an owner
    Column("left_at", DateTime, primary_key=True),
    Column("lead_id", ID, primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("entered_at", DateTime, nullable=False),
    Column("days", Float, nullable=False),  # left_at - entered_at in fractional days
    Column("left_by_touch", Boolean, nullable=False),
    Index("ix_lead_stage_spans_lead", "lead_id"),
    # The organisation's exits of a period without going back to the table.
    Index("ix_lead_stage_spans_left", "left_at", "owner_id", "stage", "days", "left_by_touch", "lead_id"),
    sqlite_with_rowid=False,
)
"""Each funnel stage a lead has left: its first entry and the next stage's first entry after it (the lead's
owner as in `leads`), kept with `lead_journeys` for the stages in `lead_journey_state`. `left_by_touch`: the exit
is an event or a deal of the lead, not its creation (which alone does not make a period touch the lead)."""

deal_stage_spans = Table(
    "deal_stage_spans",
    Base.metadata,
    Column("owner_id", ID, primary_key=True),
    Column("left_at", DateTime, primary_key=True),
    Column("deal_id", ID, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("stage", String(64), nullable=False),
    Column("entered_at", DateTime, nullable=False),
    Column("days", Float, nullable=False),  # left_at - entered_at in fractional days
    Index("ix_deal_stage_spans_deal", "deal_id"),
    Index("ix_deal_stage_spans_left", "left_at", "owner_id", "stage", "days", "position"),
    sqlite_with_rowid=False,
)
"""Each stage a deal has left: its stage event (`position` in the deal's time order, from 1) and the next one, with
the deal's owner as in `deals`."""

deal_span_dirty = Table(
    "deal_span_dirty",
    Base.metadata,
    Column("deal_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)
"""Deals changed since their `deal_stage_spans` rows were worked out (marked by triggers)."""

JOURNEY_TABLES = (
    lead_journeys,
    lead_journey_dirty,
    lead_journey_state,
    lead_stage_spans,
    deal_stage_spans,
    deal_span_dirty,
)

account_months = Table(
    "account_months",
    Base.metadata,
    # Keyed by month first, so the organisation's months of a question lie together (SQLite keeps a table without
    # rowid in key order); one account's months are found through the index.
    Column("month", String(7), primary_key=True),  # YYYY-MM in the time zone of `account_month_state`
    Column("account_id", ID, primary_key=True),
    Column("orders", Integer, nullable=False),
    Column("first_at", DateTime, nullable=False),
    Column("last_at", DateTime, nullable=False),
    Column("first_order_at", DateTime, nullable=False),
    # Everything rides along, so a rep's or a team's months are read from the index alone.
    Index(
        "ix_account_months_by_account",
        "account_id",
        "month",
        "first_at",
        "last_at",
        "first_order_at",
        "orders",
    ),
    sqlite_with_rowid=False,
)
"""Per account and calendar month with an order: how many orders, the first and the last of them (naive UTC),
and the account's first order ever (the same on each of its rows)."""

account_month_dirty = Table(
    "account_month_dirty",
    Base.metadata,
    Column("account_id", ID, primary_key=True),
    sqlite_with_rowid=False,
)
"""Accounts whose orders changed since their `account_months` rows were worked out (marked by triggers)."""

account_month_state = Table(
    "account_month_state",
    Base.metadata,
    Column("tz", Text, primary_key=True),
)
"""The time zone whose calendar months `account_months` was worked out in."""

ACCOUNT_MONTH_TABLES = (account_months, account_month_dirty, account_month_state)

KEPT_TABLES = (*JOURNEY_TABLES, *ACCOUNT_MONTH_TABLES)
"""Everything kpibot derives from the CRM tables and keeps: emptied with them."""
