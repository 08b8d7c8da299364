"""What a valid row of each CRM table looks like: its columns, required values, codes, references and dates.

Column parsers are derived from `storage.schema` (type, length, nullability, default) and sharpened here where the
SPEC says more (roles, statuses, months, plan periods, time zones). Checks that need the store — references and
exchange rates — are declared here and carried out in batches by `storage.importing.lookup`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, Table

from storage.config.settings import Settings
from storage.importing import values as v
from storage.schema import CRM_TABLES, MONEY_PLAN_METRICS, PLAN_METRICS

__all__ = ["ColumnRule", "Ref", "MoneyRule", "TableRules", "rules_for", "PLAN_METRICS", "MONEY_PLAN_METRICS"]


Problem = tuple[str, str]
"""(column, reason) of one thing wrong with a row."""


@dataclass(frozen=True)
class ColumnRule:
    name: str
    parse: v.Parser
    required: bool
    default: Any


@dataclass(frozen=True)
class Ref:
    """`column` names an id in `target`; with `by`, the target depends on another column (plans.scope)."""

    column: str
    target: str | None = None
    by: str | None = None
    targets: Mapping[str, str] = field(default_factory=dict)

    def target_for(self, row: Mapping[str, Any]) -> str | None:
        return self.targets.get(str(row.get(self.by))) if self.by else self.target


@dataclass(frozen=True)
class MoneyRule:
    """`column` is money; an optional `currency` column converts it at the rate of the row's day."""

    column: str
    day_of: Callable[[Mapping[str, Any], tzinfo], date | None]  # None: the latest known rate
    applies: Callable[[Mapping[str, Any]], bool] = lambda row: True


@dataclass(frozen=True)
class TableRules:
    table: str
    columns: tuple[ColumnRule, ...]
    key: tuple[str, ...]
    refs: tuple[Ref, ...] = ()
    checks: tuple[Callable[[Mapping[str, Any]], list[Problem]], ...] = ()
    money: MoneyRule | None = None
    unique: tuple[str, ...] = ()
    zone: tzinfo = UTC

    @property
    def allowed(self) -> tuple[str, ...]:
        """Column names a file may carry: the table's own, and `currency` on money tables."""
        names = tuple(c.name for c in self.columns)
        return (*names, "currency") if self.money else names

    @property
    def self_refs(self) -> bool:
        return any(ref.target == self.table for ref in self.refs)


def _users(col: str) -> Ref:
    return Ref(col, "users")


_REFS: dict[str, tuple[Ref, ...]] = {
    "users": (Ref("team_id", "teams"), _users("manager_id")),
    # Teams come before the users who belong to them, so a team's manager is not checked against users: teams and
    # users name each other, and one of the two references has to give way for a first import to be possible.
    "teams": (),
    "accounts": (_users("owner_id"), Ref("referred_by", "accounts")),
    "leads": (_users("owner_id"), Ref("campaign_id", "campaigns")),
    "lead_stage_events": (Ref("lead_id", "leads"), _users("owner_id")),
    "deals": (
        _users("owner_id"),
        Ref("product_id", "products"),
        Ref("lead_id", "leads"),
        Ref("account_id", "accounts"),
    ),
    "deal_stage_events": (Ref("deal_id", "deals"),),
    "activities": (
        _users("owner_id"),
        Ref("lead_id", "leads"),
        Ref("deal_id", "deals"),
        Ref("account_id", "accounts"),
    ),
    "orders": (
        Ref("account_id", "accounts"),
        Ref("product_id", "products"),
        _users("owner_id"),
        Ref("deal_id", "deals"),
    ),
    "mrr": (Ref("account_id", "accounts"),),
    "spend": (Ref("campaign_id", "campaigns"),),
    "plans": (
        Ref("scope_id", by="scope", targets={"user": "users", "team": "teams"}),
        Ref("product_id", "products"),
    ),
    "tickets": (Ref("account_id", "accounts"),),
}


def _not_before(later: str, earlier: str, what: str) -> Callable[[Mapping[str, Any]], list[Problem]]:
    def check(row: Mapping[str, Any]) -> list[Problem]:
        if row[later] is not None and row[earlier] is not None and row[later] < row[earlier]:
            return [(later, f"{what} before {earlier} ({row[earlier]:%Y-%m-%d %H:%M} UTC)")]
        return []

    return check


def _deal_status(row: Mapping[str, Any]) -> list[Problem]:
    if row["status"] in ("won", "lost") and row["closed_at"] is None:
        return [("closed_at", f"a {row['status']} deal needs closed_at")]
    if row["status"] == "open" and row["closed_at"] is not None:
        return [("closed_at", "an open deal must not have closed_at (set status to won or lost)")]
    return []


