"""Pipedrive: its REST API (v2 where Pipedrive has it, v1 for users and leads) read incrementally, and the default
mapping of its standard objects.

Auth, from the environment only: `PIPEDRIVE_API_TOKEN`, the personal API token of a user made for kpibot (Personal
preferences → API), sent as the `x-api-token` header (never in the query string, where proxies log it); the company
as `PIPEDRIVE_COMPANY_DOMAIN` (`acme` for https://acme.pipedrive.com) or `PIPEDRIVE_URL` (the whole origin, used with
the scheme it is given: http:// for a proxy or a test server). Pipedrive's API tokens do not expire; a 401 is a
token revoked or mistyped, one line saying which variable to check.

Reads, each object into its table:
- `GET /api/v1/users` → users (`id, name, email, active_flag, locale, timezone_name`; `modified` is the stamp),
  read whole every time. Pipedrive has no manager field: `crm.pipedrive.managers` (a user's email → their manager's
  email) says who reports to whom, and a manager's reports form a team as for the other CRMs.
- `GET /api/v2/organizations` → accounts (`id, name, add_time, owner_id`).
- `GET /api/v1/leads` (`archived_status=all`, `sort=update_time DESC`) → leads (`id, add_time, owner_id,
  source_name` → source) and lead_stage_events. Pipedrive's leads have labels, not stages: a lead is at `lead` from
  its `add_time`; its label names (`GET /api/v1/leadLabels`) map to funnel stages by `crm.pipedrive.lead_stages`
  (defaults below: Pipedrive's own labels Cold → lead, Warm → mql, Hot → sql; a lead with several labels is at the
  furthest; `crm.pipedrive.lead_stage_field` names a custom lead field to read instead of the labels), an archived
  lead is `disqualified`, each stage recorded at the lead's `update_time` when a sync first sees it. The leads API
  takes no `updated_since`: the newest-changed leads are read first, and the walk stops at the first lead older
  than the watermark.
  A lead converted into a deal becomes that deal's opportunity: Pipedrive's deal names no lead, so the link is the
  deal field `crm.pipedrive.fields.deals.lead_id` names (a custom field that keeps the lead's id), when a team keeps
  one; the funnel then counts the lead's opportunity and win from the deal. Pipedrive marks a converted lead
  deleted, so a lead converted before the first sync was never read: a deal's or an activity's link to a lead not
  kept here is left out (the store is asked, through `bind`), and the record lands.
- `GET /api/v2/deals` (`updated_since`, `sort_by=update_time`, `status=open,won,lost,deleted`) → deals (`id,
  owner_id, add_time, value, currency, org_id, lost_reason`; `status` as Pipedrive's; `closed_at` its `won_time` or
  `lost_time`), and deal_stage_events from each changed deal's flow (`GET /api/v1/deals/{id}/flow?items=dealChange`):
  the deal's first stage at its `add_time`, then each `stage_id` change at its `log_time`, named by
  `GET /api/v2/stages` (with the pipeline's name in front, `Sales / Qualified`, when there is more than one pipeline,
  `GET /api/v2/pipelines`).
- `GET /api/v2/activities` (`updated_since`) → activities: Pipedrive's types call, meeting, email, task kept,
  deadline → task, lunch → meeting, any custom type → other; `done` → done at `marked_as_done_time`, else planned;
  `due_date` + `due_time` (UTC) the due moment; `deal_id`, `lead_id`, `org_id` the links.
Persons (contacts) are not read: kpibot keeps no contacts.

Paging: the v2 lists by cursor (`limit`, `cursor`; `additional_data.next_cursor` until it is null), the v1 lists by
`start` / `limit` (`additional_data.pagination.more_items_in_collection`). `updated_since` includes its own moment,
so the record at the watermark is read again; the upsert makes that harmless.

Deletions: deals by `status=deleted`, which lists the deals deleted in the last 30 days with their `update_time`
at the deletion, so a sync at least monthly sees each (`is_deleted` true). Organizations and activities by a
periodic id reconciliation (Pipedrive's lists leave deleted ones out and keep no deletion feed): every
`crm.pipedrive.reconcile_every` (default a day) the ids Pipedrive lists are compared with those kept here, and the
ones gone are deleted. Leads are not reconciled: a converted lead leaves Pipedrive's leads but stays here, at its
stages, so a lead deleted in Pipedrive stays too.

Export files (`kpibot import --from pipedrive PATH`): Pipedrive's export of a list view (Deals, Organizations,
Activities → Export, CSV) heads each column with the object and the field's label, `Deal - ID`, `Deal - Title`,
`Deal - Value`, `Deal - Currency`, `Deal - Status`, `Deal - Won time`, `Deal - Owner`; a linked object's fields come
with their own object's name (`Organization - ID` in the deals' file, `Deal - ID` in the activities'). A file is
named after its object (`deals.csv`, `organizations.csv`, `activities.csv`). `PipedriveRows` reads those labels
(`EXPORT_LABELS`) into the API's field names; the owner columns hold a user's name, looked up among kpibot's users
(by name or email; a sync or `kpibot import users` brings them), and an owner kpibot does not know is a bad row
naming it. The export writes moments without a zone, in the exporting user's time zone: they are read in the
org's (`org.timezone`). A deal's stage entry is its `Stage` at its `Last stage change` (its creation when it never
moved): the export holds no flow. Leads and users are not read from files (their lists have no export kpibot reads).

Limits and faults: Pipedrive meters each token by a daily budget and a two-second burst window; a 429 is waited out
(Retry-After, else `x-ratelimit-reset`), other 5xx and lost connections retried with backoff; a 429 with
`x-daily-requests-left: 0`, or one asking to wait more than five minutes, means the day's budget is spent, and the
sync stops with that one line (the next run
after midnight goes on from the watermarks). Anything else is a `CrmError`, one line, without the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, select

from storage.config.settings import Settings
from storage.crm.exports import StoredPeople
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
from storage.schema import Lead

__all__ = [
    "LEAD_STAGES",
    "PipedriveAuth",
    "PipedriveClient",
    "PipedriveConnector",
    "PipedriveRows",
    "pipedrive_mapping",
]

log = logging.getLogger(__name__)

# A lead's label names → kpibot's funnel (`crm.pipedrive.lead_stages` adds more). `""`: a lead without a label;
# `archived`: an archived lead, whatever its labels.
LEAD_STAGES = {"": "lead", "Cold": "lead", "Warm": "mql", "Hot": "sql", "archived": "disqualified"}
ACTIVITY_TYPES = {
    "call": "call",
    "meeting": "meeting",
    "email": "email",
    "task": "task",
    "deadline": "task",
    "lunch": "meeting",
}
DEAL_STATUSES = ("open", "won", "lost", "deleted")
_LONGEST_WAIT = 300  # seconds a 429 is waited out; a longer wait is a spent daily budget (till the next day)
_STAMP = "update_time"
# The order a lead's labels are ranked in (the default funnel; a stage of a team's own funnel ranks after it).
_FUNNEL = ("lead", "mql", "sal", "sql", "opportunity", "won", "lost", "disqualified")
_LABELS = "_labels"  # the lead's label names, filled in by the connector
_STAGE = "_stage"  # a stage entry's stage name, filled in by the connector
_DUE_AT = "_due_at"  # an export row's due moment, without a zone (read in the org's)


def pipedrive_moment(moment: datetime) -> str:
    """A datetime as `updated_since` takes it: RFC 3339 in UTC, seconds (`2026-11-01T09:00:00Z`)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["name"] = row.get("name") or record.get("email") or str(record["id"])
    row["active"] = record.get("active_flag") is not False
    return row


