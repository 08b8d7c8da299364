"""Microsoft Dynamics 365: the Dataverse Web API (OData v4) read incrementally, and its standard tables' mapping.

Auth, from the environment only: `DYNAMICS_URL` (the environment, such as https://yourorg.crm.dynamics.com),
`DYNAMICS_TENANT_ID`, `DYNAMICS_CLIENT_ID` and `DYNAMICS_CLIENT_SECRET` of an app registration that Dataverse knows
as an application user: the OAuth 2.0 client-credentials grant, `POST {authority}/{tenant}/oauth2/v2.0/token` with
`scope={DYNAMICS_URL}/.default`, where the authority is `DYNAMICS_AUTHORITY_URL` (https://login.microsoftonline.com;
a national cloud's, or a proxy's). The token request is a plain httpx one rather than msal's
ConfidentialClientApplication: msal accepts only an https authority (its `canonicalize` refuses any other scheme,
and `validate_authority=False` / `instance_discovery=False` skip only the instance check, not that one), so it
could be pointed neither at a proxy that speaks http nor at a loopback test server; for a client secret the grant
is one form post, and a token is fetched again when Dataverse refuses it (401), once.

Reads: `GET {DYNAMICS_URL}/api/data/v9.2/<entity set>?$select=…&$filter=modifiedon gt <watermark>&$orderby=
modifiedon asc` with `Prefer: odata.maxpagesize=<n>` (and the formatted-value and lookup-name annotations, so a
choice such as `industrycode` comes with its label), following `@odata.nextLink` on the environment's own origin.
`modifiedon` is there on every table, whatever its settings.

Deletions: Dataverse's change tracking. A `modifiedon` read cannot see a deleted row; a table with change tracking
(its "Track changes" setting, which the standard tables can have turned on and which cannot be turned off again)
answers `GET …/<entity set>?$select=<id>` with `Prefer: odata.track-changes` with an `@odata.deltaLink`, and that
link later lists each row deleted since as `{"@odata.context": "…/$metadata#<set>/$deletedEntity", "id": …,
"reason": "deleted"}`. The sync keeps the link beside the object's watermark (storage/crm/sync.py, DeletionFeed)
and asks it after each read; rows changed since are read through `modifiedon` and skipped here. A table without
change tracking hands out no delta link: its deletions are not seen, and the sync logs that once per run.

History: Dynamics keeps no stage history by default (auditing is off unless turned on), so stage events are the
stage each sync sees, at the row's `modifiedon`: a lead's status reason (its first entry of each stage is kept) and
an opportunity's process stage (`stepname`, else `salesstage`; Won / Lost once closed), a change kept only when the
stage differs from the deal's last one. A stage passed between two syncs is not seen; the funnel fills skipped
stages in (storage/journeys.py).

Faults: a token Dataverse refuses (401) is fetched again once; the service protection limits (429 with
Retry-After) and 503 are waited out with backoff, other 5xx retried; anything else, Dataverse's `{"error": {"code":
"0x…", "message": …}}` or the authority's `error_description`, is a `CrmError` of one line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

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
from storage.crm.sync import CrmError, Deletions

__all__ = [
    "DynamicsAuth",
    "DynamicsClient",
    "DynamicsConnector",
    "dynamics_mapping",
    "LEAD_STATUSES",
    "label",
]

log = logging.getLogger(__name__)

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
_ANNOTATIONS = f'odata.include-annotations="{FORMATTED},{LOOKUP_NAME}"'

# A lead's status reason (statuscode), by number and by its label → kpibot's funnel; kpibot.yaml
# `crm.dynamics.lead_stages` adds a custom status reason by either.
LEAD_STATUSES = {
    "1": "lead",
    "New": "lead",
    "2": "mql",
    "Contacted": "mql",
    "3": "sql",
    "Qualified": "sql",
    "4": "disqualified",
    "Lost": "disqualified",
    "5": "disqualified",
    "Cannot Contact": "disqualified",
    "6": "disqualified",
    "No Longer Interested": "disqualified",
    "7": "disqualified",
    "Canceled": "disqualified",
}

# Activity tables' state (statecode): 0 Open, 1 Completed, 2 Canceled, 3 Scheduled.
_ACTIVITY_STATE = {1: "done", 2: "cancelled"}
# Opportunity state (statecode): 0 Open, 1 Won, 2 Lost.
_DEAL_STATE = {0: "open", 1: "won", 2: "lost"}
_REGARDING = {"lead": "lead_id", "opportunity": "deal_id", "account": "account_id"}


def odata_moment(moment: datetime) -> str:
    """A DateTimeOffset literal for `$filter`: UTC, seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def label(record: CrmRecord, field: str) -> str | None:
    """A choice column's label (its formatted-value annotation), else its number; None when empty."""
    value = record.get(field)
    if value is None:
        return None
    return str(record.get(f"{field}@{FORMATTED}") or value)


