"""SugarCRM: the REST API v11 read incrementally, and the default mapping of its standard modules.

Auth, from the environment only: `SUGARCRM_URL` (the instance, with its path if Sugar lives under one),
`SUGARCRM_USERNAME` and `SUGARCRM_PASSWORD` for OAuth 2.0's password grant
(`POST {url}/rest/v{version}/oauth2/token`), `SUGARCRM_CLIENT_ID` (default `sugar`, Sugar's own client, which takes an
empty secret) with `SUGARCRM_CLIENT_SECRET` for a client an administrator registered, and `SUGARCRM_PLATFORM`
(default `base`; a platform of its own keeps the sync from logging the same user out of the web client, and the
other way round). The REST path's version is `crm.sugarcrm.api_version` (default `11_20`, `/rest/v11_20/`).

Reads: `POST .../<Module>/filter` with a JSON body — `filter: [{"date_modified": {"$gt": <watermark>}}]`,
`order_by: "date_modified:ASC,id:ASC"`, `max_num`, `offset`, `fields` — answered `{"next_offset": n | -1,
"records": [...]}`. Paging does not walk `offset` through one result set: a record changed while the pages are read
moves to the end of that set and every later record one place up, so an offset walk would skip one. Each next page
asks again from the last stamp read (`$gte`), leaving out the records already read at that stamp; when a whole page
shares one stamp (a mass update), that stamp is walked by id (`$gte` and `$lte` the stamp, `id` `$gt` the last one
read, `order_by: "id:ASC"`) before going on after it.

Deletions: the filter API's documented `deleted: true` argument includes deleted records in the result set; Sugar
marks a record deleted (`deleted` true) and stamps its `date_modified` when it is deleted, so the records deleted
since the watermark arrive with the changed ones and are deleted here too. (A record purged from the database
without being marked first is not seen; `kpibot sync sugarcrm --full` reads everything again.)

History: Sugar keeps field changes in its audit log, but the REST API reads it one record at a time
(`GET .../<Module>/<id>/audit`), far too slow for a whole CRM. So the stage a sync sees is recorded at the record's
`date_modified`: a lead's status as a lead stage event (each stage's first entry only), an opportunity's
`sales_stage` as a deal stage event (a stage that repeats the deal's last one — an amount edited — is dropped).
Run every `crm.sync_every`, the sync sees each stage a record passes through, to within that interval.

Activities: Calls and Meetings held are done at `date_end` (a call logged after it was held counts as created when
it ended), not held → cancelled; Tasks completed are done at their `date_modified` (Sugar keeps no completion time),
deferred → cancelled; anything else is planned. `parent_type` / `parent_id` link an activity to its lead,
opportunity or account.

Faults: an expired or revoked access token (401 `invalid_grant`) is refreshed with the refresh token (a fresh login
when that is refused too), once per request; a limit answer (429, 503) is waited out (Retry-After when given), other
5xx and lost connections retried with backoff; anything else is a `CrmError`, one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from storage.config.settings import Settings
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
from storage.crm.sync import CrmError

__all__ = [
    "LEAD_STATUSES",
    "SugarcrmAuth",
    "SugarcrmClient",
    "SugarcrmConnector",
    "sugarcrm_mapping",
]

log = logging.getLogger(__name__)

# Sugar's default lead status dropdown (`lead_status_dom`) → kpibot's funnel (`crm.sugarcrm.lead_stages` adds more).
LEAD_STATUSES = {
    "": "lead",
    "New": "lead",
    "Assigned": "mql",
    "In Process": "mql",
    "Converted": "opportunity",
    "Recycled": "disqualified",
    "Dead": "disqualified",
}
# Sugar's default sales stages (`sales_stage_dom`) that close an opportunity.
WON_STAGES = frozenset({"Closed Won"})
LOST_STAGES = frozenset({"Closed Lost"})

_PARENTS = {"Leads": "lead_id", "Opportunities": "deal_id", "Accounts": "account_id"}
_ACTIVITY_STATUS = {
    "held": "done",
    "completed": "done",
    "not held": "cancelled",
    "deferred": "cancelled",
}
_STAMP = "date_modified"


def sugar_moment(moment: datetime) -> str:
    """A datetime as a filter value: UTC, seconds, `+00:00` (Sugar stores seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _truthy(value: Any) -> bool:
    """Sugar's booleans: JSON true/false, or 1/0 and "1"/"0" from older formatters."""
    return value is True or str(value).strip().lower() in ("1", "true")


def _user(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    if not row.get("name"):
        parts = [str(record.get(f) or "").strip() for f in ("first_name", "last_name")]
        row["name"] = " ".join(p for p in parts if p) or record.get("user_name") or record["id"]
    if not row.get("email"):
        addresses = record.get("email") or []
        primary = [a for a in addresses if isinstance(a, dict) and _truthy(a.get("primary_address"))]
        chosen = (primary or [a for a in addresses if isinstance(a, dict)] or [{}])[0]
        row["email"] = chosen.get("email_address") or None
    row["active"] = str(record.get("status") or "Active") == "Active"
    return row


def _current_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    # The stage a lead is at, seen at its modification time; the sync keeps only each stage's first entry.
    opportunity = record.get("opportunity_id")
    if opportunity:
        ctx.conversions[str(opportunity)] = str(record["id"])
    row["stage"] = ctx.lead_stage(record.get(ctx.lead_stage_field))
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    stage = str(record.get("sales_stage") or "")
    row["status"] = "won" if stage in WON_STAGES else "lost" if stage in LOST_STAGES else "open"
    row["closed_at"] = None
    if row["status"] != "open" and record.get("date_closed"):
        # date_closed is a date; a deal closed on the day it was created is closed after its creation, not before.
        created = parse_moment(record.get("date_entered"))
        close = parse_moment(record["date_closed"])
        row["closed_at"] = max(close, created) if close and created else close
    lead = ctx.conversions.get(str(record["id"]))
    if lead is not None:
        row["lead_id"] = lead  # else the stored link stays as it is
    return row


def _links(record: CrmRecord, row: dict[str, Any]) -> None:
    for column in _PARENTS.values():
        row[column] = None
    linked = _PARENTS.get(str(record.get("parent_type") or ""))
    if linked and record.get("parent_id"):
        row[linked] = str(record["parent_id"])


def _status(record: CrmRecord) -> str:
    return _ACTIVITY_STATUS.get(str(record.get("status") or "").strip().lower(), "planned")


def _held(kind: str) -> Callable[[CrmRecord, dict[str, Any], MapContext], dict[str, Any]]:
    """A call or a meeting: done when held, at its end."""

    def derive(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
        row["type"] = kind
        row["status"] = _status(record)
        row["completed_at"] = None
        if row["status"] == "done":
            end = parse_moment(record.get("date_end")) or parse_moment(record.get("date_start"))
            created = parse_moment(record.get("date_entered"))
            row["completed_at"] = end
            if end is not None and created is not None and end < created:
                row["created_at"] = end  # logged after it was held
        _links(record, row)
        return row

    return derive


def _task(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["type"] = "task"
    row["status"] = _status(record)
    row["completed_at"] = record.get(_STAMP) if row["status"] == "done" else None
    _links(record, row)
    return row


def sugarcrm_mapping() -> CrmMapping:
    """The default mapping of SugarCRM's standard modules (the module docstring says where each comes from)."""
    activity = {
        "activity_id": "id",
        "owner_id": "assigned_user_id",
        "created_at": "date_entered",
        "due_at": "date_start",
    }
    held = ("status", "date_start", "date_end", "parent_type", "parent_id")
    objects = (
        ObjectMap(
            "Users",
            "users",
            {
                "user_id": "id",
                "name": "full_name",
                "email": "email1",
                "manager_id": "reports_to_id",
                "locale": "preferred_language",
            },
            _STAMP,
            id_field="id",
            extra=("first_name", "last_name", "user_name", "status", "email"),
            derive=_user,
            deletes=False,
        ),
        ObjectMap(
            "Accounts",
            "accounts",
            {
                "account_id": "id",
                "name": "name",
                "created_at": "date_entered",
                "owner_id": "assigned_user_id",
                "segment": "industry",
            },
            _STAMP,
            id_field="id",
            deleted_field="deleted",
        ),
        ObjectMap(
            "Campaigns",
            "campaigns",
            {
                "campaign_id": "id",
                "name": "name",
                "channel": "campaign_type",
                "started_at": "start_date",
                "ended_at": "end_date",
            },
            _STAMP,
            id_field="id",
            deleted_field="deleted",
        ),
        ObjectMap(
            "Leads",
            "leads",
            {
                "lead_id": "id",
                "created_at": "date_entered",
                "owner_id": "assigned_user_id",
                "source": "lead_source",
                "company": "account_name",
            },
            _STAMP,
            id_field="id",
            deleted_field="deleted",
        ),
        ObjectMap(
            "Leads",
            "lead_stage_events",
            {"lead_id": "id", "entered_at": _STAMP, "owner_id": "assigned_user_id"},
            _STAMP,
            id_field="id",
            extra=("status", "opportunity_id"),
            derive=_current_stage,
            deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "Opportunities",
            "deals",
            {
                "deal_id": "id",
                "owner_id": "assigned_user_id",
                "created_at": "date_entered",
                "amount": "amount",
                "account_id": "account_id",
            },
            _STAMP,
            id_field="id",
            extra=("sales_stage", "date_closed"),
            derive=_deal,
            deleted_field="deleted",
        ),
        ObjectMap(
            "Opportunities",
            "deal_stage_events",
            {"deal_id": "id", "stage": "sales_stage", "entered_at": _STAMP},
            _STAMP,
            id_field="id",
            deletes=False,
            collapse_repeats=True,
        ),
        ObjectMap(
            "Calls",
            "activities",
            activity,
            _STAMP,
            id_field="id",
            extra=held,
            derive=_held("call"),
            deleted_field="deleted",
        ),
        ObjectMap(
            "Meetings",
            "activities",
            activity,
            _STAMP,
            id_field="id",
            extra=held,
            derive=_held("meeting"),
            deleted_field="deleted",
        ),
        ObjectMap(
            "Tasks",
            "activities",
            {**activity, "due_at": "date_due"},
            _STAMP,
            id_field="id",
            extra=("status", "parent_type", "parent_id"),
            derive=_task,
            deleted_field="deleted",
        ),
    )
    return CrmMapping("sugarcrm", objects, lead_stage_field="status", lead_stages=LEAD_STATUSES)


@dataclass(frozen=True)
class SugarcrmAuth:
    url: str
    username: str
    password: str
    client_id: str = "sugar"
    client_secret: str = ""
    platform: str = "base"

    @classmethod
    def from_settings(cls, settings: Settings) -> SugarcrmAuth:
        """The credentials from the environment (`SUGARCRM_*`, read into the settings); a missing one is a
        CrmError saying what to set."""
        url = (settings.sugarcrm_url or "").strip().rstrip("/")
        if not url:
            raise CrmError("SUGARCRM_URL is not set (e.g. https://yourorg.sugarondemand.com)")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise CrmError(f"SUGARCRM_URL must start with https:// (or http:// for a proxy), not {url!r}")
        password = settings.sugarcrm_password.get_secret_value() if settings.sugarcrm_password else ""
        if not settings.sugarcrm_username or not password:
            raise CrmError(
                "SugarCRM needs SUGARCRM_USERNAME and SUGARCRM_PASSWORD (OAuth 2.0 password grant)"
            )
        secret = settings.sugarcrm_client_secret
        return cls(
            url,
            settings.sugarcrm_username,
            password,
            settings.sugarcrm_client_id or "sugar",
            secret.get_secret_value() if secret else "",
            settings.sugarcrm_platform or "base",
        )


class SugarcrmClient:
    """The REST API v11 over httpx: a password-grant token, refreshed when it expires; limits waited out."""

    def __init__(
        self,
        auth: SugarcrmAuth,
        *,
        api_version: str = "11_20",
        page_size: int = 200,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.api_version = api_version
        self.page_size = page_size
        self.max_waits = max_waits
        self.sleep = sleep
        self._http = httpx.Client(base_url=f"{auth.url}/rest/v{api_version}/", timeout=timeout)
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._expires_at = 0.0

    def close(self) -> None:
        self._http.close()

    # -- auth ---------------------------------------------------------------------------------------------------
    def _grant(self, body: dict[str, str]) -> httpx.Response:
        base = {"client_id": self.auth.client_id, "client_secret": self.auth.client_secret}
        try:
            return self._http.post("oauth2/token", json={**body, **base, "platform": self.auth.platform})
        except httpx.HTTPError as exc:
            raise CrmError(f"cannot reach SugarCRM at {self.auth.url}: {type(exc).__name__}") from exc

    def _keep(self, answer: httpx.Response) -> None:
        body = json_body(answer)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise CrmError("SugarCRM's token answer has no access_token")
        self._token = str(token)
        self._refresh_token = str(body.get("refresh_token") or "") or None
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._expires_at = time.monotonic() + max(lifetime - 30.0, 0.0)

    def login(self) -> None:
        """A new token by the password grant; a refusal is a CrmError naming Sugar's reason."""
        answer = self._grant(
            {"grant_type": "password", "username": self.auth.username, "password": self.auth.password}
        )
        if answer.status_code != 200:
            raise CrmError(f"SugarCRM refused the login ({answer.status_code} {_error(answer)})")
        self._keep(answer)

    def refresh(self) -> None:
        """A new token from the refresh token; a fresh login when there is none or Sugar refuses it (Sugar keeps one
        refresh token per user and platform: another client's login invalidates ours)."""
        if self._refresh_token:
            answer = self._grant({"grant_type": "refresh_token", "refresh_token": self._refresh_token})
            if answer.status_code == 200:
                self._keep(answer)
                return
            log.info("sugarcrm: the refresh token was refused (%s); logging in again", _error(answer))
        self.login()

    # -- reads --------------------------------------------------------------------------------------------------
    def filter(
        self,
        module: str,
        fields: tuple[str, ...],
        *,
        since: datetime | None = None,
        stamp: str = _STAMP,
        deleted: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every record of `module` whose `stamp` is after `since` (all without), oldest first, page after page
        (each page asked for from the last stamp read; see the module docstring)."""
        lower, operator = since, "$gt"
        seen: set[str] = set()  # ids read at the stamp `lower`
        last = ""  # the last id read (at `lower`, in the server's order)
        while True:
            conditions = [{stamp: {operator: sugar_moment(lower)}}] if lower is not None else []
            page = self._page(module, fields, conditions, f"{stamp}:ASC,id:ASC", deleted)
            records = page["records"]
            for record in records:
                record_id = str(record.get("id") or "")
                moment = parse_moment(record.get(stamp))
                if moment is not None and moment == lower and record_id in seen:
                    continue  # read on the page before, at the stamp this page starts from
                if moment is not None and moment != lower:
                    lower, operator, seen = moment, "$gte", set()
                seen.add(record_id)
                last = record_id
                yield record
            if page["next_offset"] in (-1, None) or not records:
                return
            if lower is not None and len(seen) >= len(records):
                # A page's worth of records share the stamp `lower` (a mass update): asking from it again would
                # answer the same page. Walk that stamp by id, then go on after it.
                yield from self._tie(module, fields, stamp, lower, last, deleted)
                operator, seen = "$gt", set()

    def _tie(
        self, module: str, fields: tuple[str, ...], stamp: str, moment: datetime, after: str, deleted: bool
    ) -> Iterator[dict[str, Any]]:
        """The records stamped exactly `moment` with an id after `after`, in id order."""
        at = sugar_moment(moment)
        while True:
            conditions = [{stamp: {"$gte": at}}, {stamp: {"$lte": at}}, {"id": {"$gt": after}}]
            page = self._page(module, fields, conditions, "id:ASC", deleted)
            records = page["records"]
            for record in records:
                after = str(record.get("id") or "")
                yield record
            if page["next_offset"] in (-1, None) or not records:
                return

    def _page(
        self,
        module: str,
        fields: tuple[str, ...],
        conditions: list[dict[str, Any]],
        order_by: str,
        deleted: bool,
    ) -> dict[str, Any]:
        """One page of a filter, from its first record (`offset` is never walked; the conditions move on)."""
        body: dict[str, Any] = {
            "fields": ",".join(fields),
            "order_by": order_by,
            "max_num": self.page_size,
            "offset": 0,
        }
        if conditions:
            body["filter"] = conditions
        if deleted:
            body["deleted"] = True
        page = self._post(f"{module}/filter", body)
        records = [r for r in page.get("records") or () if isinstance(r, dict)]
        return {"records": records, "next_offset": page.get("next_offset", -1)}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._token is None:
            self.login()
        elif time.monotonic() >= self._expires_at:
            self.refresh()
        refreshed = False
        retries = Retries("SugarCRM", self.auth.url, self.max_waits, self.sleep)
        while True:
            answer = retries.answer(
                lambda: self._http.post(path, json=body, headers={"OAuth-Token": self._token or ""})
            )
            if answer.status_code == 200:
                page = json_body(answer)
                if not isinstance(page, dict):
                    raise CrmError(f"SugarCRM answered {path} with something other than a JSON object")
                return page
            code = _code(answer)
            if answer.status_code == 401 and code in ("invalid_grant", "need_login") and not refreshed:
                refreshed = True
                log.info("sugarcrm: the access token expired (%s); refreshing it", code)
                self.refresh()
                continue
            if (answer.status_code == 429 or answer.status_code >= 500) and retries.again(answer, code):
                continue
            raise CrmError(f"SugarCRM answered {path}: {answer.status_code} {_error(answer)}")


def _code(answer: httpx.Response) -> str:
    body = json_body(answer)
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _error(answer: httpx.Response) -> str:
    """Sugar's error body, `{"error": label, "error_message": text}` (the OAuth server's own refusals say
    `error_description`), as `label: text`."""
    body = json_body(answer)
    if not isinstance(body, dict):
        return answer.reason_phrase
    label = str(body.get("error") or "").strip()
    text = " ".join(str(body.get("error_message") or body.get("error_description") or "").split())[:300]
    return ": ".join(p for p in (label, text) if p) or answer.reason_phrase


class SugarcrmConnector:
    """What the sync asks of a CRM: its mapping, and the records of one module changed since a moment."""

    crm = "sugarcrm"

    def __init__(self, settings: Settings, client: SugarcrmClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(sugarcrm_mapping(), settings.crm.sugarcrm, settings)

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> SugarcrmConnector:
        """The connector the settings describe (credentials from `SUGARCRM_*` in the environment)."""
        auth = SugarcrmAuth.from_settings(settings)
        options = {
            "api_version": settings.crm.sugarcrm.api_version,
            "page_size": settings.crm.sugarcrm.page_size,
        }
        return cls(settings, SugarcrmClient(auth, **{**options, **client_options}))

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """The module's records changed after `since` (all of them without), oldest change first; deleted ones
        (asked for when the map deletes) carry `deleted: true`. Sugar's empty strings arrive as None."""
        fields = list(mapped.read)
        if mapped.deletes:
            fields.append(mapped.deleted_field)
        records = self.client.filter(
            mapped.object,
            tuple(dict.fromkeys(fields)),
            since=since,
            stamp=mapped.stamp,
            deleted=mapped.deletes,
        )
        for record in records:
            record.pop("_acl", None)
            record.pop("_module", None)
            clean = {key: (None if value == "" else value) for key, value in record.items()}
            if mapped.deletes:
                clean[mapped.deleted_field] = _truthy(record.get(mapped.deleted_field))
            yield clean

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return parse_moment(record.get(mapped.stamp))

    def close(self) -> None:
        self.client.close()