def _stages_of(record: CrmRecord, ctx: MapContext) -> str:
    """The furthest funnel stage a lead's labels (or its archiving) map to."""
    if record.get("is_archived"):
        return ctx.lead_stage("archived")
    if ctx.lead_stage_field != "label":  # a custom lead field the team keeps its stages in
        return ctx.lead_stage(record.get(ctx.lead_stage_field))
    labels = record.get(_LABELS) or [""]
    stages = [ctx.lead_stage(label) for label in labels]
    return max(stages, key=lambda stage: _FUNNEL.index(stage) if stage in _FUNNEL else 2)


def _lead_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["stage"] = _stages_of(record, ctx)
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    status = str(record.get("status") or "open")
    if status not in ("open", "won", "lost"):
        raise ValueError(f"deal status {status!r} is not open, won or lost")
    row["status"] = status
    row["closed_at"] = (
        record.get("won_time") if status == "won" else record.get("lost_time") if status == "lost" else None
    )
    if row.get("amount") is not None:
        row["amount"] = str(row["amount"])
    return row


def _activity(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["type"] = ACTIVITY_TYPES.get(str(record.get("type") or "").lower(), "other")
    done = record.get("done") is True
    row["status"] = "done" if done else "planned"
    row["completed_at"] = (record.get("marked_as_done_time") or record.get(_STAMP)) if done else None
    row["due_at"] = record.get(_DUE_AT) or _due(record.get("due_date"), record.get("due_time"))
    return row


def _due(day: Any, at: Any) -> datetime | None:
    """Pipedrive's `due_date` (`2026-11-03`) and `due_time` (`10:00`, UTC; empty for a whole day) as one moment."""
    if not day:
        return None
    moment = parse_moment(str(day))
    if moment is None:
        return None
    if at:
        hours, _, minutes = str(at).partition(":")
        moment = datetime.combine(moment.date(), clock(int(hours), int(minutes[:2] or 0)), tzinfo=UTC)
    return moment


def pipedrive_mapping() -> CrmMapping:
    """The default mapping of Pipedrive's standard objects (the module docstring says where each comes from)."""
    objects = (
        ObjectMap(
            "users",
            "users",
            {
                "user_id": "id",
                "name": "name",
                "email": "email",
                "manager_id": "_manager",
                "timezone": "timezone_name",
                "locale": "locale",
            },
            "modified",
            id_field="id",
            extra=("active_flag",),
            derive=_user,
            deletes=False,
            always_full=True,
        ),
        ObjectMap(
            "organizations",
            "accounts",
            {"account_id": "id", "name": "name", "created_at": "add_time", "owner_id": "owner_id"},
            _STAMP,
            id_field="id",
            deleted_field="is_deleted",
        ),
        ObjectMap(
            "leads",
            "leads",
            {"lead_id": "id", "created_at": "add_time", "owner_id": "owner_id", "source": "source_name"},
            _STAMP,
            id_field="id",
            deletes=False,
        ),
        ObjectMap(
            "leads",
            "lead_stage_events",
            {"lead_id": "id", "entered_at": _STAMP, "owner_id": "owner_id"},
            _STAMP,
            id_field="id",
            extra=("is_archived", "label_ids"),
            derive=_lead_stage,
            deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "deals",
            "deals",
            {
                "deal_id": "id",
                "owner_id": "owner_id",
                "created_at": "add_time",
                "amount": "value",
                "currency": "currency",
                "account_id": "org_id",
                "lost_reason": "lost_reason",
            },
            _STAMP,
            id_field="id",
            extra=("status", "won_time", "lost_time"),
            derive=_deal,
            deleted_field="is_deleted",
        ),
        ObjectMap(
            "deals",
            "deal_stage_events",
            {"deal_id": "id", "stage": _STAGE, "entered_at": "entered_at"},
            _STAMP,
            id_field="id",
            deletes=False,
            deleted_field="is_deleted",
            collapse_repeats=True,
        ),
        ObjectMap(
            "activities",
            "activities",
            {
                "activity_id": "id",
                "owner_id": "owner_id",
                "created_at": "add_time",
                "deal_id": "deal_id",
                "lead_id": "lead_id",
                "account_id": "org_id",
            },
            _STAMP,
            id_field="id",
            extra=("type", "done", "marked_as_done_time", "due_date", "due_time"),
            derive=_activity,
            deleted_field="is_deleted",
        ),
    )
    return CrmMapping("pipedrive", objects, lead_stage_field="label", lead_stages=LEAD_STAGES)


@dataclass(frozen=True)
class PipedriveAuth:
    url: str
    token: str

    @classmethod
    def from_settings(cls, settings: Settings) -> PipedriveAuth:
        """The company's origin and the API token from the environment; a missing one is a CrmError saying what to
        set."""
        url = (settings.pipedrive_url or "").strip().rstrip("/")
        domain = (settings.pipedrive_company_domain or "").strip()
        if not url and domain:
            name = domain.removesuffix(".pipedrive.com")
            if not name or not all(c.isalnum() or c == "-" for c in name):
                raise CrmError(f"PIPEDRIVE_COMPANY_DOMAIN must be the company's name (acme), not {domain!r}")
            url = f"https://{name}.pipedrive.com"
        if not url:
            raise CrmError(
                "PIPEDRIVE_COMPANY_DOMAIN (acme for https://acme.pipedrive.com) or PIPEDRIVE_URL is not set"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CrmError(f"PIPEDRIVE_URL must start with https:// (or http:// for a proxy), not {url!r}")
        token = settings.pipedrive_api_token.get_secret_value() if settings.pipedrive_api_token else ""
        if not token.strip():
            raise CrmError("PIPEDRIVE_API_TOKEN is not set (the kpibot user's Personal preferences → API)")
        return cls(f"{parts.scheme}://{parts.netloc}", token.strip())


class PipedriveClient:
    """Pipedrive's REST API over httpx: the token in `x-api-token`, cursor and offset paging, limits waited out."""

    def __init__(
        self,
        auth: PipedriveAuth,
        *,
        page_size: int = 500,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.page_size = page_size
        self.max_waits = max_waits
        self.sleep = sleep
        self._http = httpx.Client(
            base_url=f"{auth.url}/api/", timeout=timeout, headers={"x-api-token": auth.token}
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One answer of `GET /api/<path>`, its whole JSON body (`success`, `data`, `additional_data`)."""
        retries = Retries("Pipedrive", self.auth.url, self.max_waits, self.sleep)
        while True:
            answer = retries.answer(lambda: self._http.get(path, params=params))
            if answer.status_code == 200:
                body = json_body(answer)
                if not isinstance(body, dict) or body.get("success") is False:
                    raise CrmError(f"Pipedrive answered {path} without its data ({_error(answer)})")
                return body
            if answer.status_code == 401:
                raise CrmError(
                    f"Pipedrive refused the API token (401 {_error(answer)}); check PIPEDRIVE_API_TOKEN",
                    status=401,
                )
            hint = answer.headers.get("Retry-After") or answer.headers.get("x-ratelimit-reset")
            if answer.status_code == 429 and answer.headers.get("x-daily-requests-left", "").strip() == "0":
                raise CrmError(
                    "Pipedrive's daily API budget of this token is spent (429, x-daily-requests-left: 0); "
                    "the next sync after midnight goes on from here",
                    status=429,
                )
            if answer.status_code == 429 and hint and hint.strip().isdigit() and int(hint) > _LONGEST_WAIT:
                raise CrmError(
                    f"Pipedrive's API budget of this token is spent (429, retry after {int(hint)} s); "
                    "the next sync after that goes on from here",
                    status=429,
                )
            if (answer.status_code == 429 or answer.status_code >= 500) and retries.again(
                answer, f"on {path}", retry_after=hint
            ):
                continue
            raise CrmError(
                f"Pipedrive answered {path}: {answer.status_code} {_error(answer)}", status=answer.status_code
            )

    def cursor_pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a v2 list, page after page by `cursor`."""
        cursor: str | None = None
        while True:
            query = {**params, "limit": self.page_size, **({"cursor": cursor} if cursor else {})}
            body = self.get(path, query)
            yield from (item for item in body.get("data") or () if isinstance(item, dict))
            cursor = ((body.get("additional_data") or {}).get("next_cursor")) or None
            if not cursor:
                return

    def offset_pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a v1 list, page after page by `start`."""
        start = 0
        while True:
            body = self.get(path, {**params, "start": start, "limit": self.page_size})
            items = [item for item in body.get("data") or () if isinstance(item, dict)]
            yield from items
            paging = (body.get("additional_data") or {}).get("pagination") or {}
            if not paging.get("more_items_in_collection") or not items:
                return
            start = int(paging.get("next_start") or start + len(items))


def _error(answer: httpx.Response) -> str:
    """Pipedrive's error body, `{"success": false, "error": text, "error_info": hint}`, as one short line."""
    body = json_body(answer)
    if not isinstance(body, dict):
        return answer.reason_phrase
    text = " ".join(str(body.get("error") or body.get("message") or "").split())[:300]
    return text or answer.reason_phrase


class PipedriveConnector:
    """What the sync asks of a CRM: its mapping, and the records of one object changed since a moment."""

    crm = "pipedrive"

    def __init__(self, settings: Settings, client: PipedriveClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(pipedrive_mapping(), settings.crm.pipedrive, settings)
        self._labels: dict[str, str] | None = None
        self._stages: dict[int, str] | None = None
        self._engine: Engine | None = None
        self._leads_read: set[str] = set()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def bind(self, engine: Engine) -> None:
        """The store the sync writes to: a deal's or an activity's lead is linked only when it is kept there."""
        self._engine = engine

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> PipedriveConnector:
        """The connector the settings describe (the token and company from `PIPEDRIVE_*` in the environment)."""
        auth = PipedriveAuth.from_settings(settings)
        options = {"page_size": settings.crm.pipedrive.page_size}
        return cls(settings, PipedriveClient(auth, **{**options, **client_options}))

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """The object's records changed at or after `since` (all of them without), as the mapping reads them."""
        if mapped.object == "users":
            yield from self._users()
        elif mapped.object == "leads":
            yield from self._leads(since)
        elif mapped.table == "deal_stage_events":
            for deal in _deletions(self._changed("v2/deals", since, status=",".join(DEAL_STATUSES))):
                if not deal.get("is_deleted"):
                    yield from self._stage_entries(deal)
        else:
            path = {"organizations": "v2/organizations", "deals": "v2/deals", "activities": "v2/activities"}
            extra = {"status": ",".join(DEAL_STATUSES)} if mapped.object == "deals" else {}
            records = self._changed(path[mapped.object], since, **extra)
            if mapped.object == "deals":
                records = _deletions(records)
            if "lead_id" in mapped.fields:
                records = self._known_leads(records, mapped.fields["lead_id"])
            yield from records

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return parse_moment(record.get(mapped.stamp))

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions:
        """Organizations and activities deleted in Pipedrive: every `crm.pipedrive.reconcile_every`, the ids
        Pipedrive lists now, compared with the ids kept here (the cursor is the last comparison's moment). Deals
        arrive deleted among the changed ones (`status=deleted`)."""
        path = {"organizations": "v2/organizations", "activities": "v2/activities"}.get(mapped.object)
        now = self.clock()
        if path is None or self._engine is None:
            return Deletions((), cursor)
        if not reconciliation_due(cursor, self.settings.crm.pipedrive.reconcile_every, now):
            return Deletions((), cursor)
        listed = {str(record["id"]) for record in self.client.cursor_pages(path, {})}
        return reconciled(self._engine, mapped, listed, now)

    def close(self) -> None:
        self.client.close()

    # -- objects ------------------------------------------------------------------------------------------------
    def _changed(self, path: str, since: datetime | None, **params: Any) -> Iterator[dict[str, Any]]:
        query = {"sort_by": "update_time", "sort_direction": "asc", **params}
        if since is not None:
            query["updated_since"] = pipedrive_moment(since)
        for record in self.client.cursor_pages(path, query):
            yield _flat(record)

    def _known_leads(self, records: Iterator[dict[str, Any]], link: str) -> Iterator[dict[str, Any]]:
        """The records with their lead link left out where kpibot keeps no such lead: Pipedrive removes a lead
        converted into a deal, so one converted before the first sync was never read."""
        batch: list[dict[str, Any]] = []

        def flush() -> Iterator[dict[str, Any]]:
            wanted = {str(r[link]) for r in batch if r.get(link) not in (None, "")} - self._leads_read
            if wanted and self._engine is not None:
                with self._engine.connect() as conn:
                    self._leads_read |= set(
                        conn.execute(select(Lead.lead_id).where(Lead.lead_id.in_(wanted))).scalars()
                    )
            for record in batch:
                if record.get(link) not in (None, "") and str(record[link]) not in self._leads_read:
                    record[link] = None
                yield record

        for record in records:
            batch.append(record)
            if len(batch) >= 500:
                yield from flush()
                batch = []
        yield from flush()

    def _users(self) -> Iterator[dict[str, Any]]:
        users = [_flat(u) for u in self.client.get("v1/users").get("data") or () if isinstance(u, dict)]
        by_email = {str(u.get("email") or "").lower(): str(u["id"]) for u in users if u.get("email")}
        managers = {k.lower(): v.lower() for k, v in self.settings.crm.pipedrive.managers.items()}
        for user in users:
            manager = managers.get(str(user.get("email") or "").lower())
            user["_manager"] = by_email.get(manager) if manager else None
            if user.get("modified") and " " in str(user["modified"]):
                user["modified"] = _utc(user["modified"])
            yield user

    def _leads(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        if self._labels is None:
            answer = self.client.get("v1/leadLabels").get("data") or ()
            self._labels = {
                str(label["id"]): str(label.get("name") or "") for label in answer if isinstance(label, dict)
            }
        query = {"archived_status": "all", "sort": "update_time DESC"}
        for lead in self.client.offset_pages("v1/leads", query):
            changed = parse_moment(lead.get(_STAMP))
            if since is not None and changed is not None and changed < since:
                return  # the rest changed before the watermark
            record = _flat(lead)
            record[_LABELS] = [
                self._labels.get(str(label), str(label)) for label in lead.get("label_ids") or ()
            ]
            self._leads_read.add(str(record["id"]))
            yield record

    def _stage_names(self) -> dict[int, str]:
        if self._stages is None:
            pipelines = {
                int(p["id"]): str(p.get("name") or p["id"])
                for p in self.client.cursor_pages("v2/pipelines", {})
            }
            several = len(pipelines) > 1
            self._stages = {}
            for stage in self.client.cursor_pages("v2/stages", {}):
                name = str(stage.get("name") or stage["id"])
                pipeline = pipelines.get(int(stage.get("pipeline_id") or 0))
                self._stages[int(stage["id"])] = f"{pipeline} / {name}" if several and pipeline else name
        return self._stages

    def _stage_name(self, stage_id: Any) -> str:
        if stage_id in (None, ""):
            return ""
        return self._stage_names().get(int(stage_id), f"stage {stage_id}")

    def _stage_entries(self, deal: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The deal's stage entries from its flow: its first stage at `add_time`, each change at its `log_time`."""
        changes = []
        flow = self.client.offset_pages(f"v1/deals/{deal['id']}/flow", {"items": "dealChange"})
        for item in flow:
            data = item.get("data") or {}
            if item.get("object") == "dealChange" and data.get("field_key") == "stage_id":
                changes.append(data)
        changes.sort(key=lambda c: str(c.get("log_time") or ""))
        first = changes[0].get("old_value") if changes else deal.get("stage_id")
        entries = [(first, deal.get("add_time"))]
        entries += [(c.get("new_value"), _utc(c.get("log_time"))) for c in changes]
        for stage_id, moment in entries:
            if stage_id in (None, "") or not moment:
                continue
            yield {
                "id": deal["id"],
                _STAGE: self._stage_name(stage_id),
                "entered_at": moment,
                _STAMP: deal.get(_STAMP),
            }


def _deletions(deals: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Deals with `is_deleted` true also when only their status says `deleted`."""
    for deal in deals:
        deal["is_deleted"] = deal.get("is_deleted") is True or deal.get("status") == "deleted"
        yield deal


def _utc(moment: Any) -> str | None:
    """A v1 moment, `2026-11-01 09:00:00` in UTC, as ISO 8601 with its offset."""
    return f"{str(moment).replace(' ', 'T')}+00:00" if moment else None


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its custom fields (v2's `custom_fields` object, keyed by field key) beside its own, ids as text
    and empty strings as None."""
    flat = {k: v for k, v in record.items() if k != "custom_fields"}
    flat.update(record.get("custom_fields") or {})
    for key, value in list(flat.items()):
        if value == "":
            flat[key] = None
    for key in ("id", "owner_id", "org_id", "deal_id", "organization_id", "person_id"):
        if isinstance(flat.get(key), int) and not isinstance(flat.get(key), bool):
            flat[key] = str(flat[key])
    return flat


# The labels Pipedrive's export heads its columns with (`<Object> - <field label>`, lower case), for the fields the
# mapping reads, by object: each label's API field name.
EXPORT_LABELS: dict[str, dict[str, str]] = {
    "organizations": {
        "organization - id": "id",
        "organization - name": "name",
        "organization - owner": "owner_id",
        "organization - organization created": "add_time",
        "organization - update time": _STAMP,
    },
    "deals": {
        "deal - id": "id",
        "deal - title": "title",
        "deal - owner": "owner_id",
        "deal - value": "value",
        "deal - currency": "currency",
        "deal - status": "status",
        "deal - deal created": "add_time",
        "deal - update time": _STAMP,
        "deal - won time": "won_time",
        "deal - lost time": "lost_time",
        "deal - lost reason": "lost_reason",
        "deal - stage": _STAGE,
        "deal - last stage change": "stage_change_time",
        "organization - id": "org_id",
    },
    "activities": {
        "activity - id": "id",
        "activity - type": "type",
        "activity - assigned to user": "owner_id",
        "activity - add time": "add_time",
        "activity - update time": _STAMP,
        "activity - due date": "due_date",
        "activity - due time": "due_time",
        "activity - done": "done",
        "activity - marked as done time": "marked_as_done_time",
        "deal - id": "deal_id",
        "organization - id": "org_id",
    },
}
_OWNERS = {"owner_id"}
_EXPORT_MOMENTS = {"add_time", _STAMP, "won_time", "lost_time", "stage_change_time", "marked_as_done_time"}
_DONE = {"done", "yes", "true", "1"}


class PipedriveRows:
    """Pipedrive's export rows as its API's records (the module docstring says how)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._owners: StoredPeople | None = None
        self._engine: Engine | None = None

    @classmethod
    def from_folder(cls, folder: Path) -> PipedriveRows:
        return cls(folder)

    def bind(self, engine: Engine) -> None:
        """The store, where the owners' names are looked up."""
        self._engine = engine

    def _owner(self, column: str, name: str, record: dict[str, Any]) -> str:
        """The owner's id; a name kpibot does not know stays as it is (the users check names it), and a name
        several users share is the row's problem."""
        if self._owners is None and self._engine is not None:
            self._owners = StoredPeople.load(self._engine)
        if self._owners is None:
            return name
        shared = self._owners.shared(column, name)
        if shared:
            record["_problem"] = shared
        return self._owners.find(name) or name

    def native(self, values: dict[str, Any], mapped: ObjectMap) -> dict[str, Any]:
        """A file row as the API gives it: labels as field names, owners' names as their ids, moments in the org's
        time zone."""
        labels = EXPORT_LABELS.get(mapped.object, {})
        record: dict[str, Any] = {}
        for column, value in values.items():
            name = labels.get(" ".join(str(column).split()).lower()) or (
                str(column) if str(column) in mapped.read else None
            )
            if name is None:
                continue
            text = value.strip() if isinstance(value, str) else value
            if text in ("", None):
                record[name] = None
            elif name in _OWNERS:
                record[name] = self._owner(str(column), str(text), record)
            elif name == "status":
                record[name] = str(text).lower()
            elif name == "done":
                record[name] = str(text).lower() in _DONE
            elif name in _EXPORT_MOMENTS:
                record[name] = self._moment(str(text), name, record)
            else:
                record[name] = text
        if mapped.table == "deal_stage_events":
            record["entered_at"] = record.get("stage_change_time") or record.get("add_time")
        if record.get("due_date"):  # the export's due date and time are the exporting user's wall clock
            at = f"T{record['due_time']}" if record.get("due_time") else ""
            record[_DUE_AT] = f"{record['due_date']}{at}"
        return record

    def _moment(self, text: str, name: str, record: dict[str, Any]) -> datetime | None:
        """A moment as the export writes it; without a zone it stays so, and the import reads it in the org's."""
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            record["_problem"] = f"{name}={text!r} is not a date and time (expected 2026-11-05 09:00:00)"
            return None
