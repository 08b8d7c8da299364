"""HubSpot: the CRM v3 API read incrementally with its search endpoints, and the default mapping of its standard
objects.

Auth, from the environment only: `HUBSPOT_ACCESS_TOKEN`, a private app's access token (Settings → Integrations →
Private Apps), sent as `Authorization: Bearer <token>`. A private app's token does not expire, so a 401 is a token
revoked or mistyped: a `CrmError` saying so. `HUBSPOT_BASE_URL` (default `https://api.hubapi.com`) points the client
at a proxy. The client is httpx: the endpoints read are few and plain JSON, and one client keeps the waits, retries
and error lines the same as the other connectors'.

Objects and where each mapping comes from:
- `owners` (`GET /crm/v3/owners`, active and archived) → users: `id`, `email`, `firstName` + `lastName`, active
  unless archived. HubSpot owners carry no manager, so no team follows from managers: an owner's primary team
  (`teams[].primary`) is its kpibot team (`hubspot-team-<id>`, named as in HubSpot); admins come from `crm.admins`.
- `companies` → accounts (`name`, `createdate`, `hubspot_owner_id`, `industry` → segment).
- `contacts` → leads (`createdate`, `hubspot_owner_id`, `hs_analytics_source` → source, `company`, `industry` →
  segment) and lead_stage_events from the lifecycle stage (`lifecyclestage`; `LIFECYCLE_STAGES` maps HubSpot's
  stages to the funnel, `crm.hubspot.lead_stages` adds custom ones): each stage's entry time is read from
  `hs_v2_date_entered_<stage>`, else the older `hs_lifecyclestage_<stage>_date`; a stage without either (a custom
  `lead_stage_field`) is recorded at the contact's `lastmodifieddate` when the sync sees it. Each (lead, stage)
  keeps its first entry; `lead` itself is not an event (every lead is one from its creation).
- `deals` → deals (`createdate`, `hubspot_owner_id`, `amount`, `dealstage`, `closedate`): the stage's metadata in
  the deal pipelines (`GET /crm/v3/pipelines/deals`) says closed (`isClosed`) and won (`probability` 1.0) or lost
  (0.0); `closed_at` is `closedate` of a closed deal. The account is the associated company (the primary one,
  association type 5, first), the lead the associated contact with the lowest id (`POST
  /crm/v4/associations/deals/<to>/batch/read`). Stage entries (deal_stage_events, by the stage's label) from
  `hs_v2_date_entered_<stageId>`, else `hs_date_entered_<stageId>`, for every stage of every deal pipeline; a deal
  with none recorded gets its current stage at `hs_lastmodifieddate`.
- engagements → activities: `calls` (`hs_call_status` COMPLETED, BUSY, NO_ANSWER → done at `hs_timestamp`;
  CANCELED, FAILED → cancelled; an empty status is a logged call, done), `meetings` (`hs_meeting_outcome` COMPLETED →
  done at `hs_meeting_end_time`; CANCELED, NO_SHOW → cancelled; else planned; due at `hs_meeting_start_time`),
  `emails` (done at `hs_timestamp`; BOUNCED / FAILED `hs_email_status` → cancelled), `tasks` (`hs_task_status`
  COMPLETED → done at `hs_task_completion_date`; DEFERRED → cancelled; else planned; due at `hs_timestamp`). Each is
  linked to its first associated contact, deal and company.

Reads: `POST /crm/v3/objects/<type>/search` with a filter on the modification stamp (`lastmodifieddate` for
contacts, `hs_lastmodifieddate` for the others) `GT` the watermark, sorted by it ascending, `limit`
(`crm.hubspot.page_size`, at most 200) and the `after` cursor. The search API answers at most 10 000 results per
query, so before the cursor reaches that the search is asked again from the last stamp read (`GTE`, leaving out the
records already read at that stamp); a run of more than a query's worth of records at one stamp is walked by
`hs_object_id`. The search endpoints take about five requests a second per account: the client keeps
`crm.hubspot.searches_per_second` (default 4) and waits out a 429 all the same.

Deletions: HubSpot's search never returns archived (deleted) records, so after each object's records the sync
lists the archived ones (`GET /crm/v3/objects/<type>?archived=true`) and deletes those archived after the last
`archivedAt` it saw (kept as the deletion feed's cursor). A record purged for good (a GDPR delete) leaves no
archived copy and is not seen.

Export files (`kpibot import --from hubspot PATH`): the CSVs HubSpot's Export of a contacts, companies or deals
view writes (`contacts.csv`, `companies.csv`, `deals.csv`: a file is named after its object), with the labels the
export heads its columns with (`EXPORT_COLUMNS`: "Record ID", "Create Date", "Lifecycle Stage", "Contact owner",
"Deal Stage", "Amount", "Close Date", "Deal owner" …). The export writes a property's label, not its value: a
lifecycle stage's label is read as its value ("Marketing Qualified Lead" → `marketingqualifiedlead`), a deal
stage's label is kept as it is (won / lost by the default pipeline's "Closed Won" / "Closed Lost"), an owner's name
(or email) is looked up among the users kpibot has (a sync, or `kpibot import users`, brings them). Stage entries
come from the "Became a … Date" columns (contacts) and the `Date entered "<stage> (<pipeline>)"` columns (both
objects, as HubSpot writes them for its stage-tracking properties); moments as the export writes them,
`2026-11-02 09:00` in the exporting user's time zone (`crm.hubspot.export_timezone`, by default the org's), or ISO
8601 with an offset; the associated company and contact from "Associated Company IDs" / "Associated Contact IDs"
(the first id) when the export holds them.

Faults: a limit answer (429, with HubSpot's body `{"status": "error", "category": "RATE_LIMITS", …}`) is waited
out (Retry-After when given, else backoff), 5xx and lost connections retried with backoff; 401 / 403 (a missing
scope) and anything else are a one-line `CrmError` with HubSpot's message and category.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from storage.config.settings import Settings
from storage.crm.exports import ExportConnector, Partitions, StoredPeople
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
from storage.crm.sync import CrmError, Deletions

__all__ = [
    "LIFECYCLE_STAGES",
    "HubspotAuth",
    "HubspotClient",
    "HubspotConnector",
    "HubspotExport",
    "EXPORT_COLUMNS",
    "hubspot_mapping",
    "lifecycle_entry_fields",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
SEARCH_CAP = 10_000  # results one search query answers at most

# HubSpot's default lifecycle stages (internal values) → kpibot's funnel.
LIFECYCLE_STAGES = {
    "": "lead",
    "subscriber": "lead",
    "lead": "lead",
    "marketingqualifiedlead": "mql",
    "salesqualifiedlead": "sql",
    "opportunity": "opportunity",
    "customer": "won",
    "evangelist": "won",  # a customer who recommends: still won
    "other": "disqualified",  # a contact kept for another reason (a partner, a vendor): out of the funnel
}
# The default sales pipeline's closing stages, for a deal whose pipeline metadata is not at hand (export files).
WON_STAGES = frozenset({"closedwon", "closed won"})
LOST_STAGES = frozenset({"closedlost", "closed lost"})

_STAMP = "hs_lastmodifieddate"
_CONTACT_STAMP = "lastmodifieddate"
_CALL_STATUS = {
    "COMPLETED": "done",
    "BUSY": "done",
    "NO_ANSWER": "done",
    "": "done",
    "CANCELED": "cancelled",
    "FAILED": "cancelled",
}
_MEETING_OUTCOME = {"COMPLETED": "done", "CANCELED": "cancelled", "NO_SHOW": "cancelled"}
_TASK_STATUS = {"COMPLETED": "done", "DEFERRED": "cancelled"}
# An engagement's associations, each the record field its first associated id goes to.
_LINKS = {"contacts": "_contact", "deals": "_deal", "companies": "_company"}


def lifecycle_entry_fields(stage: str) -> tuple[str, str]:
    """The properties holding when a contact entered lifecycle stage `stage`: the current one, the older one."""
    return f"hs_v2_date_entered_{stage}", f"hs_lifecyclestage_{stage}_date"


def deal_entry_fields(stage_id: str) -> tuple[str, str]:
    """The properties holding when a deal entered stage `stage_id`."""
    return f"hs_v2_date_entered_{stage_id}", f"hs_date_entered_{stage_id}"


def hubspot_moment(moment: datetime) -> str:
    """A datetime as a search filter value: milliseconds since the epoch."""
    return str(int(moment.astimezone(UTC).timestamp() * 1000))


def _user(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    parts = [str(record.get(f) or "").strip() for f in ("firstName", "lastName")]
    row["name"] = " ".join(p for p in parts if p) or record.get("email") or str(record["id"])
    row["active"] = not record.get("archived")
    teams = [t for t in record.get("teams") or () if isinstance(t, dict) and t.get("id")]
    primary = [t for t in teams if t.get("primary")] or teams
    if primary:
        row["team_id"] = f"hubspot-team-{primary[0]['id']}"
        row["team_name"] = str(primary[0].get("name") or primary[0]["id"])
    return row


def _lead_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["stage"] = ctx.lead_stage(record.get(ctx.lead_stage_field))
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def deal_status(record: CrmRecord) -> str:
    """won / lost / open: the stage's pipeline metadata when the connector put it on the record (`_closed`,
    `_probability`), else the default pipeline's stage ids and labels."""
    if "_closed" in record:
        if not record["_closed"]:
            return "open"
        return "won" if float(record.get("_probability") or 0.0) >= 1.0 else "lost"
    stage = str(record.get("dealstage") or "").strip().lower()
    return "won" if stage in WON_STAGES else "lost" if stage in LOST_STAGES else "open"


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["status"] = deal_status(record)
    row["closed_at"] = None
    if row["status"] != "open" and record.get("closedate"):
        created = parse_moment(record.get("createdate"))
        close = parse_moment(record["closedate"])
        row["closed_at"] = max(close, created) if close and created else close
    return row