def _plan_scope(row: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if row["scope"] == "org" and row["scope_id"]:
        problems.append(("scope_id", "an org plan has no scope_id"))
    if row["scope"] in ("user", "team") and not row["scope_id"]:
        problems.append(("scope_id", f"a {row['scope']} plan needs scope_id (the {row['scope']}_id)"))
    return problems


_CHECKS: dict[str, tuple[Callable[[Mapping[str, Any]], list[Problem]], ...]] = {
    "deals": (_not_before("closed_at", "created_at", "closed"), _deal_status),
    "activities": (_not_before("completed_at", "created_at", "completed"),),
    "campaigns": (_not_before("ended_at", "started_at", "ended"),),
    "accounts": (_not_before("onboarded_at", "created_at", "onboarded"),),
    "tickets": (_not_before("closed_at", "opened_at", "closed"),),
    "plans": (_plan_scope,),
}


def _local_day(moment_utc: Any, zone: tzinfo) -> date:
    return moment_utc.replace(tzinfo=UTC).astimezone(zone).date()


def _month_end(row: Mapping[str, Any], zone: tzinfo) -> date:
    year, mon = (int(part) for part in row["month"].split("-"))
    return date(year, mon, calendar.monthrange(year, mon)[1])


_MONEY: dict[str, MoneyRule] = {
    "deals": MoneyRule("amount", lambda row, z: _local_day(row["closed_at"] or row["created_at"], z)),
    "orders": MoneyRule("amount", lambda row, z: _local_day(row["ordered_at"], z)),
    "products": MoneyRule("price", lambda row, z: None),
    "mrr": MoneyRule("mrr", _month_end),
    "spend": MoneyRule("amount", lambda row, z: row["date"]),
    # Targets are set ahead of their period, so they convert at the latest known rate.
    "plans": MoneyRule(
        "target", lambda row, z: None, applies=lambda row: row["metric"] in MONEY_PLAN_METRICS
    ),
}


def _special_parsers(settings: Settings) -> dict[str, v.Parser]:
    funnel = settings.funnel
    return {
        "users.role": v.choice(("rep", "manager", "admin")),
        "users.email": v.email,
        "users.timezone": v.time_zone,
        "users.locale": v.choice(("en", "ru")),
        "users.telegram_user_id": v.integer(minimum=1, maximum=2**63 - 1),
        "lead_stage_events.stage": v.choice((*funnel.stages, *funnel.terminal_stages)),
        "deals.status": v.choice(("open", "won", "lost")),
        "activities.type": v.choice(("call", "meeting", "email", "task", "demo", "proposal", "other")),
        "activities.status": v.choice(("planned", "done", "cancelled")),
        "mrr.month": v.month,
        "spend.kind": v.choice(("marketing", "sales")),
        "plans.period": v.plan_period,
        "plans.scope": v.choice(("user", "team", "org")),
        "plans.metric": v.choice(PLAN_METRICS),
        "fx_rates.currency": v.currency_code,
        "fx_rates.rate": v.decimal(scale=8, precision=18, positive=True),
    }


def _parser_for(column: Any, zone: tzinfo) -> v.Parser:
    kind = column.type
    if isinstance(kind, DateTime):
        return v.moment(zone)
    if isinstance(kind, Date):
        return v.day(zone)
    if isinstance(kind, Numeric):
        return v.decimal(scale=kind.scale or 0, precision=kind.precision or 18)
    if isinstance(kind, BigInteger):
        return v.integer(maximum=2**63 - 1)
    if isinstance(kind, Integer):
        return v.integer()
    if isinstance(kind, Boolean):
        return v.boolean
    if isinstance(kind, String):
        return v.text(kind.length or 10_000)
    raise TypeError(f"no import parser for {column.table.name}.{column.name} ({kind})")


def rules_for(table: str, settings: Settings) -> TableRules:
    """The rules for importing `table` under these settings (time zone, funnel stages)."""
    model_table = CRM_TABLES[table].__table__
    assert isinstance(model_table, Table)
    zone: tzinfo = UTC if settings.org.timezone in ("UTC", "Etc/UTC") else settings.org.tz
    special = _special_parsers(settings)
    columns = []
    for column in model_table.columns:
        default = getattr(column.default, "arg", None)
        parse = special.get(f"{table}.{column.name}") or _parser_for(column, zone)
        required = not column.nullable and column.default is None
        columns.append(ColumnRule(column.name, parse, required, default))
    return TableRules(
        table=table,
        columns=tuple(columns),
        key=tuple(c.name for c in model_table.primary_key.columns),
        refs=_REFS.get(table, ()),
        checks=_CHECKS.get(table, ()),
        money=_MONEY.get(table),
        unique=tuple(c.name for c in model_table.columns if c.unique),
        zone=zone,
    )
