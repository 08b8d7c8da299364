"""`kpibot import --from <crm> PATH`: a CRM's own export files, with their native column names, through the same
mapping and checks as a sync.

PATH is a folder (Salesforce's Data Export or Data Loader CSVs: `Lead.csv`, `Opportunity.csv`,
`OpportunityHistory.csv`, `Task.csv`, `Event.csv`, `Account.csv`, `User.csv`, `Campaign.csv` …) or one such file;
each file is named after its object. Column names are matched without regard to case (Data Loader writes `ID`,
`ISWON`). Files are read in the mapping's order (users first), each object in one transaction; rows of a deleted
record (`IsDeleted` true) are left out. Nothing here moves a sync's watermarks.

SugarCRM's list view Export writes one CSV per module (`Users.csv`, `Accounts.csv`, `Campaigns.csv`, `Leads.csv`,
`Opportunities.csv`, `Calls.csv`, `Meetings.csv`, `Tasks.csv`), read the same way with the field names the REST API
uses as headers (`id`, `date_entered`, `deleted`) or Sugar's English labels (`SUGAR_LABELS`), booleans as `1`/`0`
(or `true`/`false`). Sugar's export writes datetimes and dates as the exporting user sees them: that user's date and
time formats and time zone (`11/02/2026 09:00am`, `11/02/2026`), which `crm.sugarcrm.export_date_format`,
`export_time_format` and `export_timezone` (by default the org's) say; datetimes as Sugar stores them
(`2026-11-02 09:00:00`, UTC) or ISO 8601 with an offset are read too. Each CRM's way of writing its files is its
`ExportDialect` (`DIALECTS`; `ExportDialect.for_settings` fits it to kpibot.yaml).
Dynamics 365 (Dataverse): one CSV per table with a header row of the columns' logical names, named after the entity
set (`leads.csv`) or the table's logical name (`lead.csv`, as Azure Synapse Link names a table's folder), read by
`DynamicsRows` (storage/crm/dynamics_export.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from storage.config.crm import SugarcrmSettings, php_to_strptime
from storage.config.settings import Settings
from storage.crm.mapping import CrmMapping, CrmRecord, ObjectMap, parse_moment
from storage.errors import UserError
from storage.importing.importer import RowError
from storage.importing.sources import CsvSource, Source, SourceError, open_source
from storage.schema import User

__all__ = [
    "Partitions",
    "StoredPeople",
    "DIALECTS",
    "ExportConnector",
    "ExportDialect",
    "Partition",
    "RowReader",
    "export_files",
    "sugar_dialect",
]

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


def _salesforce_moment(name: str, value: str) -> bool:
    return name.endswith(("Date", "DateTime", "Stamp", "Modstamp")) and "T" in value


def _sugar_moment(name: str, value: str) -> bool:
    # Sugar's datetimes (`date_entered`, `date_start`, `date_due`, …); its dates alone are `_SUGAR_DATES`.
    return name.startswith("date_") or name.endswith("_date")


# The fields the mapping reads that Sugar's vardefs type `date` (a day, shown without a time zone), lower case.
_SUGAR_DATES = frozenset({"date_closed", "start_date", "end_date"})


# The English display labels Sugar's list view Export heads its columns with (each field's `vname` in the module's
# vardefs.php, its text in language/en_us.lang.php or the application's, the closing colon dropped, as
# include/export_utils.php's translateForExport does), for the fields the mapping reads; by module, lower case.
# A label two fields share names them in the order Sugar writes them (export_utils' get_field_order_mapping).
_SUGAR_COMMON = {"id": ("id",), "date created": ("date_entered",), "date modified": ("date_modified",)}
_SUGAR_COMMON |= {"deleted": ("deleted",)}
_SUGAR_ACTIVITY = {"start date": ("date_start",), "end date": ("date_end",), "status": ("status",)}
_SUGAR_ACTIVITY |= {"parent type": ("parent_type",)}
SUGAR_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "Users": {
        "full name": ("full_name",),
        "email address": ("email1",),
        "reports to id": ("reports_to_id",),
        "first name": ("first_name",),
        "last name": ("last_name",),
        "username": ("user_name",),
        "status": ("status",),
    },
    "Accounts": {"name": ("name",), "industry": ("industry",), "assigned user": ("assigned_user_id",)},
    "Campaigns": {
        "name": ("name",),
        "type": ("campaign_type",),
        "start date": ("start_date",),
        "end date": ("end_date",),
    },
    "Leads": {
        "assigned user": ("assigned_user_id",),
        "lead source": ("lead_source",),
        "account name": ("account_name",),
        "status": ("status",),
        "opportunity id": ("opportunity_id",),
    },
    "Opportunities": {
        "assigned user": ("assigned_user_id",),
        "opportunity amount": ("amount",),
        "account id": ("account_id",),
        "sales stage": ("sales_stage",),
        "expected close date": ("date_closed",),
    },
    "Calls": {**_SUGAR_ACTIVITY, "assigned user": ("assigned_user_id",), "related to id": ("parent_id",)},
    "Meetings": {**_SUGAR_ACTIVITY, "parent id": ("parent_id",), "related to": ("parent_type", "parent_id")},
    "Tasks": {
        "due date": ("date_due",),
        "status": ("status",),
        "parent type": ("parent_type",),
        "parent id": ("parent_id",),
    },
}
SUGAR_LABELS = {module: {**_SUGAR_COMMON, **labels} for module, labels in SUGAR_LABELS.items()}


def _sugar_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value)  # takes both `2026-11-02 09:00:00` and `2026-11-02T09:00:00+00:00`
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Sugar stores UTC


@dataclass(frozen=True)
class ExportDialect:
    """How one CRM writes its export files: which fields are booleans (named in lower case), the field that marks a
    deleted record, which values are moments and how to read them (`moment_format` says what is read, for a row's
    error); `dates` (lower case) the fields holding a day alone, read by `parse_date` into `YYYY-MM-DD`; `labels`,
    by object, the display labels (lower case) a header may hold instead of a field name, each with its field (or
    fields, a label several share, in the order the CRM writes them). `configure`, when the CRM's files depend on
    kpibot.yaml (a user's display formats), builds the dialect the settings describe."""

    booleans: frozenset[str]
    deleted: str
    is_moment: Callable[[str, str], bool]
    parse_moment: Callable[[str], datetime | None]
    labels: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    moment_format: str = "ISO 8601"
    dates: frozenset[str] = frozenset()
    parse_date: Callable[[str], str] | None = None
    date_format: str = "YYYY-MM-DD"
    configure: Callable[[Settings], ExportDialect] | None = None

    def for_settings(self, settings: Settings) -> ExportDialect:
        """This dialect as kpibot.yaml describes the CRM's files."""
        return self.configure(settings) if self.configure else self


def sugar_dialect(settings: Settings | None = None) -> ExportDialect:
    """SugarCRM's export files as the exporting user's preferences write them (`crm.sugarcrm.export_*`; Sugar's
    defaults, `m/d/Y` and `h:ia` in the org's time zone, without settings): a datetime in that user's format and
    time zone, else as Sugar stores it (UTC) or ISO 8601; a date in that user's date format, else `YYYY-MM-DD`."""
    sugar = settings.crm.sugarcrm if settings else SugarcrmSettings()
    day_php, clock_php = sugar.export_date_format, sugar.export_time_format
    zone_name = sugar.export_timezone or (settings.org.timezone if settings else "UTC")
    day = php_to_strptime(day_php, "crm.sugarcrm.export_date_format")
    clock = php_to_strptime(clock_php, "crm.sugarcrm.export_time_format", time=True)
    zone = ZoneInfo(zone_name)

    def moment(value: str) -> datetime:
        try:
            return datetime.strptime(value, f"{day} {clock}").replace(tzinfo=zone)
        except ValueError:
            return _sugar_iso(value)

    def day_only(value: str) -> str:
        try:
            return datetime.strptime(value, day).date().isoformat()
        except ValueError:
            return date.fromisoformat(value).isoformat()

    return ExportDialect(
        frozenset({"deleted", "converted"}),
        "deleted",
        _sugar_moment,
        moment,
        SUGAR_LABELS,
        moment_format=(
            f"{day_php} {clock_php} in {zone_name} (crm.sugarcrm.export_date_format, export_time_format, "
            "export_timezone), Y-m-d H:i:s in UTC, or ISO 8601"
        ),
        dates=_SUGAR_DATES,
        parse_date=day_only,
        date_format=f"{day_php} (crm.sugarcrm.export_date_format) or Y-m-d",
        configure=sugar_dialect,
    )


DIALECTS: dict[str, ExportDialect] = {
    "salesforce": ExportDialect(
        frozenset({"isdeleted", "iswon", "isclosed", "isconverted", "isactive"}),
        "IsDeleted",
        _salesforce_moment,
        parse_moment,
    ),
    "sugarcrm": sugar_dialect(),
}


@dataclass(frozen=True)
class Partition:
    """One data file of an object: with a header row (`columns` None), or without one, its columns named by a
    manifest beside it (`columns`, in file order)."""

    path: Path
    columns: tuple[str, ...] | None = None
    delimiter: str = ","
    encoding: str = "utf-8-sig"  # a CSV's text (another where its maker writes one: Bitrix24's Windows-1251)

    def open(self, table: str) -> Source:
        if self.columns is None:
            return open_source(self.path, table, self.encoding)
        if not self.path.is_file():
            raise UserError("import.no_file", "{path}: no such file", path=str(self.path))
        return CsvSource(self.path, self.columns, self.delimiter, self.encoding)


# An export's data files of each object, in order.
Partitions = Mapping[str, tuple[Partition, ...]]


class RowReader(Protocol):
    """How one CRM's export rows become the records its mapping reads."""

    def native(self, values: dict[str, Any], mapped: ObjectMap) -> dict[str, Any]: ...


def export_files(mapping: CrmMapping, path: Path, aliases: dict[str, str] | None = None) -> dict[str, Path]:
    """The export file of each mapped object found at `path` (a folder, or one file named after its object, or
    after one of `aliases`: another name of an object)."""
    objects = {m.object.lower(): m.object for m in mapping.objects}
    objects.update(
        {alias.lower(): name for alias, name in (aliases or {}).items() if name in objects.values()}
    )
    if path.is_dir():
        found = {}
        for file in sorted(path.iterdir()):
            name = objects.get(file.stem.lower())
            if name and file.suffix.lower() in (".csv", ".json", ".jsonl", ".xlsx"):
                found[name] = file
        if not found:
            raise UserError(
                "import.no_export", "{path}: no export file of {crm} here (expected {names})",
                path=str(path), crm=mapping.crm, names=", ".join(f"{o}.csv" for o in dict.fromkeys(objects.values())),
            )  # fmt: skip
        return found
    if not path.is_file():
        raise UserError("import.no_file", "{path}: no such file", path=str(path))
    name = objects.get(path.stem.lower())
    if name is None:
        raise UserError(
            "import.unknown_object", "{path}: {stem} is not a {crm} object kpibot reads; name the file after one of "
            "{names}", path=str(path), stem=path.stem, crm=mapping.crm, names=", ".join(dict.fromkeys(objects.values())),
        )  # fmt: skip
    return {name: path}


class ExportConnector:
    """A CRM's export files read as if they were its API: every record, in file order."""

    def __init__(
        self,
        crm: str,
        mapping: CrmMapping,
        files: dict[str, Path],
        dialect: ExportDialect | None = None,
        rows: RowReader | None = None,
        partitions: Partitions | None = None,
    ) -> None:
        self.crm = crm
        self.dialect = dialect or DIALECTS.get(mapping.crm) or DIALECTS["salesforce"]
        self.rows = rows
        self.mapping = CrmMapping(
            mapping.crm,
            tuple(m for m in mapping.objects if m.object in files),
            mapping.lead_stage_field,
            mapping.lead_stages,
        )
        self.files = files
        # An object's data files, in order (one file with a header row unless a manifest says otherwise).
        self.partitions = {
            name: (partitions or {}).get(name) or (Partition(file),) for name, file in files.items()
        }
        # What a row's error names: the object's file, or its folder when its rows span several (`locate` then
        # names the file of each).
        self.labels = {}
        for m in self.mapping.objects:
            parts = self.partitions[m.object]
            self.labels[m.object] = str(parts[0].path if len(parts) == 1 else files[m.object])
        # Where each partition's rows start in the object's running line count: `(first line, partition)`.
        self._starts: dict[str, list[tuple[int, Partition]]] = {}

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """Every row of the object's files, in order; a row's `_line` runs on across its partitions (`locate`
        gives back its file and line there)."""
        starts = self._starts[mapped.object] = []
        offset = 0
        for partition in self.partitions[mapped.object]:
            starts.append((offset + 1, partition))
            last = 0
            for native in self._read_file(mapped, partition):
                last = int(native["_line"])
                native["_line"] = offset + last
                yield native
            offset += last

    def locate(self, object_name: str, error: RowError) -> RowError:
        """An error on a row as the line in its own partition file, where the object has several."""
        starts = self._starts.get(object_name, [])
        if len(starts) < 2 or error.line < 1:
            return error
        # The last partition starting at or before the line: one without rows starts where the next one does.
        first, partition = [s for s in starts if s[0] <= error.line][-1]
        return replace(error, file=str(partition.path), line=error.line - first + 1)

    def _read_file(self, mapped: ObjectMap, partition: Partition) -> Iterator[dict[str, Any]]:
        deleted = self.dialect.deleted
        wanted = {name.lower(): name for name in (*mapped.read, deleted)}
        source = partition.open(mapped.table)
        labels = self.dialect.labels.get(mapped.object)
        if labels and source.header:
            source.header = _named_by_labels(source.header, wanted, labels)
        several = len(self.partitions[mapped.object]) > 1
        try:
            for record in source.records():
                if record.problem:
                    if several:
                        raise SourceError(record.line, f"{partition.path}:{record.line}: {record.problem}")
                    raise SourceError(record.line, record.problem)
                if (
                    self.rows is not None
                ):  # a CRM whose rows need more than a dialect (Dynamics' lookups, labels)
                    native = self.rows.native(record.values, mapped)
                    native["_line"] = record.line
                    yield native
                    continue
                native = _native(record.values, wanted, self.dialect)
                native["_line"] = record.line  # where the row stands in its file, for its errors
                if (
                    native.get(deleted) is True
                    and "_problem" not in native
                    and mapped.deleted_field != deleted
                ):
                    continue  # a deleted record's row, in a map that deletes nothing (users, stage events)
                yield native
        finally:
            source.close()

    def bind(self, engine: Any) -> None:
        """The store, for a reader that looks rows up there (Pipedrive's owners by name)."""
        bind = getattr(self.rows, "bind", None)
        if bind is not None:
            bind(engine)

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return None  # an export moves no watermark

    def close(self) -> None:
        pass


def _named_by_labels(
    header: tuple[str, ...], wanted: dict[str, str], labels: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """A header row with each display label replaced by its field's name; a label several fields share names the
    next of them at each column it heads. A field name stays, and so does a header neither a field nor a label
    (a column not read)."""
    taken: dict[str, int] = {}
    named = []
    for column in header:
        key = " ".join(column.strip().rstrip(":").split()).lower()
        fields = labels.get(key, ())
        if key in wanted:
            named.append(wanted[key])  # a field name, or a label that is one ("Status:")
        elif fields:
            at = taken.get(key, 0)
            taken[key] = at + 1
            named.append(fields[at] if at < len(fields) else column)
        else:
            named.append(column)
    return tuple(named)


def _native(values: dict[str, Any], wanted: dict[str, str], dialect: ExportDialect) -> dict[str, Any]:
    """A file row as the API would give it: the mapping's field names, booleans as booleans, moments parsed; what
    cannot be read goes into `_problem`, which rejects the row."""
    record: dict[str, Any] = {}
    for column, value in values.items():
        name = wanted.get(str(column).strip().lower())
        if name is None:
            continue
        if isinstance(value, str):
            value = value.strip()
            if name.lower() in dialect.booleans:
                if value.lower() not in _TRUE | _FALSE:
                    record["_problem"] = f"{name}={value!r} is not true or false"
                value = value.lower() in _TRUE
            elif value == "":
                value = None
            elif name.lower() in dialect.dates and dialect.parse_date is not None:
                try:
                    value = dialect.parse_date(value)
                except ValueError:
                    record["_problem"] = f"{name}={value!r} is not a date (expected {dialect.date_format})"
            elif dialect.is_moment(name, value):
                try:
                    value = dialect.parse_moment(value)
                except ValueError:
                    record["_problem"] = (
                        f"{name}={value!r} is not a date and time (expected {dialect.moment_format})"
                    )
        record[name] = value
    return record


def _person_key(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


@dataclass(frozen=True)
class StoredPeople:
    """kpibot's users as a CRM's export names them (an owner, a responsible user): by id, email or name, case and
    spacing aside. A name two users share places no one (None), as does a name kpibot does not know; `shared`
    says which users a shared one names."""

    by_key: Mapping[str, str | None]
    sharing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a shared name → its users' ids

    @classmethod
    def load(cls, engine: Engine) -> StoredPeople:
        with engine.connect() as conn:
            users = conn.execute(select(User.user_id, User.name, User.email)).all()
        found: dict[str, str | None] = {_person_key(user_id): str(user_id) for user_id, _, _ in users}
        ids = set(found)
        named: dict[str, set[str]] = {}
        for user_id, name, email in users:
            for key in {_person_key(email), _person_key(name)} - {""} - ids:
                named.setdefault(key, set()).add(str(user_id))
        for key, users_named in named.items():
            found[key] = next(iter(users_named)) if len(users_named) == 1 else None
        sharing = {key: tuple(sorted(both)) for key, both in named.items() if len(both) > 1}
        return cls(found, sharing)

    def find(self, named: Any) -> str | None:
        return self.by_key.get(_person_key(named))

    def shared(self, column: str, named: Any) -> str | None:
        """Why `named` in `column` places no one when several users have that name (a row's problem, one line);
        None when it is not such a name."""
        users = self.sharing.get(_person_key(named))
        if not users:
            return None
        listed = f"{', '.join(users[:-1])} and {users[-1]}"
        return f"{column}={str(named).strip()!r} is the name of {listed}; give the owner's email or id"