def _activity(kind: str) -> Callable[[CrmRecord, dict[str, Any], MapContext], dict[str, Any]]:
    def derive(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
        row["type"] = kind
        row["completed_at"] = None
        at = record.get("hs_timestamp")
        if kind == "call":
            row["status"] = _CALL_STATUS.get(str(record.get("hs_call_status") or "").upper(), "planned")
        elif kind == "meeting":
            row["status"] = _MEETING_OUTCOME.get(
                str(record.get("hs_meeting_outcome") or "").upper(), "planned"
            )
            row["due_at"] = record.get("hs_meeting_start_time") or at
            at = record.get("hs_meeting_end_time") or row["due_at"]
        elif kind == "email":
            failed = str(record.get("hs_email_status") or "").upper() in ("BOUNCED", "FAILED")
            row["status"] = "cancelled" if failed else "done"
        else:
            row["status"] = _TASK_STATUS.get(str(record.get("hs_task_status") or "").upper(), "planned")
            row["due_at"] = at
            at = record.get("hs_task_completion_date") or record.get(_STAMP)
        if row["status"] == "done":
            row["completed_at"] = at
            done, created = parse_moment(at), parse_moment(row.get("created_at"))
            if done is not None and created is not None and done < created:
                row["created_at"] = at  # logged after it was held
        return row

    return derive


def hubspot_mapping() -> CrmMapping:
    """The default mapping of HubSpot's standard objects (the module docstring says where each comes from)."""
    activity = {"activity_id": "id", "owner_id": "hubspot_owner_id", "created_at": "hs_createdate"}
    activity |= {"lead_id": "_contact", "deal_id": "_deal", "account_id": "_company"}
    deletes = {"id_field": "id", "deleted_field": "archived"}
    objects = (
        ObjectMap(
            "owners",
            "users",
            {"user_id": "id", "email": "email"},
            "updatedAt",
            id_field="id",
            extra=("firstName", "lastName", "archived", "teams"),
            derive=_user,
            deletes=False,
            deleted_field="_never",
            always_full=True,
        ),
        ObjectMap(
            "companies",
            "accounts",
            {"account_id": "id", "name": "name", "created_at": "createdate", "owner_id": "hubspot_owner_id"}
            | {"segment": "industry"},
            _STAMP,
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "contacts",
            "leads",
            {"lead_id": "id", "created_at": "createdate", "owner_id": "hubspot_owner_id"}
            | {"source": "hs_analytics_source", "company": "company", "segment": "industry"},
            _CONTACT_STAMP,
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "contacts",
            "lead_stage_events",
            {"lead_id": "id", "entered_at": "_entered", "owner_id": "hubspot_owner_id"},
            _CONTACT_STAMP,
            id_field="id",
            extra=("lifecyclestage",),
            derive=_lead_stage,
            deletes=False,
            deleted_field="archived",
            first_entry_only=True,
        ),
        ObjectMap(
            "deals",
            "deals",
            {"deal_id": "id", "owner_id": "hubspot_owner_id", "created_at": "createdate", "amount": "amount"}
            | {"account_id": "_company", "lead_id": "_contact"},
            _STAMP,
            extra=("dealstage", "closedate", "pipeline"),
            derive=_deal,
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "deals",
            "deal_stage_events",
            {"deal_id": "id", "stage": "_stage", "entered_at": "_entered"},
            _STAMP,
            id_field="id",
            extra=("dealstage", "pipeline"),
            deletes=False,
            deleted_field="archived",
        ),
        ObjectMap(
            "calls",
            "activities",
            {**activity, "due_at": "hs_timestamp"},
            _STAMP,
            extra=("hs_call_status", "hs_timestamp"),
            derive=_activity("call"),
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "meetings",
            "activities",
            activity,
            _STAMP,
            extra=("hs_meeting_outcome", "hs_meeting_start_time", "hs_meeting_end_time", "hs_timestamp"),
            derive=_activity("meeting"),
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "emails",
            "activities",
            {**activity, "due_at": "hs_timestamp"},
            _STAMP,
            extra=("hs_email_status", "hs_timestamp"),
            derive=_activity("email"),
            **deletes,  # type: ignore[arg-type]
        ),
        ObjectMap(
            "tasks",
            "activities",
            activity,
            _STAMP,
            extra=("hs_task_status", "hs_timestamp", "hs_task_completion_date"),
            derive=_activity("task"),
            **deletes,  # type: ignore[arg-type]
        ),
    )
    return CrmMapping("hubspot", objects, lead_stage_field="lifecyclestage", lead_stages=LIFECYCLE_STAGES)


@dataclass(frozen=True)
class HubspotAuth:
    token: str
    base_url: str = DEFAULT_BASE_URL

    @classmethod
    def from_settings(cls, settings: Settings) -> HubspotAuth:
        """The token from the environment (`HUBSPOT_ACCESS_TOKEN`); missing, a CrmError saying what to set."""
        token = settings.hubspot_access_token.get_secret_value() if settings.hubspot_access_token else ""
        if not token.strip():
            raise CrmError(
                "HUBSPOT_ACCESS_TOKEN is not set (a private app's access token: Settings → Integrations → "
                "Private Apps)"
            )
        url = (settings.hubspot_base_url or DEFAULT_BASE_URL).strip().rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise CrmError(f"HUBSPOT_BASE_URL must start with https:// (or http:// for a proxy), not {url!r}")
        return cls(token.strip(), url)


class HubspotClient:
    """HubSpot's CRM v3 API over httpx: a Bearer token, the search API paged within its limits, limits waited
    out, 5xx retried."""

    def __init__(
        self,
        auth: HubspotAuth,
        *,
        page_size: int = 100,
        searches_per_second: float = 4.0,
        search_cap: int = SEARCH_CAP,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.page_size = page_size
        self.search_cap = search_cap
        self.max_waits = max_waits
        self.sleep = sleep
        self.clock = clock
        self._interval = 1.0 / searches_per_second if searches_per_second > 0 else 0.0
        self._last_search: float | None = None
        self._http = httpx.Client(
            base_url=auth.base_url, timeout=timeout, headers={"Authorization": f"Bearer {auth.token}"}
        )

    def close(self) -> None:
        self._http.close()

    # -- reads --------------------------------------------------------------------------------------------------
    def owners(self) -> Iterator[dict[str, Any]]:
        """Every owner, active ones then archived ones (those carry `archived: true`)."""
        for archived in ("false", "true"):
            yield from self._list("/crm/v3/owners", {"limit": 100, "archived": archived})

    def archived(self, object_type: str) -> Iterator[dict[str, Any]]:
        """The archived (deleted) records of `object_type`, each with its `archivedAt`."""
        params = {"limit": 100, "archived": "true", "properties": "hs_object_id"}
        yield from self._list(f"/crm/v3/objects/{object_type}", params)

    def pipelines(self) -> list[dict[str, Any]]:
        """The deal pipelines with their stages (`id`, `label`, `metadata.isClosed`, `metadata.probability`)."""
        body = self._request("GET", "/crm/v3/pipelines/deals")
        return [p for p in body.get("results") or () if isinstance(p, dict)]

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """For each id of `from_type`, the associated ids of `to_type`, primary associations (type 5 for deals'
        companies) first, then by id. An id without any is answered among the batch's `errors` (207), not here."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            body = self._request(
                "POST",
                f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                json={"inputs": [{"id": i} for i in chunk]},
            )
            for result in body.get("results") or ():
                source = str((result.get("from") or {}).get("id") or "")
                targets = []
                for target in result.get("to") or ():
                    types = {t.get("typeId") for t in target.get("associationTypes") or ()}
                    targets.append((0 if 5 in types else 1, int(target.get("toObjectId") or 0)))
                found[source] = [str(t) for _, t in sorted(targets)]
        return found

    def search(
        self, object_type: str, properties: Iterable[str], stamp: str, since: datetime | None
    ) -> Iterator[dict[str, Any]]:
        """Every record of `object_type` whose `stamp` is after `since` (all without), oldest change first (see
        the module docstring for how the 10 000-result cap is kept)."""
        names = list(dict.fromkeys([*properties, stamp, "hs_object_id"]))
        lower, operator = since, "GT"
        seen: set[str] = set()  # ids read at the stamp `lower`
        while True:
            filters = (
                [{"propertyName": stamp, "operator": operator, "value": hubspot_moment(lower)}]
                if lower
                else []
            )
            after: str | None = None
            fresh = 0
            capped = False
            while True:
                page = self._search(object_type, names, filters, stamp, after)
                for record in page["results"]:
                    record_id = str(record["id"])
                    moment = parse_moment(record["properties"].get(stamp))
                    if moment is not None and moment == lower and record_id in seen:
                        continue
                    if moment is not None and moment != lower:
                        lower, seen = moment, set()
                    seen.add(record_id)
                    fresh += 1
                    yield record
                after = page["after"]
                if after is None:
                    return
                if int(after) + self.page_size > self.search_cap:
                    capped = True
                    break
            if lower is None:
                raise CrmError(
                    f"HubSpot's {object_type} carry no {stamp}: a sync cannot page past the search cap"
                )
            if capped and fresh == 0:
                # A query's worth of records at one stamp: walk that stamp by id, then go on after it.
                yield from self._tie(object_type, names, stamp, lower, seen)
                operator, seen = "GT", set()
            else:
                operator = "GTE"

    def _tie(
        self, object_type: str, names: list[str], stamp: str, moment: datetime, seen: set[str]
    ) -> Iterator[dict[str, Any]]:
        last = 0  # the server's order within one stamp is its own: walk all of them, skipping those read
        while True:
            filters = [
                {"propertyName": stamp, "operator": "EQ", "value": hubspot_moment(moment)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last)},
            ]
            page = self._search(object_type, names, filters, "hs_object_id", None)
            for record in page["results"]:
                last = int(record["id"])
                if str(record["id"]) not in seen:
                    yield record
            if len(page["results"]) < self.page_size:
                return

    def _search(
        self, object_type: str, names: list[str], filters: list[dict[str, str]], sort: str, after: str | None
    ) -> dict[str, Any]:
        if self._interval and self._last_search is not None:
            wait = self._interval - (self.clock() - self._last_search)
            if wait > 0:
                self.sleep(wait)
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": names,
            "limit": self.page_size,
        }
        if after is not None:
            body["after"] = after
        try:
            answer = self._request("POST", f"/crm/v3/objects/{object_type}/search", json=body)
        finally:
            self._last_search = self.clock()
        results = [r for r in answer.get("results") or () if isinstance(r, dict) and r.get("id") is not None]
        for record in results:
            record["properties"] = record.get("properties") or {}
        nxt = ((answer.get("paging") or {}).get("next") or {}).get("after")
        return {"results": results, "after": str(nxt) if nxt not in (None, "") else None}

    def _list(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            body = self._request("GET", path, params={**params, **({"after": after} if after else {})})
            for record in body.get("results") or ():
                if isinstance(record, dict):
                    yield record
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        retries = Retries("HubSpot", self.auth.base_url, self.max_waits, self.sleep)
        while True:
            answer = retries.answer(lambda: self._http.request(method, path, params=params, json=json))
            if answer.status_code in (200, 207):  # 207: a batch read with some inputs answered by errors
                body = json_body(answer)
                if not isinstance(body, dict):
                    raise CrmError(f"HubSpot answered {path} with something other than a JSON object")
                return body
            if (answer.status_code == 429 or answer.status_code >= 500) and retries.again(
                answer, _error(answer)
            ):
                continue
            if answer.status_code == 401:
                raise CrmError(
                    f"HubSpot refused the access token ({_error(answer)}): check HUBSPOT_ACCESS_TOKEN",
                    status=401,
                )
            raise CrmError(
                f"HubSpot answered {path}: {answer.status_code} {_error(answer)}", status=answer.status_code
            )


def _error(answer: httpx.Response) -> str:
    """HubSpot's error body, `{"status": "error", "message": …, "category": …}`, as `category: message`."""
    body = json_body(answer)
    if not isinstance(body, dict):
        return answer.reason_phrase
    category = str(body.get("category") or "").strip()
    text = " ".join(str(body.get("message") or "").split())[:300]
    return ": ".join(p for p in (category, text) if p) or answer.reason_phrase


class HubspotConnector:
    """What the sync asks of a CRM: its mapping, the records of one object changed since a moment, and the
    records archived since the last sync."""

    crm = "hubspot"

    def __init__(self, settings: Settings, client: HubspotClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(hubspot_mapping(), settings.crm.hubspot, settings)
        self._stages: dict[str, dict[str, Any]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> HubspotConnector:
        """The connector the settings describe (the token from `HUBSPOT_ACCESS_TOKEN`)."""
        auth = HubspotAuth.from_settings(settings)
        section = settings.crm.hubspot
        options = {"page_size": section.page_size, "searches_per_second": section.searches_per_second}
        return cls(settings, HubspotClient(auth, **{**options, **client_options}))

    def stages(self) -> dict[str, dict[str, Any]]:
        """Every deal stage by id: its label, pipeline, closed and probability (read once per sync)."""
        if self._stages is None:
            self._stages = {}
            for pipeline in self.client.pipelines():
                for stage in pipeline.get("stages") or ():
                    meta = stage.get("metadata") or {}
                    self._stages[str(stage["id"])] = {
                        "label": str(stage.get("label") or stage["id"]),
                        "order": stage.get("displayOrder") or 0,
                        "closed": str(meta.get("isClosed")).lower() == "true",
                        "probability": meta.get("probability"),
                    }
        return self._stages

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        if mapped.object == "owners":
            for owner in self.client.owners():
                yield {**owner, "id": str(owner.get("id") or "")}
            return
        properties = [p for p in mapped.read if p != "id" and not p.startswith("_")]
        if mapped.table == "lead_stage_events" and self.mapping.lead_stage_field == "lifecyclestage":
            for value in self.mapping.lead_stages:
                if value:
                    properties.extend(lifecycle_entry_fields(value))
        if mapped.object == "deals":
            stages = self.stages()
            if mapped.table == "deal_stage_events":
                for stage_id in stages:
                    properties.extend(deal_entry_fields(stage_id))
        for page in _pages(self.client.search(mapped.object, properties, mapped.stamp, since), 100):
            records = [{**r["properties"], "id": str(r["id"])} for r in page]
            if mapped.object == "deals" and mapped.table == "deals":
                self._deal_links(records)
            elif mapped.table == "activities":
                self._activity_links(mapped.object, records)
            for record in records:
                clean = {key: (None if value == "" else value) for key, value in record.items()}
                if mapped.table == "lead_stage_events":
                    yield from self._lead_entries(clean, mapped)
                elif mapped.table == "deal_stage_events":
                    yield from self._deal_entries(clean, mapped)
                else:
                    yield clean

    def _deal_links(self, records: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in records]
        companies = self.client.associations("deals", "companies", ids)
        contacts = self.client.associations("deals", "contacts", ids)
        stages = self.stages()
        for record in records:
            record["_company"] = next(iter(companies.get(record["id"]) or ()), None)
            found = sorted(contacts.get(record["id"]) or (), key=int)
            record["_contact"] = found[0] if found else None
            stage = stages.get(str(record.get("dealstage") or ""))
            if stage is not None:
                record["_closed"] = stage["closed"]
                record["_probability"] = stage["probability"]

    def _activity_links(self, object_type: str, records: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in records]
        for to_type, key in _LINKS.items():
            linked = self.client.associations(object_type, to_type, ids)
            for record in records:
                record[key] = next(iter(linked.get(record["id"]) or ()), None)

    def _lead_entries(self, record: dict[str, Any], mapped: ObjectMap) -> Iterator[dict[str, Any]]:
        field = self.mapping.lead_stage_field
        entered = False
        dated = (
            self.mapping.lead_stages if field == "lifecyclestage" else {}
        )  # the entry dates are lifecycle's
        for value in dated:
            moment = next(
                (record.get(f) for f in lifecycle_entry_fields(value) if value and record.get(f)), None
            )
            if moment:
                entered = True
                yield {**record, field: value, "_entered": moment}
        if not entered and record.get(field) is not None:
            yield {**record, "_entered": record.get(mapped.stamp)}

    def _deal_entries(self, record: dict[str, Any], mapped: ObjectMap) -> Iterator[dict[str, Any]]:
        stages = self.stages()
        entered = False
        for stage_id, stage in stages.items():
            moment = next((record.get(f) for f in deal_entry_fields(stage_id) if record.get(f)), None)
            if moment:
                entered = True
                yield {**record, "_stage": stage["label"], "_entered": moment}
        current = str(record.get("dealstage") or "")
        if not entered and current:
            label = stages.get(current, {}).get("label") or current
            yield {**record, "_stage": label, "_entered": record.get(mapped.stamp)}

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions:
        """The records of the object archived after `cursor` (an `archivedAt`), and the newest `archivedAt`."""
        since = parse_moment(cursor) if cursor else None
        ids: list[str] = []
        newest = since
        for record in self.client.archived(mapped.object):
            at = parse_moment(record.get("archivedAt"))
            if at is None or since is None or at > since:
                ids.append(str(record.get("id")))
            if at is not None and (newest is None or at > newest):
                newest = at
        return Deletions(tuple(ids), newest.isoformat() if newest else cursor)

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return parse_moment(record.get(mapped.stamp))

    def close(self) -> None:
        self.client.close()


def _pages(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# The column labels HubSpot's export writes, by object (lower case) → the property the mapping reads.
_EXPORT_COMMON = {"record id": "id", "create date": "createdate", "last modified date": _STAMP}
EXPORT_COLUMNS: dict[str, dict[str, str]] = {
    "companies": {
        **_EXPORT_COMMON,
        "company name": "name",
        "name": "name",
        "company owner": "hubspot_owner_id",
        "industry": "industry",
    },
    "contacts": {
        **_EXPORT_COMMON,
        "last modified date": _CONTACT_STAMP,
        "contact owner": "hubspot_owner_id",
        "lifecycle stage": "lifecyclestage",
        "original source": "hs_analytics_source",
        "original traffic source": "hs_analytics_source",
        "company name": "company",
        "industry": "industry",
    },
    "deals": {
        **_EXPORT_COMMON,
        "deal owner": "hubspot_owner_id",
        "deal stage": "dealstage",
        "amount": "amount",
        "close date": "closedate",
        "pipeline": "pipeline",
        "associated company ids": "_company",
        "associated company ids (primary)": "_company",
        "associated contact ids": "_contact",
    },
}
_MOMENT_PROPERTIES = frozenset({"createdate", "closedate", _STAMP, _CONTACT_STAMP})
_BECAME = re.compile(r"^became an? (.+) date$")
_ENTERED = re.compile(r"^date entered [\"'“]?(.+?) \((.+)\)[\"'”]?$")


def _stage_value(label: str) -> str:
    """A lifecycle stage's label as its internal value: "Marketing Qualified Lead" → marketingqualifiedlead."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


class HubspotExport(ExportConnector):
    """HubSpot's export files read as its API would answer (see the module docstring)."""

    def __init__(
        self,
        crm: str,
        mapping: CrmMapping,
        files: dict[str, Path],
        settings: Settings,
        partitions: Partitions | None = None,
    ) -> None:
        super().__init__(crm, mapping, files, partitions=partitions)
        self.zone = ZoneInfo(settings.crm.hubspot.export_timezone or settings.org.timezone)
        self.owners = StoredPeople({})  # an owner as the file names them (name, email or id) → their id

    def bind(self, engine: Engine) -> None:
        """The store, whose users are the owners the files name."""
        self.owners = StoredPeople.load(engine)

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        for row in super().read(mapped, since):
            record = self._record(dict(row), mapped)
            if mapped.table == "lead_stage_events":
                yield from self._entries(record, "_lifecycle", mapped, self.mapping.lead_stage_field)
            elif mapped.table == "deal_stage_events":
                yield from self._entries(record, "_deal_stages", mapped, "_stage")
            else:
                yield record

    def _read_file(self, mapped: ObjectMap, partition: Any) -> Iterator[dict[str, Any]]:
        source = partition.open(mapped.table)
        try:
            for found in source.records():
                values = dict(found.values)
                values["_line"] = found.line
                if found.problem:
                    values["_problem"] = found.problem
                yield values
        finally:
            source.close()

    def _record(self, values: dict[str, Any], mapped: ObjectMap) -> dict[str, Any]:
        columns = EXPORT_COLUMNS.get(mapped.object, {})
        record: dict[str, Any] = {"_line": values.pop("_line")}
        if "_problem" in values:
            record["_problem"] = values.pop("_problem")
        lifecycle: dict[str, Any] = {}
        deal_stages: dict[str, Any] = {}
        for column, raw in values.items():
            key = " ".join(str(column).strip().split()).lower()
            value = raw.strip() if isinstance(raw, str) else raw
            if value in ("", None):
                continue
            name = columns.get(key)
            became, entered = _BECAME.match(key), _ENTERED.match(key)
            try:
                if name in _MOMENT_PROPERTIES:
                    record[name] = self._moment(str(value))
                elif name == "hubspot_owner_id":
                    owner = self.owners.find(value)
                    if owner is None:
                        record["_problem"] = self.owners.shared(column, value) or (
                            f"{column}={value!r} is not a kpibot user (run `kpibot sync hubspot` or import users)"
                        )
                    record[name] = owner
                elif name == "lifecyclestage":
                    record[name] = _stage_value(str(value))
                elif name in ("_company", "_contact"):
                    record[name] = str(value).replace(",", ";").split(";")[0].strip() or None
                elif name is not None:
                    record[name] = value
                elif became and mapped.object == "contacts":
                    lifecycle[_stage_value(became.group(1))] = self._moment(str(value))
                elif entered and mapped.object == "contacts" and "lifecycle" in entered.group(2):
                    lifecycle[_stage_value(entered.group(1))] = self._moment(str(value))
                elif entered and mapped.object == "deals":
                    deal_stages[str(raw_label(column, entered.group(1)))] = self._moment(str(value))
            except ValueError:
                record["_problem"] = (
                    f"{column}={value!r} is not a date and time (expected YYYY-MM-DD HH:MM in "
                    f"{self.zone.key}, crm.hubspot.export_timezone, or ISO 8601)"
                )
        record["_lifecycle"], record["_deal_stages"] = lifecycle, deal_stages
        return record

    def _moment(self, value: str) -> datetime:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def _entries(
        self, record: dict[str, Any], key: str, mapped: ObjectMap, stage_field: str
    ) -> Iterator[dict[str, Any]]:
        entries = record.pop(key)
        if record.get("_problem"):
            yield record  # a row that cannot be read is one reject, whatever stages it entered
            return
        for stage, moment in sorted(entries.items(), key=lambda item: item[1]):
            yield {**record, stage_field: stage, "_entered": moment}
        if entries:
            return
        current = record.get("dealstage") if mapped.table == "deal_stage_events" else record.get(stage_field)
        if current:  # no entry dates exported: the current stage, at the record's last modification
            yield {**record, stage_field: current, "_entered": record.get(mapped.stamp)}


def raw_label(column: str, label: str) -> str:
    """A deal stage's label as the export's column writes it (its case kept): `Date entered "Closed Won (Sales
    Pipeline)"` → Closed Won."""
    start = column.lower().find(label)
    return column[start : start + len(label)] if start >= 0 else label
