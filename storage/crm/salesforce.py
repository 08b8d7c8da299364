"""Salesforce: the REST query API read incrementally, and the default mapping of its standard objects.

The client is a plain httpx one rather than simple-salesforce: simple-salesforce rebuilds every URL as
`https://<host>` (its base URL, `query_more` and the token endpoint, which it also pins to `*.salesforce.com`),
while kpibot uses the instance URL with the scheme it is given and follows `nextRecordsUrl` on that same origin
(a proxy or a loopback test server speaks http), and gets its token from `{instance}/services/oauth2/token`.

Auth, from the environment only: `SALESFORCE_INSTANCE_URL` and `SALESFORCE_ACCESS_TOKEN`, or
`SALESFORCE_CLIENT_ID` + `SALESFORCE_CLIENT_SECRET` (OAuth 2.0 client credentials), or `SALESFORCE_CLIENT_ID` +
`SALESFORCE_USERNAME` + `SALESFORCE_PRIVATE_KEY_FILE` (JWT bearer). Reads: `GET .../queryAll?q=SELECT … FROM
<Object> WHERE SystemModstamp > <watermark> ORDER BY SystemModstamp` (`CreatedDate` for the history objects), so
deleted records arrive with `IsDeleted = true` and are deleted here too.

Faults: an expired token (401 INVALID_SESSION_ID) is fetched again once, when the credentials allow it; a limit
answer (403 REQUEST_LIMIT_EXCEEDED, 429, 503) is waited out with backoff (Retry-After when given); other 5xx are
retried with backoff; anything else is a `CrmError`, one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from storage.config.settings import Settings
from storage.crm.http import Retries, json_body, same_origin_path
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

__all__ = ["CrmError", "SalesforceClient", "SalesforceConnector", "salesforce_mapping", "LEAD_STATUSES"]

log = logging.getLogger(__name__)


# Salesforce's standard lead-status picklist → kpibot's funnel (kpibot.yaml `crm.salesforce.lead_stages` adds more).
LEAD_STATUSES = {
    "Open - Not Contacted": "lead",
    "Working - Contacted": "mql",
    "Qualified": "sql",
    "Closed - Converted": "opportunity",
    "Closed - Not Converted": "disqualified",
    "Unqualified": "disqualified",
}

# Id prefixes of the standard objects a Task or Event points at (WhoId / WhatId).
_LEAD, _OPPORTUNITY, _ACCOUNT = "00Q", "006", "001"
_TASK_TYPES = {"call": "call", "email": "email", "listemail": "email", "task": "task"}
_TASK_STATUS = {"completed": "done", "deferred": "cancelled"}


def _current_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    # The stage a lead is at, seen at its modification time: the first entry of a stage the history never showed
    # (a lead created at "Working - Contacted"); the sync keeps only the first entry of each stage.
    opportunity = record.get("ConvertedOpportunityId")
    if opportunity:
        ctx.conversions[str(opportunity)] = str(record["Id"])
    row["stage"] = ctx.lead_stage(record.get(ctx.lead_stage_field))
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def _history_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    if record.get("Field") != ctx.lead_stage_field:
        raise Skip  # a change of another field
    row["stage"] = ctx.lead_stage(record.get("NewValue"))
    return row


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    won, closed = bool(record.get("IsWon")), bool(record.get("IsClosed"))
    row["status"] = "won" if won else "lost" if closed else "open"
    row["closed_at"] = None
    if closed and record.get("CloseDate"):
        # CloseDate is a date; a deal closed on the day it was created is closed after its creation, not before.
        created = parse_moment(record.get("CreatedDate"))
        close = parse_moment(record["CloseDate"])
        row["closed_at"] = max(close, created) if close and created else close
    lead = ctx.conversions.get(str(record["Id"]))
    if lead is not None:
        row["lead_id"] = lead  # else the stored link stays as it is
    return row


def _links(record: CrmRecord, row: dict[str, Any]) -> None:
    who, what = str(record.get("WhoId") or ""), str(record.get("WhatId") or "")
    row["lead_id"] = who if who.startswith(_LEAD) else None
    row["deal_id"] = what if what.startswith(_OPPORTUNITY) else None
    row["account_id"] = what if what.startswith(_ACCOUNT) else None


def _task(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["type"] = _TASK_TYPES.get(str(record.get("TaskSubtype") or "task").lower(), "other")
    row["status"] = _TASK_STATUS.get(str(record.get("Status") or "").lower(), "planned")
    if row["status"] != "done":
        row["completed_at"] = None
    _links(record, row)
    return row


def _event(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["type"] = "meeting"
    end = parse_moment(record.get("EndDateTime"))
    done = end is not None and end <= ctx.now
    row["status"] = "done" if done else "planned"
    row["completed_at"] = end if done else None
    _links(record, row)
    return row


def salesforce_mapping() -> CrmMapping:
    """The default mapping of Salesforce's standard objects (docs/crm.md has it as tables)."""
    modstamp = "SystemModstamp"
    objects = (
        ObjectMap(
            "User",
            "users",
            {
                "user_id": "Id",
                "name": "Name",
                "email": "Email",
                "active": "IsActive",
                "manager_id": "ManagerId",
                "timezone": "TimeZoneSidKey",
                "locale": "LanguageLocaleKey",
            },
            modstamp,
            deletes=False,
            always_full=True,
        ),
        ObjectMap(
            "Account",
            "accounts",
            {
                "account_id": "Id",
                "name": "Name",
                "created_at": "CreatedDate",
                "owner_id": "OwnerId",
                "segment": "Industry",
            },
            modstamp,
        ),
        ObjectMap(
            "Campaign",
            "campaigns",
            {
                "campaign_id": "Id",
                "name": "Name",
                "channel": "Type",
                "started_at": "StartDate",
                "ended_at": "EndDate",
            },
            modstamp,
        ),
        ObjectMap(
            "Lead",
            "leads",
            {
                "lead_id": "Id",
                "created_at": "CreatedDate",
                "owner_id": "OwnerId",
                "source": "LeadSource",
                "segment": "Industry",
                "company": "Company",
            },
            modstamp,
        ),
        ObjectMap(
            "LeadHistory",
            "lead_stage_events",
            {"lead_id": "LeadId", "entered_at": "CreatedDate"},
            "CreatedDate",
            extra=("Field", "NewValue"),
            derive=_history_stage,
            deletes=False,
        ),
        ObjectMap(
            "Lead",
            "lead_stage_events",
            {"lead_id": "Id", "entered_at": modstamp, "owner_id": "OwnerId"},
            modstamp,
            extra=("Status", "ConvertedOpportunityId"),
            derive=_current_stage,
            deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "Opportunity",
            "deals",
            {
                "deal_id": "Id",
                "owner_id": "OwnerId",
                "created_at": "CreatedDate",
                "amount": "Amount",
                "account_id": "AccountId",
            },
            modstamp,
            extra=("IsWon", "IsClosed", "CloseDate"),
            derive=_deal,
        ),
        ObjectMap(
            "OpportunityHistory",
            "deal_stage_events",
            {"deal_id": "OpportunityId", "stage": "StageName", "entered_at": "CreatedDate"},
            "CreatedDate",
            deletes=False,
            collapse_repeats=True,
        ),
        ObjectMap(
            "Task",
            "activities",
            {
                "activity_id": "Id",
                "owner_id": "OwnerId",
                "created_at": "CreatedDate",
                "due_at": "ActivityDate",
                "completed_at": "CompletedDateTime",
            },
            modstamp,
            extra=("TaskSubtype", "Status", "WhoId", "WhatId"),
            derive=_task,
        ),
        ObjectMap(
            "Event",
            "activities",
            {
                "activity_id": "Id",
                "owner_id": "OwnerId",
                "created_at": "CreatedDate",
                "due_at": "StartDateTime",
            },
            modstamp,
            extra=("EndDateTime", "WhoId", "WhatId"),
            derive=_event,
        ),
    )
    return CrmMapping("salesforce", objects, lead_stage_field="Status", lead_stages=LEAD_STATUSES)


