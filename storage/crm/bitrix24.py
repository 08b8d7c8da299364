"""Bitrix24: the REST API read through an inbound webhook, incrementally, and the default mapping of its CRM.

Auth, from the environment only: `BITRIX24_WEBHOOK_URL`, the inbound webhook's address
(`https://<portal>.bitrix24.ru/rest/<user id>/<secret>/`). The secret is part of the address, so the whole address
is a secret: it is redacted wherever kpibot writes text, and errors name only the portal's origin. A webhook has no
token to refresh: a refused one (401) is a `CrmError` saying to check the variable.

Calls: `POST {webhook}<method>.json` with a JSON body, answered `{"result": …, "next": n, "total": n, "time":
{…}}` or `{"error": CODE, "error_description": text}`. List methods answer 50 records a page. They are walked the
fast way the REST docs describe for reading everything ("how to export large volumes"): `order: {"ID": "ASC"}`,
the filter `>ID` the last id read, and `start: -1` (no count of the whole result, which is what makes a deep walk
slow); the walk ends at a page of fewer than 50. Each page depends on the one before, so `batch` cannot read pages
of one walk side by side; the walk is one request per 50 records. Users and departments (`user.get`,
`department.get`, a few pages) are paged by `start` / `next`.

Incremental: `>DATE_MODIFY` the watermark (`>LAST_UPDATED` for activities, `>CREATED_TIME` for the stage
history). A walk by id does not follow the modification stamp, so a record changed while a walk runs may be behind
the walk already; the stamp a record gives the watermark is therefore at most a second before the moment the walk
started (`time.date_start` of its first answer, the portal's own clock), and what changed during a walk is read
again by the next sync (upserts make that change nothing twice).

Objects and mapping:
- `user.get` → users (`ID`, `NAME` + `LAST_NAME`, `EMAIL`, `ACTIVE`, `TIME_ZONE`); the manager is the head
  (`UF_HEAD`, `department.get`) of the user's first department (`UF_DEPARTMENT`), or of its parent department when
  the user heads it; a manager's reports form a team named after the manager. Read whole every sync.
- `crm.company.list` → accounts (`TITLE`, `DATE_CREATE`, `ASSIGNED_BY_ID`, `INDUSTRY` → segment).
- `crm.lead.list` → leads (`DATE_CREATE`, `ASSIGNED_BY_ID`, `SOURCE_ID` → source, `COMPANY_TITLE` → company).
- `crm.stagehistory.list` (`entityTypeId` 1) → lead_stage_events: each `STATUS_ID` entered at `CREATED_TIME`,
  through `crm.bitrix24.lead_stages` (`LEAD_STATUSES` by default: Bitrix24's standard lead statuses). A status the
  map does not name is looked up by its name (`crm.status.list`, `ENTITY_ID` `STATUS`), then by its semantics:
  `S` (success) → opportunity, `F` (failure) → disqualified; an in-process one it cannot place is rejected, naming
  the setting. Entering `lead` is left out: every lead is a lead from its creation.
- `crm.deal.list` → deals (`ASSIGNED_BY_ID`, `DATE_CREATE`, `OPPORTUNITY` → amount, `COMPANY_ID`, `LEAD_ID` — the
  lead converted into it); `STAGE_SEMANTIC_ID` `S` → won, `F` → lost, `P` → open; `closed_at` = `CLOSEDATE` of a
  closed deal (a date; not before its creation).
- `crm.stagehistory.list` (`entityTypeId` 2) → deal_stage_events (`STAGE_ID` at `CREATED_TIME`; funnels other
  than the first have their prefix, `C1:NEW`).
- `crm.activity.list` → activities: `TYPE_ID` 1 meeting, 2 call, 3 task, 4 email (6, an app's activity: a task
  when its provider is a task or a to-do, else other); `COMPLETED` `Y` → done at `END_TIME`, else planned, due at
  `DEADLINE`; `OWNER_TYPE_ID` 1 / 2 / 4 with `OWNER_ID` → its lead, deal or company.

Deletions: Bitrix24 has no feed of deleted records a webhook can read (its delete events go to an outbound
handler). So the ids are reconciled: every `crm.bitrix24.reconcile_every` (default 6 h; `0` on every sync), and on
every sync that reads an object whole (`--full`), the ids of each deletable object are walked (`select: ["ID"]`,
the fast walk: one request per 50 ids) and the stored records the portal no longer has are deleted, with their
stage history. Only numeric ids are compared (Bitrix24's); rows another source wrote under other ids stay.

Client: httpx. Bitrix24's own Python SDK (`b24pysdk`) builds every address as `https://{domain}/rest` and sleeps
with `time.sleep` between its retries of a 503, so it can be pointed neither at a test portal on loopback nor at
an injected wait; `fast-bitrix24` is built on its own event loop and throttle. The REST protocol is small enough
to speak directly.

Overrides: a field that `crm.bitrix24.fields` names is checked against the object's fields (`crm.lead.fields` …)
before its first page: a list method leaves an unknown field out silently.

Faults: `QUERY_LIMIT_EXCEEDED`, `OVERLOAD_LIMIT` and `OPERATION_TIME_LIMIT` (503, or 429) are waited out, other 5xx
and lost connections retried with backoff; anything else is a `CrmError`, one line, without the webhook's secret.
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from storage.config.settings import Settings
from storage.crm.exports import ExportConnector, ExportDialect, Partition, Partitions, StoredPeople
from storage.crm.http import Retries, json_body
from storage.crm.mapping import (
    CrmMapping,
    CrmRecord,
    MapContext,
    ObjectMap,
    Skip,
    apply_overrides,
    parse_moment,
)
from storage.crm.sync import CrmError, Deletions, reconciled, reconciliation_due

__all__ = [
    "BITRIX24_LABELS",
    "LEAD_STATUSES",
    "Bitrix24Auth",
    "Bitrix24Client",
    "Bitrix24Connector",
    "Bitrix24ExportConnector",
    "bitrix24_dialect",
    "bitrix24_export_files",
    "bitrix24_export_mapping",
    "bitrix24_mapping",
]

log = logging.getLogger(__name__)

PAGE = 50  # records a list page holds (fixed by Bitrix24)

# Bitrix24's standard lead statuses (crm.status.list, ENTITY_ID STATUS) → kpibot's funnel, by id and by the names
# the Russian interface (and so the CSV export) shows; `crm.bitrix24.lead_stages` adds more.
LEAD_STATUSES = {
    "NEW": "lead",
    "IN_PROCESS": "mql",
    "PROCESSED": "sql",
    "CONVERTED": "opportunity",
    "JUNK": "disqualified",
    "Не обработан": "lead",
    "В работе": "mql",
    "Обработан": "sql",
    "Качественный лид": "opportunity",
    "Некачественный лид": "disqualified",
}
_BY_SEMANTICS = {"S": "opportunity", "F": "disqualified"}
# Deal stages that close a deal where no STAGE_SEMANTIC_ID says so (an export): the standard pipeline's ids and
# names; a funnel other than the first prefixes its ids (`C1:WON`).
_WON = frozenset({"WON", "Сделка успешна"})
_LOST = frozenset({"LOSE", "APOLOGY", "Сделка провалена", "Анализ причины провала"})
_SEMANTIC_STATUS = {"S": "won", "F": "lost", "P": "open"}
_ACTIVITY_TYPES = {"1": "meeting", "2": "call", "3": "task", "4": "email"}
_OWNER_COLUMNS = {"1": "lead_id", "2": "deal_id", "4": "account_id"}
_LIMITS = frozenset({"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "OPERATION_TIME_LIMIT"})
_AUTH = frozenset(
    {"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "expired_token", "invalid_token", "WRONG_AUTH_TYPE"}
)
_WEBHOOK_PATH = re.compile(r"^(/.*)?/rest/\d+/[^/]+/?$")


def _yes(value: Any) -> bool:
    """Bitrix24's booleans: `Y` / `N` in the CRM, JSON true/false in user.get, `Да` / `Нет` in an export."""
    return value is True or str(value or "").strip().lower() in ("y", "1", "true", "да")


