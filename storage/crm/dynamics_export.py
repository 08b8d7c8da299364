"""Dynamics 365 (Dataverse) export files read as the Web API would answer: `kpibot import --from dynamics PATH`.

The shape read is Azure Synapse Link for Dataverse's CSV (its table folders are named by the table's logical
name, `lead`, `opportunity`), with a header row of the columns' logical names: `leadid`, `createdon`,
`modifiedon`, `statuscode`, `ownerid`. A file is named after the entity set (`leads.csv`) or the table's logical
name (`lead.csv`). What the export writes as text becomes what storage/crm/dynamics.py's mapping reads from the API:

- lookups: `ownerid` is the Web API's `_ownerid_value` (either name is accepted); the table a polymorphic lookup
  points at comes from `<lookup>_entitytype` (`regardingobjectid_entitytype`: `lead`, `opportunity`, `account`) or
  the API's `@Microsoft.Dynamics.CRM.lookuplogicalname` column.
- choices (`statecode`, `statuscode`, `industrycode`, `leadsourcecode`, `typecode`, `salesstage`, any `…code`) are
  their numbers, as Synapse Link writes them; anything else there is a bad row. Their labels come from the
  choice-label tables Synapse Link writes beside the data (`OptionsetMetadata.csv`, `GlobalOptionsetMetadata.csv`,
  `StateMetadata.csv`, `StatusMetadata.csv`: EntityName, OptionSetName / State / Status, Option, LocalizedLabel)
  when the folder holds them, or from a `<column>@OData.Community.Display.V1.FormattedValue` column; without
  either, a choice's number stands for its label (a segment `6` rather than `Consulting`).
- booleans (`isdisabled`, Synapse Link's `IsDelete`) `true`/`false`/`1`/`0`; a row with `IsDelete` true is a
  deleted one and is left out.
- moments: ISO 8601 as Synapse Link writes them (`2026-11-05T09:00:00.0000000Z`, `…+00:00`) or the Web API's
  (`2026-11-05T09:00:00Z`), and dates (`2026-11-09`); a moment without a zone is UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from storage.crm.dynamics import FORMATTED, LOOKUP_NAME, parse_moment
from storage.crm.mapping import ObjectMap

__all__ = ["DynamicsRows", "LOGICAL_NAMES"]

# Each standard table's logical name → its entity set (the name the mapping and the API use).
LOGICAL_NAMES = {
    "systemuser": "systemusers",
    "account": "accounts",
    "campaign": "campaigns",
    "lead": "leads",
    "opportunity": "opportunities",
    "phonecall": "phonecalls",
    "appointment": "appointments",
    "task": "tasks",
    "email": "emails",
}
_ENTITY = {entity_set: name for name, entity_set in LOGICAL_NAMES.items()}
_BOOLEANS = {"isdisabled"}
_MOMENTS = {"createdon", "modifiedon", "actualstart", "actualend", "scheduledstart", "scheduledend"}
_DATES = {"actualclosedate"}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_METADATA = {
    "optionsetmetadata": "OptionSetName",
    "globaloptionsetmetadata": "OptionSetName",
    "statemetadata": "statecode",
    "statusmetadata": "statuscode",
}


def _choice(name: str) -> bool:
    return name.endswith("code") or name == "salesstage"


class DynamicsRows:
    """Export rows → Web API records, with the choice labels the export's metadata tables give."""

    def __init__(self, labels: dict[tuple[str, str, int], str] | None = None) -> None:
        self.labels = labels or {}

    @classmethod
    def from_folder(cls, folder: Path) -> DynamicsRows:
        """The labels of the choice-label tables in `folder` (none when it holds none)."""
        labels: dict[tuple[str, str, int], str] = {}
        for file in sorted(folder.iterdir()) if folder.is_dir() else ():
            kind = _METADATA.get(file.stem.lower())
            if kind is None or file.suffix.lower() != ".csv":
                continue
            with file.open(newline="", encoding="utf-8-sig") as handle:
                _read_labels(csv.DictReader(handle), kind, labels)
        return cls(labels)

    def native(self, values: dict[str, Any], mapped: ObjectMap) -> dict[str, Any]:
        """A file row as the Web API gives it; what cannot be read goes into `_problem`, which rejects the row."""
        wanted = {name.lower(): name for name in mapped.read}
        for name in mapped.read:  # `ownerid` for `_ownerid_value`
            if name.startswith("_") and name.endswith("_value"):
                wanted.setdefault(name[1:-6].lower(), name)
        entity = _ENTITY.get(mapped.object, mapped.object)
        record: dict[str, Any] = {}
        problems: list[str] = []
        cells = {str(column).strip().lower(): value for column, value in values.items()}
        for column, value in cells.items():
            text = value.strip() if isinstance(value, str) else value
            if text == "":
                text = None
            if column == "isdelete":
                if text is not None and str(text).lower() in _TRUE:
                    record["IsDeleted"] = True
                continue
            target = _lookup_type(column, wanted)
            if target is not None:
                if text is not None:
                    record[f"{target}@{LOOKUP_NAME}"] = str(text).lower()
                continue
            if column.endswith(f"@{FORMATTED}".lower()):
                base = wanted.get(column.split("@", 1)[0])
                if base is not None and text is not None:
                    record[f"{base}@{FORMATTED}"] = str(text)
                continue
            found = wanted.get(column)
            if found is None:
                continue
            name = found
            record[name] = _value(name, text, problems)
            if _choice(name) and isinstance(record[name], int):
                label = self.labels.get((entity, name, record[name]))
                if label is not None:
                    record.setdefault(f"{name}@{FORMATTED}", label)
        if problems:
            record["_problem"] = "; ".join(problems)
        return record


def _lookup_type(column: str, wanted: dict[str, str]) -> str | None:
    """The lookup whose table `column` names (`regardingobjectid_entitytype`, or the API's annotation)."""
    for suffix in ("_entitytype", f"@{LOOKUP_NAME}".lower()):
        if column.endswith(suffix):
            name = wanted.get(column[: -len(suffix)])
            if name is not None and name.startswith("_"):
                return name
    return None


def _value(name: str, text: Any, problems: list[str]) -> Any:
    if text is None or not isinstance(text, str):
        return text
    lowered = name.lower()
    if lowered in _BOOLEANS:
        if text.lower() not in _TRUE | _FALSE:
            problems.append(f"{name}={text!r} is not true or false")
        return text.lower() in _TRUE
    if _choice(lowered):
        if not text.lstrip("-").isdigit():
            problems.append(f"{name}={text!r} is not a choice's number")
            return text
        return int(text)
    if lowered in _MOMENTS or lowered in _DATES:
        try:
            moment = parse_moment(text)
        except ValueError:
            problems.append(f"{name}={text!r} is not a date and time")
            return text
        return moment.date() if moment and lowered in _DATES and "T" not in text else moment
    return text


def _read_labels(rows: Iterable[dict[str, str]], kind: str, labels: dict[tuple[str, str, int], str]) -> None:
    for row in rows:
        cells = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        entity, label = cells.get("entityname", "").lower(), cells.get("localizedlabel", "")
        if kind == "OptionSetName":
            column, number = cells.get("optionsetname", "").lower(), cells.get("option", "")
        else:
            column, number = kind, cells.get("status" if kind == "statuscode" else "state", "")
        if entity and column and label and number.lstrip("-").isdigit():
            labels.setdefault((entity, column, int(number)), label)  # the first language listed