@dataclass(frozen=True)
class SalesforceAuth:
    instance_url: str
    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    private_key_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SalesforceAuth:
        """The credentials from the environment (`SALESFORCE_*`, read into the settings); a missing one is a
        CrmError saying what to set."""
        instance = (settings.salesforce_instance_url or "").strip().rstrip("/")
        if not instance:
            raise CrmError("SALESFORCE_INSTANCE_URL is not set (e.g. https://yourorg.my.salesforce.com)")
        if urlsplit(instance).scheme not in ("http", "https"):
            raise CrmError(
                f"SALESFORCE_INSTANCE_URL must start with https:// (or http:// for a proxy), not {instance!r}"
            )
        token, secret = settings.salesforce_access_token, settings.salesforce_client_secret
        auth = cls(
            instance,
            token.get_secret_value() if token else None,
            settings.salesforce_client_id or None,
            secret.get_secret_value() if secret else None,
            settings.salesforce_username or None,
            settings.salesforce_private_key_file or None,
        )
        jwt_ready = auth.client_id and auth.username and auth.private_key_file
        if not (auth.access_token or (auth.client_id and auth.client_secret) or jwt_ready):
            raise CrmError(
                "Salesforce needs SALESFORCE_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID with SALESFORCE_CLIENT_SECRET "
                "(client credentials) or with SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY_FILE (JWT bearer)"
            )
        return auth