def _code(record: CrmRecord, field: str) -> int | None:
    value = record.get(field)
    return int(value) if value is not None and str(value).lstrip("-").isdigit() else None


def _user(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    if record.get("applicationid"):
        raise Skip  # an application user (this sync's own among them) is not a person
    row["active"] = not bool(record.get("isdisabled"))
    return row


def _segment(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["segment"] = label(record, "industrycode")
    return row


def _campaign(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["channel"] = label(record, "typecode")
    return row


def _lead(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["source"] = label(record, "leadsourcecode")
    row["segment"] = label(record, "industrycode")
    return row


def _lead_stage(record: CrmRecord, ctx: MapContext) -> str:
    field = ctx.lead_stage_field
    value, name = record.get(field), record.get(f"{field}@{FORMATTED}")
    for key in (value, name):
        if key is not None and str(key) in ctx.lead_stages:
            return ctx.lead_stages[str(key)]
    shown = f"{value} ({name})" if name else repr(value)
    raise ValueError(
        f"lead status reason {shown} is not mapped to a funnel stage (crm.{ctx.crm}.lead_stages in kpibot.yaml)"
    )


def _current_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    # The stage a lead is at, seen at its modification time; a qualified lead with the opportunity it was
    # qualified into is at `opportunity` (the deal carries the link too).
    opportunity = record.get("_qualifyingopportunityid_value")
    if opportunity:
        ctx.conversions[str(opportunity)] = str(record["leadid"])
    row["stage"] = _lead_stage(record, ctx)
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    if row["stage"] == "sql" and opportunity:
        row["stage"] = "opportunity"
    return row


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    state = _code(record, "statecode")
    if state not in _DEAL_STATE:
        raise ValueError(
            f"opportunity state {record.get('statecode')!r} is not 0 (open), 1 (won) or 2 (lost)"
        )
    row["status"] = _DEAL_STATE[state]
    amount = record.get("actualvalue") if state == 1 else None
    row["amount"] = amount if amount is not None else record.get("estimatedvalue")
    row["closed_at"] = None
    row["lost_reason"] = label(record, "statuscode") if state == 2 else None
    if state != 0:
        # actualclosedate is a date; a deal closed on the day it was created is closed after its creation.
        created = parse_moment(record.get("createdon"))
        close = parse_moment(record.get("actualclosedate")) or parse_moment(record.get("modifiedon"))
        row["closed_at"] = max(close, created) if close and created else close
    lead = record.get("_originatingleadid_value") or ctx.conversions.get(str(record["opportunityid"]))
    if lead:
        row["lead_id"] = str(lead)
    else:
        row.pop("lead_id", None)  # the stored link stays as it is
    return row


def _deal_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    state = _code(record, "statecode")
    stage = {1: "Won", 2: "Lost"}.get(state or 0) or record.get("stepname") or label(record, "salesstage")
    if not stage:
        raise Skip  # an open opportunity with no process stage
    row["stage"] = str(stage)
    return row


def _activity(kind: str) -> Callable[[CrmRecord, dict[str, Any], MapContext], dict[str, Any]]:
    def derive(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
        row["type"] = kind
        row["status"] = _ACTIVITY_STATE.get(_code(record, "statecode") or 0, "planned")
        if row["status"] == "done":
            row["completed_at"] = record.get("actualend") or record.get("modifiedon")
        else:
            row["completed_at"] = None
        regarding = record.get("_regardingobjectid_value")
        table = str(record.get(f"_regardingobjectid_value@{LOOKUP_NAME}") or "")
        for name, column in _REGARDING.items():
            row[column] = str(regarding) if regarding and table == name else None
        return row

    return derive


def dynamics_mapping() -> CrmMapping:
    """The default mapping of Dataverse's standard tables, in the order they are synced."""
    stamp = "modifiedon"
    activity_fields = {"activity_id": "activityid", "owner_id": "_ownerid_value", "created_at": "createdon"}
    activity_extra = ("statecode", "actualend", "_regardingobjectid_value")
    objects = (
        ObjectMap(
            "systemusers",
            "users",
            {
                "user_id": "systemuserid",
                "name": "fullname",
                "email": "internalemailaddress",
                "manager_id": "_parentsystemuserid_value",
            },
            stamp,
            id_field="systemuserid",
            extra=("isdisabled", "applicationid"),
            derive=_user,
            deletes=False,
        ),
        ObjectMap(
            "accounts",
            "accounts",
            {
                "account_id": "accountid",
                "name": "name",
                "created_at": "createdon",
                "owner_id": "_ownerid_value",
            },
            stamp,
            id_field="accountid",
            extra=("industrycode",),
            derive=_segment,
        ),
        ObjectMap(
            "campaigns",
            "campaigns",
            {
                "campaign_id": "campaignid",
                "name": "name",
                "started_at": "actualstart",
                "ended_at": "actualend",
            },
            stamp,
            id_field="campaignid",
            extra=("typecode",),
            derive=_campaign,
        ),
        ObjectMap(
            "leads",
            "leads",
            {
                "lead_id": "leadid",
                "created_at": "createdon",
                "owner_id": "_ownerid_value",
                "company": "companyname",
                "campaign_id": "_campaignid_value",
            },
            stamp,
            id_field="leadid",
            extra=("leadsourcecode", "industrycode"),
            derive=_lead,
        ),
        ObjectMap(
            "leads",
            "lead_stage_events",
            {"lead_id": "leadid", "entered_at": stamp, "owner_id": "_ownerid_value"},
            stamp,
            id_field="leadid",
            extra=("statuscode", "_qualifyingopportunityid_value"),
            derive=_current_stage,
            deletes=False,
            first_entry_only=True,
        ),
        ObjectMap(
            "opportunities",
            "deals",
            {
                "deal_id": "opportunityid",
                "owner_id": "_ownerid_value",
                "created_at": "createdon",
                "account_id": "_parentaccountid_value",
            },
            stamp,
            id_field="opportunityid",
            extra=(
                "statecode",
                "statuscode",
                "actualclosedate",
                "actualvalue",
                "estimatedvalue",
                "_originatingleadid_value",
            ),
            derive=_deal,
        ),
        ObjectMap(
            "opportunities",
            "deal_stage_events",
            {"deal_id": "opportunityid", "entered_at": stamp},
            stamp,
            id_field="opportunityid",
            extra=("statecode", "stepname", "salesstage"),
            derive=_deal_stage,
            deletes=False,
            collapse_repeats=True,
        ),
        ObjectMap(
            "phonecalls",
            "activities",
            {**activity_fields, "due_at": "scheduledend"},
            stamp,
            id_field="activityid",
            extra=activity_extra,
            derive=_activity("call"),
        ),
        ObjectMap(
            "appointments",
            "activities",
            {**activity_fields, "due_at": "scheduledstart"},
            stamp,
            id_field="activityid",
            extra=activity_extra,
            derive=_activity("meeting"),
        ),
        ObjectMap(
            "tasks",
            "activities",
            {**activity_fields, "due_at": "scheduledend"},
            stamp,
            id_field="activityid",
            extra=activity_extra,
            derive=_activity("task"),
        ),
        ObjectMap(
            "emails",
            "activities",
            {**activity_fields, "due_at": "scheduledend"},
            stamp,
            id_field="activityid",
            extra=activity_extra,
            derive=_activity("email"),
        ),
    )
    return CrmMapping("dynamics", objects, lead_stage_field="statuscode", lead_stages=LEAD_STATUSES)


@dataclass(frozen=True)
class DynamicsAuth:
    url: str
    tenant_id: str
    client_id: str
    client_secret: str
    authority: str = "https://login.microsoftonline.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamicsAuth:
        """The credentials from the environment (`DYNAMICS_*`, read into the settings); a missing one is a CrmError
        saying what to set."""
        url = (settings.dynamics_url or "").strip().rstrip("/")
        if not url:
            raise CrmError(
                "DYNAMICS_URL is not set (the environment's URL, e.g. https://yourorg.crm.dynamics.com)"
            )
        authority = (settings.dynamics_authority_url or "").strip().rstrip("/")
        for name, value in (("DYNAMICS_URL", url), ("DYNAMICS_AUTHORITY_URL", authority)):
            if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
                raise CrmError(f"{name} must start with https:// (or http:// for a proxy), not {value!r}")
        secret = settings.dynamics_client_secret
        missing = [
            name
            for name, value in (
                ("DYNAMICS_TENANT_ID", settings.dynamics_tenant_id),
                ("DYNAMICS_CLIENT_ID", settings.dynamics_client_id),
                ("DYNAMICS_CLIENT_SECRET", secret.get_secret_value() if secret else None),
            )
            if not (value or "").strip()
        ]
        if missing:
            raise CrmError(
                f"Dynamics needs {', '.join(missing)} (an app registration Dataverse has as a user)"
            )
        assert secret is not None and settings.dynamics_tenant_id and settings.dynamics_client_id
        return cls(
            url,
            settings.dynamics_tenant_id.strip(),
            settings.dynamics_client_id.strip(),
            secret.get_secret_value(),
            authority,
        )


class DynamicsClient:
    """The Dataverse Web API over httpx: one token, fetched again once when refused; limits waited out."""

    def __init__(
        self,
        auth: DynamicsAuth,
        *,
        api_version: str = "9.2",
        page_size: int = 500,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.page_size = page_size
        self.max_waits = max_waits
        self.sleep = sleep
        origin = urlsplit(auth.url)
        self._origin = f"{origin.scheme}://{origin.netloc}"
        self._base = f"{origin.path.rstrip('/')}/api/data/v{api_version}"
        self._http = httpx.Client(base_url=self._origin, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    # -- auth ---------------------------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        auth = self.auth
        url = f"{auth.authority}/{quote(auth.tenant_id, safe='')}/oauth2/v2.0/token"
        data = {
            "grant_type": "client_credentials",
            "client_id": auth.client_id,
            "client_secret": auth.client_secret,
            "scope": f"{auth.url}/.default",
        }
        try:
            answer = self._http.post(url, data=data)
        except httpx.HTTPError as exc:
            raise CrmError(f"cannot reach the authority at {auth.authority}: {type(exc).__name__}") from exc
        body = json_body(answer)
        if answer.status_code != 200:
            reason = str(body.get("error_description") or body.get("error") or answer.reason_phrase)
            reason = (
                " ".join(reason.strip().splitlines()[0].split()) if reason.strip() else answer.reason_phrase
            )
            raise CrmError(f"Dynamics refused the credentials ({answer.status_code}): {reason[:300]}")
        token = body.get("access_token")
        if not token:
            raise CrmError("the authority's token answer has no access_token")
        return str(token)

    # -- reads --------------------------------------------------------------------------------------------------
    def pages(
        self, entity_set: str, params: dict[str, str] | None, *, prefer: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every page of a read of `entity_set` (`@odata.nextLink` followed on the environment's own origin); the
        last page carries `@odata.deltaLink` when change tracking was asked for and is on."""
        yield from self.follow(f"{self._base}/{entity_set}", params, prefer=prefer)

    def follow(
        self, url: str, params: dict[str, str] | None, *, prefer: str = ""
    ) -> Iterator[dict[str, Any]]:
        """The pages from `url` (a path, or a link Dataverse handed out) on."""
        next_url: str | None = self._same_origin(url)
        preference = ", ".join(p for p in (f"odata.maxpagesize={self.page_size}", _ANNOTATIONS, prefer) if p)
        while next_url is not None:
            page = self._get(next_url, params, preference)
            yield page
            link = page.get("@odata.nextLink")
            next_url = self._same_origin(str(link)) if link else None
            params = None

    def link_path(self, url: str) -> str:
        return self._same_origin(url)

    def _same_origin(self, url: str) -> str:
        return same_origin_path(self._origin, url, "Dynamics")

    def _get(self, url: str, params: dict[str, str] | None, prefer: str) -> dict[str, Any]:
        if self._token is None:
            self._token = self._fetch_token()
        refreshed = False
        retries = Retries("Dynamics", self._origin, self.max_waits, self.sleep)
        while True:
            headers = {
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                "OData-Version": "4.0",
                "OData-MaxVersion": "4.0",
                "Prefer": prefer,
            }
            answer = retries.answer(partial(self._http.get, url, params=params, headers=headers))
            if answer.status_code == 200:
                body = json_body(answer)
                if not isinstance(body, dict):
                    raise CrmError(f"Dynamics answered {url.split('?')[0]} with something not JSON")
                return body
            code, message = _error(answer)
            if answer.status_code == 401 and not refreshed:
                refreshed = True
                log.info("dynamics: the access token was refused (%s); getting a new one", code or 401)
                self._token = self._fetch_token()
                continue
            limited = answer.status_code in (429, 503)
            if (limited or answer.status_code >= 500) and retries.again(answer, code):
                continue
            raise CrmError(
                f"Dynamics answered {answer.status_code} {code}: {message}".replace("  ", " "),
                status=answer.status_code,
            )


def _error(answer: httpx.Response) -> tuple[str, str]:
    """Dataverse's `{"error": {"code": "0x…", "message": …}}` as (code, one line)."""
    body = json_body(answer)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = " ".join(str(error.get("message") or "").split())[:300]
        return str(error.get("code") or ""), message or answer.reason_phrase
    return "", answer.reason_phrase


def _deleted_entity(record: dict[str, Any]) -> bool:
    return str(record.get("@odata.context", "")).endswith("$deletedEntity")


class DynamicsConnector:
    """What the sync asks of a CRM: its mapping, the rows of one table changed since a moment, and (DeletionFeed)
    the rows deleted since the delta link it handed out last time."""

    crm = "dynamics"

    def __init__(self, settings: Settings, client: DynamicsClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(dynamics_mapping(), settings.crm.dynamics, settings)
        self._untracked: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> DynamicsConnector:
        """The connector the settings describe (credentials from `DYNAMICS_*` in the environment)."""
        auth = DynamicsAuth.from_settings(settings)
        options = {
            "api_version": settings.crm.dynamics.api_version,
            "page_size": settings.crm.dynamics.page_size,
        }
        return cls(settings, DynamicsClient(auth, **{**options, **client_options}))

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """The table's rows changed after `since` (all of them without), oldest change first."""
        params = {"$select": ",".join(mapped.read), "$orderby": f"{mapped.stamp} asc"}
        if since is not None:
            params["$filter"] = f"{mapped.stamp} gt {odata_moment(since)}"
        for page in self.client.pages(mapped.object, params):
            for record in page.get("value", ()):
                record.pop("@odata.etag", None)
                yield record

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        return parse_moment(record.get(mapped.stamp))

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions:
        """The ids deleted since `cursor` (a delta link) and the next delta link; the first time, change tracking
        is opened (every id is read once, nothing is deleted). A delta link Dataverse refuses (expired after its
        retention, say) is replaced by a new one: tracking is opened again, and rows deleted in between are not
        seen — logged, so an admin can run `kpibot sync dynamics --full`."""
        if cursor is not None:
            try:
                return self._deletions(mapped, self.client.follow(cursor, None))
            except CrmError as exc:
                if exc.status is None or not 400 <= exc.status < 500:
                    raise  # Dataverse unreachable or failing: the sync stops and says why, the link is kept
                log.warning(
                    "dynamics: %s's change-tracking link was refused (%s); tracking is opened again, and rows "
                    "deleted since the last sync are not seen",
                    mapped.object,
                    exc,
                )
        opened = self.client.pages(mapped.object, {"$select": mapped.id_field}, prefer="odata.track-changes")
        return Deletions((), self._deletions(mapped, opened).cursor)

    def _deletions(self, mapped: ObjectMap, pages: Iterator[dict[str, Any]]) -> Deletions:
        ids: list[str] = []
        delta: str | None = None
        for page in pages:
            for record in page.get("value", ()):
                if (
                    _deleted_entity(record)
                    and record.get("reason", "deleted") == "deleted"
                    and record.get("id")
                ):
                    ids.append(str(record["id"]))
            if page.get("@odata.deltaLink"):
                delta = self.client.link_path(str(page["@odata.deltaLink"]))
        if delta is None and mapped.object not in self._untracked:
            self._untracked.add(mapped.object)
            log.warning(
                "dynamics: %s has no change tracking (its table's Track changes setting), so rows deleted there "
                "are not seen",
                mapped.object,
            )
        return Deletions(tuple(ids), delta)

    def close(self) -> None:
        self.client.close()