def _id(value: Any) -> str | None:
    """A link field: Bitrix24 answers `0` (or nothing) for no link."""
    text = str(value or "").strip()
    return None if text in ("", "0") else text


def _user(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    parts = [str(record.get(f) or "").strip() for f in ("NAME", "LAST_NAME")]
    row["name"] = " ".join(p for p in parts if p) or record.get("EMAIL") or f"user {record['ID']}"
    row["email"] = record.get("EMAIL") or None
    row["active"] = _yes(record.get("ACTIVE", True))
    row["manager_id"] = record.get("_MANAGER")
    row["timezone"] = record.get("TIME_ZONE") or None
    return row


def _lead_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    status = record.get(ctx.lead_stage_field)
    stage = ctx.lead_stages.get(str(status or ""))
    if stage is None and record.get("_STATUS_NAME"):
        stage = ctx.lead_stages.get(str(record["_STATUS_NAME"]))
    if stage is None:
        semantics = record.get("STATUS_SEMANTIC_ID") or record.get("_SEMANTICS")
        stage = _BY_SEMANTICS.get(str(semantics or "")) or ctx.lead_stage(status)
    row["stage"] = stage
    if stage == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def _deal_status(record: CrmRecord) -> str:
    semantic = str(record.get("STAGE_SEMANTIC_ID") or "")
    if semantic in _SEMANTIC_STATUS:
        return _SEMANTIC_STATUS[semantic]
    stage = str(record.get("STAGE_ID") or "")
    plain = stage.split(":", 1)[1] if ":" in stage else stage
    return "won" if plain in _WON else "lost" if plain in _LOST else "open"


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["status"] = _deal_status(record)
    row["closed_at"] = None
    row["account_id"] = _id(row.get("account_id"))
    row["lead_id"] = _id(row.get("lead_id"))
    if row["status"] != "open" and record.get("CLOSEDATE"):
        created = parse_moment(record.get("DATE_CREATE"))
        close = parse_moment(record["CLOSEDATE"])
        row["closed_at"] = max(close, created) if close and created else close
    return row


def _activity(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    kind = _ACTIVITY_TYPES.get(str(record.get("TYPE_ID") or ""))
    if kind is None:
        provider = str(record.get("PROVIDER_ID") or "").upper()
        kind = "task" if "TASK" in provider or "TODO" in provider else "other"
    row["type"] = kind
    done = _yes(record.get("COMPLETED"))
    row["status"] = "done" if done else "planned"
    row["completed_at"] = None
    if done:
        end = parse_moment(record.get("END_TIME")) or parse_moment(record.get("LAST_UPDATED"))
        created = parse_moment(record.get("CREATED"))
        row["completed_at"] = end
        if end is not None and created is not None and end < created:
            row["created_at"] = end  # logged after it was held
    for column in _OWNER_COLUMNS.values():
        row[column] = None
    linked = _OWNER_COLUMNS.get(str(record.get("OWNER_TYPE_ID") or ""))
    if linked:
        row[linked] = _id(record.get("OWNER_ID"))
    return row


def bitrix24_mapping() -> CrmMapping:
    """The default mapping of Bitrix24's CRM (the module docstring says where each comes from)."""
    objects = (
        ObjectMap(
            "user",
            "users",
            {"user_id": "ID"},
            "TIMESTAMP_X",
            id_field="ID",
            extra=("NAME", "LAST_NAME", "EMAIL", "ACTIVE", "TIME_ZONE", "_MANAGER"),
            derive=_user,
            deletes=False,
            always_full=True,
        ),
        ObjectMap(
            "company",
            "accounts",
            {
                "account_id": "ID",
                "name": "TITLE",
                "created_at": "DATE_CREATE",
                "owner_id": "ASSIGNED_BY_ID",
                "segment": "INDUSTRY",
            },
            "DATE_MODIFY",
            id_field="ID",
        ),
        ObjectMap(
            "lead",
            "leads",
            {
                "lead_id": "ID",
                "created_at": "DATE_CREATE",
                "owner_id": "ASSIGNED_BY_ID",
                "source": "SOURCE_ID",
                "company": "COMPANY_TITLE",
            },
            "DATE_MODIFY",
            id_field="ID",
        ),
        ObjectMap(
            "lead_history",
            "lead_stage_events",
            {"lead_id": "OWNER_ID", "entered_at": "CREATED_TIME"},
            "CREATED_TIME",
            id_field="OWNER_ID",  # a rejected entry is named by its lead
            extra=("ID", "STATUS_ID", "STATUS_SEMANTIC_ID"),
            derive=_lead_stage,
            deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "deal",
            "deals",
            {
                "deal_id": "ID",
                "owner_id": "ASSIGNED_BY_ID",
                "created_at": "DATE_CREATE",
                "amount": "OPPORTUNITY",
                "account_id": "COMPANY_ID",
                "lead_id": "LEAD_ID",
            },
            "DATE_MODIFY",
            id_field="ID",
            extra=("STAGE_ID", "STAGE_SEMANTIC_ID", "CATEGORY_ID", "CLOSEDATE"),
            derive=_deal,
        ),
        ObjectMap(
            "deal_history",
            "deal_stage_events",
            {"deal_id": "OWNER_ID", "stage": "STAGE_ID", "entered_at": "CREATED_TIME"},
            "CREATED_TIME",
            id_field="OWNER_ID",
            extra=("ID",),
            deletes=False,
            collapse_repeats=True,
        ),
        ObjectMap(
            "activity",
            "activities",
            {
                "activity_id": "ID",
                "owner_id": "RESPONSIBLE_ID",
                "created_at": "CREATED",
                "due_at": "DEADLINE",
            },
            "LAST_UPDATED",
            id_field="ID",
            extra=("TYPE_ID", "PROVIDER_ID", "COMPLETED", "END_TIME", "OWNER_TYPE_ID", "OWNER_ID"),
            derive=_activity,
        ),
    )
    return CrmMapping("bitrix24", objects, lead_stage_field="STATUS_ID", lead_stages=LEAD_STATUSES)


# What each object is read with: the method, and for the stage history its entityTypeId.
_METHODS: dict[str, tuple[str, int | None]] = {
    "company": ("crm.company.list", None),
    "lead": ("crm.lead.list", None),
    "lead_history": ("crm.stagehistory.list", 1),
    "deal": ("crm.deal.list", None),
    "deal_history": ("crm.stagehistory.list", 2),
    "activity": ("crm.activity.list", None),
}


@dataclass(frozen=True)
class Bitrix24Auth:
    webhook_url: str  # with its trailing slash; holds the secret

    @property
    def portal(self) -> str:
        """The portal's origin, the part of the webhook that may be shown."""
        parts = urlsplit(self.webhook_url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def from_settings(cls, settings: Settings) -> Bitrix24Auth:
        """The webhook from the environment (`BITRIX24_WEBHOOK_URL`); a missing or malformed one is a CrmError
        saying what to set (without the secret)."""
        secret = settings.bitrix24_webhook_url
        url = (secret.get_secret_value() if secret else "").strip()
        if not url:
            raise CrmError(
                "BITRIX24_WEBHOOK_URL is not set (the inbound webhook's address, "
                "e.g. https://yourportal.bitrix24.ru/rest/1/<secret>/)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not _WEBHOOK_PATH.match(parts.path):
            shown = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "what is set"
            raise CrmError(
                "BITRIX24_WEBHOOK_URL must be an inbound webhook's address, "
                f"https://<portal>/rest/<user id>/<secret>/ (the one set, on {shown}, is not)"
            )
        return cls(url.rstrip("/") + "/")


class Bitrix24Client:
    """The REST API over httpx through an inbound webhook: limits waited out, 5xx retried."""

    def __init__(
        self,
        auth: Bitrix24Auth,
        *,
        page_size: int = PAGE,
        max_waits: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.page_size = page_size  # the walk ends at a shorter page
        self.max_waits = max_waits
        self.sleep = sleep
        self._http = httpx.Client(base_url=auth.webhook_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One method's whole answer (`result`, `next`, `total`, `time`)."""
        retries = Retries("Bitrix24", self.auth.portal, self.max_waits, self.sleep)
        while True:
            answer = retries.answer(lambda: self._http.post(f"{method}.json", json=params))
            body = json_body(answer)
            code = str(body.get("error") or "") if isinstance(body, dict) else ""
            if answer.status_code == 200 and isinstance(body, dict) and not code:
                return body
            limited = code in _LIMITS or answer.status_code in (429, 503)
            if (limited or answer.status_code >= 500) and retries.again(answer, code):
                continue
            said = _error(body, answer)
            if answer.status_code == 401 or code in _AUTH:
                raise CrmError(
                    f"Bitrix24 refused the webhook ({answer.status_code} {said}): check BITRIX24_WEBHOOK_URL",
                    status=answer.status_code,
                )
            if code == "insufficient_scope":
                raise CrmError(
                    f"Bitrix24 answered {method}: {said}; give the webhook the crm, user and department "
                    "permissions",
                    status=answer.status_code,
                )
            raise CrmError(
                f"Bitrix24 answered {method}: {answer.status_code} {said}", status=answer.status_code
            )

    def walk(
        self,
        method: str,
        select: tuple[str, ...],
        conditions: dict[str, Any],
        *,
        entity_type: int | None = None,
        started: list[datetime] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a list method matching `conditions`, by id (the fast walk: `>ID`, `start` -1);
        `started` gets the portal's moment the first page was asked for."""
        last = 0
        while True:
            params: dict[str, Any] = {
                "order": {"ID": "ASC"},
                "filter": {**conditions, ">ID": last},
                "select": list(select),
                "start": -1,
            }
            if entity_type is not None:
                params["entityTypeId"] = entity_type
            answer = self.call(method, params)
            if started is not None and not started:
                moment = parse_moment((answer.get("time") or {}).get("date_start"))
                started.append(moment or datetime.now(UTC))
            result = answer.get("result")
            if isinstance(result, dict):  # crm.stagehistory.list: {"items": [...]}
                result = result.get("items")
            records = [r for r in result or () if isinstance(r, dict)]
            yield from records
            if len(records) < self.page_size:
                return
            last = int(records[-1]["ID"])

    def pages(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every record of a small list method, paged by `start` and the answer's `next`."""
        start = 0
        while True:
            answer = self.call(method, {**params, "start": start})
            yield from (r for r in answer.get("result") or () if isinstance(r, dict))
            nxt = answer.get("next")
            if not isinstance(nxt, int) or nxt <= start:
                return
            start = nxt


def _error(body: Any, answer: httpx.Response) -> str:
    """Bitrix24's error body, `{"error": CODE, "error_description": text}`, as `CODE: text`."""
    if not isinstance(body, dict):
        return answer.reason_phrase
    code = str(body.get("error") or "").strip()
    text = " ".join(str(body.get("error_description") or "").split())[:300]
    return ": ".join(p for p in (code, text) if p) or answer.reason_phrase


def b24_moment(moment: datetime) -> str:
    """A datetime as a filter value: ISO 8601 with its offset, seconds (what Bitrix24 answers with)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


class Bitrix24Connector:
    """What the sync asks of a CRM: its mapping, the records of one object changed since a moment, and (by id
    reconciliation) the ids the portal no longer has."""

    crm = "bitrix24"

    def __init__(
        self, settings: Settings, client: Bitrix24Client, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(bitrix24_mapping(), settings.crm.bitrix24, settings)
        self.reconcile_every: timedelta = settings.crm.bitrix24.reconcile_every
        self._now = now or (lambda: datetime.now(UTC))
        self._engine: Engine | None = None
        self._started: dict[str, datetime] = {}
        self._statuses: dict[str, tuple[str, str]] | None = None
        self._read_whole: set[str] = set()  # objects read whole this run (a first or --full sync)

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> Bitrix24Connector:
        """The connector the settings describe (the webhook from `BITRIX24_WEBHOOK_URL`)."""
        now = client_options.pop("now", None)
        return cls(settings, Bitrix24Client(Bitrix24Auth.from_settings(settings), **client_options), now=now)

    def bind(self, engine: Engine) -> None:
        """The store the sync writes to: the id reconciliation compares the portal's ids with its."""
        self._engine = engine

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        if mapped.object == "user":
            yield from self._users()
            return
        method, entity_type = _METHODS[mapped.object]
        self._check_fields(mapped)
        conditions = {f">{mapped.stamp}": b24_moment(since)} if since is not None else {}
        if since is None:
            self._read_whole.add(mapped.key)
        started: list[datetime] = []
        select_fields = tuple(f for f in mapped.read if not f.startswith("_"))
        statuses = self._lead_statuses() if mapped.table == "lead_stage_events" else {}
        records = self.client.walk(
            method, select_fields, conditions, entity_type=entity_type, started=started
        )
        for record in records:
            if started:
                self._started[mapped.key] = started[0]
            clean = {key: (None if value == "" else value) for key, value in record.items()}
            status = statuses.get(str(clean.get(self.mapping.lead_stage_field) or ""))
            if status is not None:
                clean["_STATUS_NAME"], clean["_SEMANTICS"] = status
            yield clean

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        moment = parse_moment(record.get(mapped.stamp))
        started = self._started.get(mapped.key)
        if moment is None or started is None:
            return moment
        return min(moment, started - timedelta(seconds=1))  # what changed during the walk is read again

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions:
        """The stored ids the portal no longer has, when a reconciliation is due (cursor: when the last one ran)."""
        now = self._now()
        due = reconciliation_due(cursor, self.reconcile_every, now) or mapped.key in self._read_whole
        if self._engine is None or not due:
            return Deletions((), None)
        method, entity_type = _METHODS[mapped.object]
        present = {
            str(r["ID"]) for r in self.client.walk(method, ("ID",), {}, entity_type=entity_type) if "ID" in r
        }
        found = reconciled(self._engine, mapped, present, now)
        gone = tuple(
            i for i in found.ids if i.isdigit()
        )  # Bitrix24's ids are numbers: others are not its own
        return Deletions(tuple(sorted(gone, key=int)), found.cursor)

    def _check_fields(self, mapped: ObjectMap) -> None:
        """A field that `crm.bitrix24.fields` names must exist (`crm.<entity>.fields`): a list method leaves out an
        unknown field silently, which would empty a column without a word."""
        overrides = self.settings.crm.bitrix24.fields.get(mapped.object)
        method = _METHODS[mapped.object][0]
        if not overrides or not method.startswith("crm.") or method == "crm.stagehistory.list":
            return
        known = self.client.call(method.removesuffix(".list") + ".fields", {}).get("result") or {}
        for column, name in overrides.items():
            if name not in known:
                raise CrmError(
                    f"crm.bitrix24.fields.{mapped.object}.{column}: Bitrix24 has no field {name!r} on "
                    f"{mapped.object} ({method.removesuffix('.list')}.fields)"
                )

    def _lead_statuses(self) -> dict[str, tuple[str, str]]:
        """The portal's lead statuses: id → (name, semantics S / F / P)."""
        if self._statuses is None:
            self._statuses = {}
            for item in self.client.pages("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}}):
                if isinstance(item, dict) and item.get("STATUS_ID"):
                    extra = item.get("EXTRA")
                    extra = extra if isinstance(extra, dict) else {}
                    semantics = str(item.get("SEMANTICS") or extra.get("SEMANTICS") or "")
                    letter = {"success": "S", "failure": "F", "process": "P"}.get(
                        semantics.lower(), semantics
                    )
                    self._statuses[str(item["STATUS_ID"])] = (str(item.get("NAME") or ""), letter)
        return self._statuses

    def _users(self) -> Iterator[CrmRecord]:
        """Every user, each with its manager (`_MANAGER`) from the departments' heads."""
        departments = {
            str(d["ID"]): d for d in self.client.pages("department.get", {"sort": "ID", "order": "ASC"})
        }
        for user in self.client.pages("user.get", {"sort": "ID", "order": "ASC", "ADMIN_MODE": True}):
            yield {**user, "_MANAGER": _manager(str(user.get("ID")), user.get("UF_DEPARTMENT"), departments)}

    def close(self) -> None:
        self.client.close()


def _manager(user_id: str, departments: Any, tree: dict[str, dict[str, Any]]) -> str | None:
    """The head of the user's first department, or of the nearest department above it that another user heads."""
    ids = departments if isinstance(departments, list) else [departments] if departments else []
    current = str(ids[0]) if ids else None
    seen: set[str] = set()
    while current and current in tree and current not in seen:
        seen.add(current)
        head = _id(tree[current].get("UF_HEAD"))
        if head and head != user_id:
            return head
        current = _id(tree[current].get("PARENT"))
    return None


# -- export files ----------------------------------------------------------------------------------------------

# The columns of Bitrix24's list export ("Экспорт в CSV" / "Экспорт в Excel") of leads and deals, as its Russian
# interface heads them, for the fields the mapping reads; lower case.
BITRIX24_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "lead": {
        "id": ("ID",),
        "название лида": ("TITLE",),
        "стадия": ("STATUS_ID",),
        "статус": ("STATUS_ID",),
        "ответственный": ("ASSIGNED_BY",),
        "ответственный id": ("ASSIGNED_BY_ID",),
        "источник": ("SOURCE_ID",),
        "название компании": ("COMPANY_TITLE",),
        "дата создания": ("DATE_CREATE",),
        "дата изменения": ("DATE_MODIFY",),
    },
    "deal": {
        "id": ("ID",),
        "название сделки": ("TITLE",),
        "стадия сделки": ("STAGE_ID",),
        "стадия": ("STAGE_ID",),
        "ответственный": ("ASSIGNED_BY",),
        "ответственный id": ("ASSIGNED_BY_ID",),
        "сумма": ("OPPORTUNITY",),
        "дата создания": ("DATE_CREATE",),
        "дата изменения": ("DATE_MODIFY",),
        "предполагаемая дата закрытия": ("CLOSEDATE",),
        "дата завершения": ("CLOSEDATE",),
        "компания": ("COMPANY_TITLE",),
        "компания id": ("COMPANY_ID",),
        "лид": ("LEAD_ID",),
        "лид id": ("LEAD_ID",),
    },
}
BITRIX24_LABELS["lead_stage"] = BITRIX24_LABELS["lead"]
BITRIX24_LABELS["deal_stage"] = BITRIX24_LABELS["deal"]


def _export_owner(record: CrmRecord, row: dict[str, Any]) -> None:
    """The responsible user: the id `Bitrix24ExportConnector` found for the name in `Ответственный`; a name it
    could not place (one kpibot does not know, or one several users share) rejects the row."""
    if row.get("owner_id"):
        return
    named = str(record.get("ASSIGNED_BY") or "").strip()
    if named and not record.get("_OWNER"):
        raise ValueError(
            record.get("_OWNER_SHARED")
            or f"Ответственный {named!r} is no user kpibot knows by that name: sync or import the users first"
        )
    row["owner_id"] = record.get("_OWNER")


class Bitrix24ExportConnector(ExportConnector):
    """Bitrix24's export files: its responsible users are written by name (`Рита Иванова`), which the users
    already stored turn into ids (a name two users share, or an id in brackets after it, `Рита Иванова [7]`)."""

    _people: StoredPeople | None = None

    def bind(self, engine: Engine) -> None:
        self._people = StoredPeople.load(engine)

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        for record in super().read(mapped, since):
            named = str(record.get("ASSIGNED_BY") or "").strip()
            if named:
                found = re.search(r"\[(\d+)\]\s*$", named)
                owner = found.group(1) if found else (self._people.find(named) if self._people else None)
                shared = self._people.shared("Ответственный", named) if self._people and not owner else None
                record = {**record, "_OWNER": owner, "_OWNER_SHARED": shared}
            yield record


def _export_lead(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    _export_owner(record, row)
    return row


def _export_lead_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    _export_owner(record, row)
    return _lead_stage(record, row, ctx)


def _export_deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    _export_owner(record, row)
    amount = str(row.get("amount") or "").replace("\xa0", "").replace(" ", "").replace(",", ".")
    row["amount"] = amount or None
    return _deal(record, row, ctx)


def bitrix24_export_mapping() -> CrmMapping:
    """The export's objects: leads and deals, each at the stage the export shows (at its `Дата изменения`)."""
    owner = {"owner_id": "ASSIGNED_BY_ID"}
    lead = ("ASSIGNED_BY", "STATUS_ID")
    deal = ("ASSIGNED_BY", "STAGE_ID", "CLOSEDATE")
    objects = (
        ObjectMap(
            "lead",
            "leads",
            {"lead_id": "ID", "created_at": "DATE_CREATE", **owner, "source": "SOURCE_ID",
             "company": "COMPANY_TITLE"},
            "DATE_MODIFY", id_field="ID", extra=lead, derive=_export_lead, deletes=False,
        ),
        ObjectMap(
            "lead_stage",
            "lead_stage_events",
            {"lead_id": "ID", "entered_at": "DATE_MODIFY", **owner},
            "DATE_MODIFY", id_field="ID", extra=lead, derive=_export_lead_stage, deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "deal",
            "deals",
            {"deal_id": "ID", **owner, "created_at": "DATE_CREATE", "amount": "OPPORTUNITY",
             "account_id": "COMPANY_ID", "lead_id": "LEAD_ID"},
            "DATE_MODIFY", id_field="ID", extra=deal, derive=_export_deal, deletes=False,
        ),
        ObjectMap(
            "deal_stage",
            "deal_stage_events",
            {"deal_id": "ID", "stage": "STAGE_ID", "entered_at": "DATE_MODIFY"},
            "DATE_MODIFY", id_field="ID", deletes=False, collapse_repeats=True,
        ),
    )  # fmt: skip
    return CrmMapping("bitrix24", objects, lead_stage_field="STATUS_ID", lead_stages=LEAD_STATUSES)


def bitrix24_export_files(mapping: CrmMapping, path: Path) -> tuple[dict[str, Path], Partitions]:
    """The export files at `path` (a folder, or one file): a file whose name starts with `lead` / `deal` (or
    `лид` / `сдел`, as saved) is that object's, several such files (an export saved in parts) its partitions in
    name order; its stage is read from the same files. A file in Windows-1251 (as Bitrix24 writes CSV for Excel)
    is read as such."""
    from storage.errors import UserError

    kinds = {"lead": "lead", "лид": "lead", "deal": "deal", "сдел": "deal"}
    candidates = sorted(path.iterdir()) if path.is_dir() else [path]
    if not path.exists():
        raise UserError("import.no_file", "{path}: no such file", path=str(path))
    found: dict[str, list[Partition]] = {}
    for file in candidates:
        stem = file.stem.lower()
        kind = next((k for prefix, k in kinds.items() if stem.startswith(prefix)), None)
        if kind and file.suffix.lower() == ".csv":
            found.setdefault(kind, []).append(Partition(file, encoding=_encoding(file)))
    if not found:
        raise UserError(
            "import.no_export", "{path}: no export file of {crm} here (expected {names})",
            path=str(path), crm="bitrix24", names="lead*.csv, deal*.csv",
        )  # fmt: skip
    wanted = {m.object for m in mapping.objects}
    files: dict[str, Path] = {}
    partitions: dict[str, tuple[Partition, ...]] = {}
    for kind, parts in found.items():
        for name in (kind, f"{kind}_stage"):
            if name in wanted:
                files[name] = parts[0].path if len(parts) == 1 else path
                partitions[name] = tuple(parts)
    return files, partitions


def _encoding(file: Path) -> str:
    """UTF-8 (with or without its byte-order mark) when the whole file is that, else Windows-1251 (Bitrix24's CSV
    for Excel); read a megabyte at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with file.open("rb") as raw:
            while chunk := raw.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8-sig"


_EXPORT_MOMENTS = frozenset({"date_create", "date_modify"})


def bitrix24_dialect(settings: Settings | None = None) -> ExportDialect:
    """Bitrix24's export files: dates as its Russian interface writes them (`02.11.2026 12:00:00`, `02.11.2026`)
    in the portal's zone (`crm.bitrix24.export_timezone`, by default the org's), or ISO 8601."""
    zone_name = (settings.crm.bitrix24.export_timezone or settings.org.timezone) if settings else "UTC"
    zone = ZoneInfo(zone_name)

    def moment(value: str) -> datetime:
        for pattern in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
            try:
                return datetime.strptime(value, pattern).replace(tzinfo=zone)
            except ValueError:
                continue
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)

    def day(value: str) -> str:
        for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
            try:
                return datetime.strptime(value[:10], pattern).date().isoformat()
            except ValueError:
                continue
        raise ValueError(value)

    return ExportDialect(
        frozenset(),
        "DELETED",
        lambda name, value: name.lower() in _EXPORT_MOMENTS,
        moment,
        BITRIX24_LABELS,
        moment_format=f"DD.MM.YYYY HH:MM:SS in {zone_name} (crm.bitrix24.export_timezone), or ISO 8601",
        dates=frozenset({"closedate"}),
        parse_date=day,
        date_format="DD.MM.YYYY",
        configure=bitrix24_dialect,
    )
