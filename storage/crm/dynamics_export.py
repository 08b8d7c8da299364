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
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from storage.crm.dynamics import FORMATTED, LOOKUP_NAME
from storage.crm.exports import Partition
from storage.crm.mapping import CrmMapping, ObjectMap, parse_moment
from storage.errors import UserError

__all__ = ["DynamicsRows", "LOGICAL_NAMES", "MODEL_FILE", "read_model", "synapse_link_files"]

MODEL_FILE = "model.json"

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
        """The labels of the choice-label tables: those the folder's model.json describes (headerless files, read
        with the entity's attributes as columns), else the CSVs with a header row in `folder` or in its
        `OptionsetMetadata` folder, where Synapse Link writes them (none when it holds none)."""
        labels: dict[tuple[str, str, int], str] = {}
        model = read_model(folder) if folder.is_dir() else None
        described = {name: entity for name, entity in (model or {}).items() if name in _METADATA}
        for name, (_, partitions) in sorted(described.items()):
            for partition in partitions:
                with partition.path.open(newline="", encoding="utf-8-sig") as handle:
                    rows = csv.DictReader(handle, fieldnames=partition.columns, delimiter=partition.delimiter)
                    _read_labels(rows, _METADATA[name], labels)
        for place in (folder, folder / "OptionsetMetadata") if folder.is_dir() else ():
            for file in sorted(place.iterdir()) if place.is_dir() else ():
                kind = _METADATA.get(file.stem.lower())
                if kind is None or file.suffix.lower() != ".csv" or file.stem.lower() in described:
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


def read_model(folder: Path) -> dict[str, tuple[str, tuple[Partition, ...]]] | None:
    """The entities `folder`'s model.json (a Common Data Model folder's manifest, as Azure Synapse Link writes it)
    describes, by lower-case name: each its name and its data files in order, the columns named by its attributes
    (in column order) unless the partition's `fileFormatSettings` say the file has a header row. None without a
    model.json. A partition's `location` is a URL into the data lake (`https://<account>.dfs.core.windows.net/
    <container>/lead/2026-11.csv`) or a path; it is found in `folder` by the longest tail of its path that names a
    file there (`lead/2026-11.csv`), so a copy of the container or of the folder itself both read."""
    manifest = folder / MODEL_FILE
    if not manifest.is_file():
        return None
    try:
        model = json.loads(manifest.read_text(encoding="utf-8-sig"))
        entities = model["entities"]
        if not isinstance(entities, list):
            raise TypeError("entities is not a list")
        found: dict[str, tuple[str, tuple[Partition, ...]]] = {}
        for entity in entities:
            name = str(entity["name"])
            columns = tuple(str(attribute["name"]) for attribute in entity.get("attributes") or ())
            partitions = []
            for part in entity.get("partitions") or ():
                if not part.get("location"):
                    continue  # a partition for schema only
                settings = part.get("fileFormatSettings") or {}
                delimiter = str(settings.get("delimiter") or ",")
                headers = str(settings.get("columnHeaders", False)).lower() == "true"
                path = _local(folder, str(part["location"]), name)
                partitions.append(Partition(path, None if headers else columns, delimiter))
            found[name.lower()] = (name, tuple(partitions))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            "import.model", "{path}: not a Common Data Model manifest kpibot can read ({why})",
            path=str(manifest), why=f"{exc.__class__.__name__}: {exc}",
        ) from None  # fmt: skip
    return found


def _local(folder: Path, location: str, entity: str) -> Path:
    """The file in `folder` a partition's location names."""
    parts = [unquote(part) for part in urlsplit(location).path.replace("\\", "/").split("/") if part]
    root = folder.resolve()
    for start in range(len(parts)):
        if ".." in parts[start:]:
            continue
        candidate = folder.joinpath(*parts[start:])
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return candidate
    raise UserError(
        "import.no_partition", "{path}: {entity}'s data file {location} is not in {folder}",
        path=str(folder / MODEL_FILE), entity=entity, location=location, folder=str(folder),
    )  # fmt: skip


def synapse_link_files(
    mapping: CrmMapping, folder: Path
) -> tuple[dict[str, Path], dict[str, tuple[Partition, ...]]] | None:
    """The data files of each mapped table a Synapse Link folder's model.json describes (by logical name, or
    entity set), in order; None when `folder` holds no model.json."""
    model = read_model(folder) if folder.is_dir() else None
    if model is None:
        return None
    objects = {m.object.lower(): m.object for m in mapping.objects}
    objects.update(
        {name: entity_set for name, entity_set in LOGICAL_NAMES.items() if entity_set in objects.values()}
    )
    files: dict[str, Path] = {}
    partitions: dict[str, tuple[Partition, ...]] = {}
    for key, (name, parts) in model.items():
        object_name = objects.get(key)
        if object_name is None or not parts:
            continue
        partitions[object_name] = parts
        files[object_name] = parts[0].path if len(parts) == 1 else folder / name
    if not files:
        raise UserError(
            "import.no_export", "{path}: model.json describes no table of {crm} kpibot reads (expected {names})",
            path=str(folder), crm=mapping.crm, names=", ".join(LOGICAL_NAMES),
        )  # fmt: skip
    return files, partitions