_LIMITS = {"REQUEST_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "SERVER_UNAVAILABLE"}


class SalesforceClient:
    """The REST query API over httpx: one token, refreshed once when it expires; limits waited out."""

    def __init__(
        self,
        auth: SalesforceAuth,
        *,
        api_version: str = "60.0",
        page_size: int = 2000,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
        jwt_audience: str | None = None,
    ) -> None:
        self.auth = auth
        self.jwt_audience = jwt_audience
        self.api_version = api_version
        self.page_size = page_size
        self.max_waits = max_waits
        self.sleep = sleep
        origin = urlsplit(auth.instance_url)
        self._origin = f"{origin.scheme}://{origin.netloc}"
        self._http = httpx.Client(base_url=self._origin, timeout=timeout)
        self._token = auth.access_token

    def close(self) -> None:
        self._http.close()

    # -- auth ---------------------------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        auth = self.auth
        if auth.client_id and auth.private_key_file and auth.username:
            data = {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self._assertion(),
            }
        elif auth.client_id and auth.client_secret:
            data = {
                "grant_type": "client_credentials",
                "client_id": auth.client_id,
                "client_secret": auth.client_secret,
            }
        else:
            raise CrmError(
                "the Salesforce access token was refused and there are no credentials to get a new one"
            )
        try:
            answer = self._http.post("/services/oauth2/token", data=data)
        except httpx.HTTPError as exc:
            raise CrmError(f"cannot reach Salesforce at {self._origin}: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            body = json_body(answer)
            reason = body.get("error_description") or body.get("error") or answer.reason_phrase
            raise CrmError(f"Salesforce refused the credentials ({answer.status_code}): {reason}")
        token = json_body(answer).get("access_token")
        if not token:
            raise CrmError("Salesforce's token answer has no access_token")
        return str(token)

    def _assertion(self) -> str:
        import jwt  # PyJWT, with cryptography for RS256

        key = open(self.auth.private_key_file or "", encoding="utf-8").read()  # noqa: SIM115
        now = int(time.time())
        claims = {
            "iss": self.auth.client_id,
            "sub": self.auth.username,
            "aud": self.jwt_audience or self._origin,
            "exp": now + 180,
        }
        return jwt.encode(claims, key, algorithm="RS256")

    # -- reads --------------------------------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of `soql`, page after page (`nextRecordsUrl` followed on the instance's own origin)."""
        kind = "queryAll" if include_deleted else "query"
        url: str | None = f"/services/data/v{self.api_version}/{kind}"
        params: dict[str, str] | None = {"q": soql}
        while url is not None:
            page = self._get(url, params)
            yield from page.get("records", ())
            next_url = page.get("nextRecordsUrl")
            url = self._same_origin(str(next_url)) if not page.get("done", True) and next_url else None
            params = None

    def _same_origin(self, url: str) -> str:
        return same_origin_path(self._origin, url, "Salesforce")

    def _get(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        if self._token is None:
            self._token = self._fetch_token()
        refreshed = False
        retries = Retries("Salesforce", self._origin, self.max_waits, self.sleep)
        while True:
            headers = {
                "Authorization": f"Bearer {self._token}",
                "Sforce-Query-Options": f"batchSize={self.page_size}",
            }
            answer = retries.answer(partial(self._http.get, url, params=params, headers=headers))
            if answer.status_code == 200:
                return json_body(answer)
            code = _error_code(answer)
            if answer.status_code == 401 and not refreshed:
                refreshed = True
                log.info("salesforce: the access token expired (%s); getting a new one", code or 401)
                self._token = self._fetch_token()
                continue
            limited = answer.status_code in (429, 503) or (answer.status_code == 403 and code in _LIMITS)
            if (limited or answer.status_code >= 500) and retries.again(answer, code or ""):
                continue
            raise CrmError(
                f"Salesforce answered {answer.status_code} {code or ''}: {_error_message(answer)}".strip()
            )


def _error_code(answer: httpx.Response) -> str:
    body = json_body(answer)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode") or "")
    return ""


def _error_message(answer: httpx.Response) -> str:
    body = json_body(answer)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return " ".join(str(body[0].get("message") or "").split())[:300]
    return answer.reason_phrase


def soql_moment(moment: datetime) -> str:
    """A dateTime literal for SOQL: UTC, seconds, `Z` (no `+` to escape in a URL)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceConnector:
    """What the sync asks of a CRM: its mapping, and the records of one object changed since a moment."""

    crm = "salesforce"

    def __init__(self, settings: Settings, client: SalesforceClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(salesforce_mapping(), settings.crm.salesforce, settings)

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> SalesforceConnector:
        """The connector the settings describe (credentials from `SALESFORCE_*` in the environment)."""
        auth = SalesforceAuth.from_settings(settings)
        options = {
            "api_version": settings.crm.salesforce.api_version,
            "page_size": settings.crm.salesforce.page_size,
            "jwt_audience": settings.crm.salesforce.jwt_audience,
        }
        return cls(settings, SalesforceClient(auth, **{**options, **client_options}))

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """The object's records changed after `since` (all of them without), oldest change first; deleted ones
        carry `IsDeleted: true`."""
        fields = list(mapped.read)
        if mapped.deletes:
            fields.append(mapped.deleted_field)
        soql = f"SELECT {', '.join(dict.fromkeys(fields))} FROM {mapped.object}"
        if since is not None:
            soql += f" WHERE {mapped.stamp} > {soql_moment(since)}"
        soql += f" ORDER BY {mapped.stamp}"
        for record in self.client.query(soql, include_deleted=mapped.deletes):
            record.pop("attributes", None)
            yield record

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return parse_moment(record.get(mapped.stamp))

    def close(self) -> None:
        self.client.close()
