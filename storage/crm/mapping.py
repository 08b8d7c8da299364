"""The one mapping layer: how a CRM object becomes rows of kpibot's canonical tables.

An `ObjectMap` is data: the CRM object, the canonical table, which CRM field fills which column (`fields`), the
stamp its watermark follows, and — for what a field rename cannot say — a `derive` function that adds computed
columns (a deal's status from IsWon/IsClosed) or drops a record (a history row of another field). A team's
`kpibot.yaml` overrides field names and picklist values (`crm.<name>.fields`, `crm.<name>.lead_stages`); a name
that is not a column of the table, or a stage that is not a funnel stage, is refused at start, naming the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from storage.config.crm import CrmOverrides
from storage.config.settings import Settings
from storage.schema import CRM_TABLES

__all__ = [
    "CrmMapping",
    "CrmRecord",
    "Derive",
    "MapContext",
    "ObjectMap",
    "Skip",
    "apply_overrides",
    "stage_names",
]

CrmRecord = Mapping[str, Any]


class Skip(Exception):
    """A record that is not a row of the table (a history row of another field); not an error."""


# (record, the row mapped so far, the sync's context) -> the row with computed columns; raise Skip to drop the
# record, ValueError to reject it with that reason.
Derive = Callable[[CrmRecord, dict[str, Any], "MapContext"], dict[str, Any]]


@dataclass
class MapContext:
    """What mapping a record may need beyond the record: the lead-stage picklist, the sync's moment, and the
    conversions seen so far in this sync (CRM opportunity id -> the lead converted into it)."""

    crm: str
    lead_stage_field: str
    lead_stages: Mapping[str, str]
    now: datetime
    conversions: dict[str, str] = field(default_factory=dict)

    def lead_stage(self, value: Any) -> str:
        """The funnel stage a lead-status value maps to (an empty status looks up `""`); a ValueError naming the
        setting that maps it when it maps to none."""
        stage = self.lead_stages.get("" if value is None else str(value))
        if stage is None:
            raise ValueError(
                f"lead status {value!r} is not mapped to a funnel stage (crm.{self.crm}.lead_stages in kpibot.yaml)"
            )
        return stage


@dataclass(frozen=True)
class ObjectMap:
    """One CRM object → one canonical table (an object may feed two tables: a lead and its current stage)."""

    object: str
    table: str
    fields: Mapping[str, str]  # canonical column -> CRM field
    stamp: str  # the CRM field the watermark follows (its modification stamp)
    id_field: str = "Id"
    extra: tuple[str, ...] = ()  # CRM fields `derive` reads besides `fields`
    derive: Derive | None = None
    deletes: bool = True  # a record deleted in the CRM is deleted here
    deleted_field: str = "IsDeleted"  # the CRM field that marks a deleted record (true when deleted)
    first_entry_only: bool = False  # stage events: keep a (lead, stage) only when none is stored yet
    collapse_repeats: bool = False  # stage events: drop a row whose stage repeats the deal's previous one
    always_full: bool = False  # read whole every time (users: teams and roles follow from all of them)

    @property
    def key(self) -> str:
        """The watermark's name: `Lead>leads` (an object may feed two tables, each read to its own mark)."""
        return f"{self.object}>{self.table}"

    @property
    def read(self) -> tuple[str, ...]:
        """Every CRM field to ask for, each once, the id first."""
        names = [self.id_field, *self.fields.values(), *self.extra, self.stamp]
        return tuple(dict.fromkeys(names))

    def row(self, record: CrmRecord, ctx: MapContext) -> dict[str, Any]:
        """The canonical row of `record` (raises Skip or ValueError)."""
        row = {column: record.get(crm_field) for column, crm_field in self.fields.items()}
        return self.derive(record, row, ctx) if self.derive else row


@dataclass(frozen=True)
class CrmMapping:
    """A CRM's whole mapping: its objects in the order they are synced, and its lead-stage picklist."""

    crm: str
    objects: tuple[ObjectMap, ...]
    lead_stage_field: str
    lead_stages: Mapping[str, str]


def parse_moment(value: Any) -> datetime | None:
    """A CRM's moment (`2026-11-01T09:30:00.000+0000`, `…Z`, `2026-11-01T09:30:00+01:00`) → an aware datetime, its
    offset kept; without one it is UTC; a date → its midnight (UTC); empty → None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stage_names(settings: Settings) -> tuple[str, ...]:
    """The stages a CRM lead status may map to: the funnel's stages and its terminal ones."""
    return (*settings.funnel.stages, *settings.funnel.terminal_stages)


def apply_overrides(mapping: CrmMapping, overrides: CrmOverrides, settings: Settings) -> CrmMapping:
    """The mapping with the team's `crm.<name>` overrides; a wrong key is a ValueError naming it.

    `fields.<Object>` changes the object's first map (a Lead's fields are the lead's; its current stage follows the
    stage field, `lead_stage_field`)."""
    prefix = f"crm.{mapping.crm}"
    primary: dict[str, int] = {}
    for index, mapped in enumerate(mapping.objects):
        primary.setdefault(mapped.object, index)
    objects = list(mapping.objects)
    for object_name, fields in overrides.fields.items():
        if object_name not in primary:
            raise ValueError(
                f"{prefix}.fields.{object_name}: {mapping.crm} has no object {object_name!r} to map; "
                f"mapped objects: {', '.join(primary)}"
            )
        mapped = objects[primary[object_name]]
        columns = CRM_TABLES[mapped.table].__table__.columns.keys()
        for column in fields:
            if column not in columns:
                raise ValueError(
                    f"{prefix}.fields.{object_name}.{column}: {column!r} is not a column of {mapped.table}; "
                    f"columns: {', '.join(columns)}"
                )
        objects[primary[object_name]] = replace(mapped, fields={**mapped.fields, **fields})
    allowed = stage_names(settings)
    for value, stage in overrides.lead_stages.items():
        if stage not in allowed:
            raise ValueError(
                f"{prefix}.lead_stages.{value}: {stage!r} is not a funnel stage; choose one of {', '.join(allowed)}"
            )
    stage_field = overrides.lead_stage_field or mapping.lead_stage_field
    stages = {**mapping.lead_stages, **overrides.lead_stages}
    if stage_field != mapping.lead_stage_field:
        # The lead's current stage is read from the configured field too.
        objects = [
            replace(m, extra=tuple(stage_field if f == mapping.lead_stage_field else f for f in m.extra))
            for m in objects
        ]
    return replace(mapping, objects=tuple(objects), lead_stage_field=stage_field, lead_stages=stages)
