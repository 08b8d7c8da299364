"""A fake Microsoft Dynamics 365: the Entra ID token endpoint and the Dataverse Web API, on 127.0.0.1.

The authority answers the client-credentials grant, `POST /{tenant}/oauth2/v2.0/token` (form: grant_type,
client_id, client_secret, scope `<environment>/.default`), with `{"token_type": "Bearer", "expires_in": 3599,
"access_token": …}`, a wrong secret with 401 `invalid_client` / `AADSTS7000215`. The Web API answers
`GET /api/data/v9.2/<entity set>` with `$select`, `$filter=<field> gt <DateTimeOffset>`, `$orderby=<field> asc`,
pages of `Prefer: odata.maxpagesize=<n>` linked by `@odata.nextLink` (a `$skiptoken`), formatted-value and
lookup-name annotations when `Prefer: odata.include-annotations` asks for them, and change tracking: with
`Prefer: odata.track-changes` (and no `$filter` / `$orderby`, which a delta query does not take) the last page
carries `@odata.deltaLink` (a `$deltatoken`), whose answer lists the rows changed since and each row deleted since
as `{"@odata.context": "…#<set>/$deletedEntity", "id": …, "reason": "deleted"}`. An unknown entity set is 404, an
unknown column 400, both in Dataverse's `{"error": {"code": "0x…", "message": …}}` shape.

Tests change the org through `add` / `update` / `delete`, stamped from the settable clock `now`. On demand it
expires the tokens it issued (401) or answers the next calls 429 with `Retry-After` (a service protection limit).
Every call is recorded (`calls`).
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeDynamicsApi", "COLUMNS", "LABELS", "TENANT_ID"]

TENANT_ID = "72f988bf-0000-4000-8000-00000000abcd"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"

_ACTIVITY = (
    "activityid",
    "_ownerid_value",
    "createdon",
    "modifiedon",
    "statecode",
    "statuscode",
    "scheduledstart",
    "scheduledend",
    "actualend",
    "_regardingobjectid_value",
    "subject",
)
# Each entity set: (its logical name, its primary key, its columns).
COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "systemusers": (
        "systemuser",
        "systemuserid",
        (
            "systemuserid",
            "fullname",
            "internalemailaddress",
            "isdisabled",
            "_parentsystemuserid_value",
            "applicationid",
            "createdon",
            "modifiedon",
        ),
    ),
    "accounts": (
        "account",
        "accountid",
        ("accountid", "name", "createdon", "modifiedon", "_ownerid_value", "industrycode"),
    ),
    "campaigns": (
        "campaign",
        "campaignid",
        ("campaignid", "name", "typecode", "actualstart", "actualend", "createdon", "modifiedon"),
    ),
    "leads": (
        "lead",
        "leadid",
        (
            "leadid",
            "createdon",
            "modifiedon",
            "_ownerid_value",
            "leadsourcecode",
            "industrycode",
            "companyname",
            "_campaignid_value",
            "statecode",
            "statuscode",
            "_qualifyingopportunityid_value",
        ),
    ),
    "opportunities": (
        "opportunity",
        "opportunityid",
        (
            "opportunityid",
            "createdon",
            "modifiedon",
            "_ownerid_value",
            "statecode",
            "statuscode",
            "actualclosedate",
            "actualvalue",
            "estimatedvalue",
            "_parentaccountid_value",
            "_originatingleadid_value",
            "stepname",
            "salesstage",
            "description",
        ),
    ),
    "phonecalls": ("phonecall", "activityid", _ACTIVITY),
    "appointments": ("appointment", "activityid", _ACTIVITY),
    "tasks": ("task", "activityid", _ACTIVITY),
    "emails": ("email", "activityid", _ACTIVITY),
}

# Choice columns' labels, as the standard tables' option sets name them.
LABELS: dict[str, dict[str, dict[int, str]]] = {
    "leads": {
        "statecode": {0: "Open", 1: "Qualified", 2: "Disqualified"},
        "statuscode": {
            1: "New",
            2: "Contacted",
            3: "Qualified",
            4: "Lost",
            5: "Cannot Contact",
            6: "No Longer Interested",
            7: "Canceled",
        },
        "leadsourcecode": {1: "Advertisement", 2: "Employee Referral", 6: "Partner", 8: "Web", 10: "Other"},
        "industrycode": {1: "Accounting", 6: "Consulting", 33: "Service Retail"},
    },
    "accounts": {"industrycode": {1: "Accounting", 6: "Consulting", 33: "Service Retail"}},
    "campaigns": {
        "typecode": {1: "Advertisement", 2: "Direct Marketing", 3: "Event", 4: "Co-branding", 5: "Other"}
    },
    "opportunities": {
        "statecode": {0: "Open", 1: "Won", 2: "Lost"},
        "statuscode": {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
        "salesstage": {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"},
    },
    **{
        name: {"statecode": {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}}
        for name in ("phonecalls", "appointments", "tasks", "emails")
    },
}
# Lookup columns that may point at more than one table carry the table's logical name.
_POLYMORPHIC = {"_regardingobjectid_value", "_ownerid_value"}


@dataclass
class ApiCall:
    method: str
    path: str
    query: dict[str, str]
    prefer: str
    status: int


@dataclass
class _Row:
    values: dict[str, Any]
    version: int
    lookups: dict[str, str] = field(default_factory=dict)


class FakeDynamicsApi(LoopbackServer):
    """The authority and one Dataverse environment, with an in-memory org (see the module docstring)."""

    name = "fake Dynamics 365"

    def __init__(self, *, page_size_cap: int = 5000, now: datetime | None = None) -> None:
        super().__init__()
        self.client_id = "8f1c0e6a-1111-4222-8333-444455556666"
        self.client_secret = "Zx8Q~fake.client.secret-" + secrets.token_hex(8)
        self.page_size_cap = page_size_cap
        self.now = now or datetime(2026, 11, 1, 9, tzinfo=UTC)
        self.tables: dict[str, dict[str, _Row]] = {name: {} for name in COLUMNS}
        self.tombstones: dict[str, list[tuple[int, str]]] = {name: [] for name in COLUMNS}
        self.tracked: set[str] = set(COLUMNS)  # entity sets with change tracking on
        self.calls: list[ApiCall] = []
        self._version = itertools.count(1000)
        self._tokens: set[str] = set()
        self._pages: dict[str, tuple[list[dict[str, Any]], int, str | None]] = {}
        self._throttle = 0
        self._retry_after = 7

    # -- the org ------------------------------------------------------------------------------------------------
    def add(self, entity_set: str, *, lookups: dict[str, str] | None = None, **values: Any) -> None:
        """A new row, created and modified at `now`; `lookups` names the table a polymorphic lookup points at."""
        _, key, columns = COLUMNS[entity_set]
        unknown = set(values) - set(columns)
        assert not unknown, f"{entity_set} has no columns {unknown}"
        row = {column: None for column in columns}
        row.update(createdon=self.now, modifiedon=self.now, statecode=0)
        row.update(values)
        self.tables[entity_set][str(values[key])] = _Row(row, next(self._version), dict(lookups or {}))

    def update(self, entity_set: str, row_id: str, **values: Any) -> None:
        row = self.tables[entity_set][row_id]
        row.values.update(values, modifiedon=self.now)
        row.version = next(self._version)

    def delete(self, entity_set: str, row_id: str) -> None:
        del self.tables[entity_set][row_id]
        self.tombstones[entity_set].append((next(self._version), row_id))

    # -- faults -------------------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        self._tokens.clear()

    def expire_delta_tokens(self) -> None:
        """Every delta link handed out so far is refused from now on (as after the retention of change tracking)."""
        self._delta_floor = next(self._version)

    def throttle(self, calls: int, retry_after: int = 7) -> None:
        """The next `calls` Web API calls are refused with 429 and `Retry-After: <retry_after>`."""
        self._throttle, self._retry_after = calls, retry_after

    def calls_to(self, entity_set: str, after: int = 0) -> list[ApiCall]:
        return [c for c in self.calls[after:] if c.path.endswith(f"/{entity_set}")]

    # -- the server ---------------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/api/data/v9.2/{entity_set}", self._read)
        return app

    def _record(self, request: web.Request, status: int) -> None:
        query = {k: v for k, v in request.query.items()}
        self.calls.append(
            ApiCall(request.method, request.path, query, request.headers.get("Prefer", ""), status)
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.match_info["tenant"] != TENANT_ID:
            return self._auth_error(
                request,
                400,
                "invalid_request",
                f"AADSTS90002: Tenant '{request.match_info['tenant']}' not found.",
            )
        if form.get("grant_type") != "client_credentials":
            return self._auth_error(
                request,
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            )
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._auth_error(
                request,
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app '{form.get('client_id')}'."
                "\r\nTrace ID: 0b7d\r\nCorrelation ID: 5c1e\r\nTimestamp: 2026-11-01 09:00:00Z",
            )
        if form.get("scope") != f"{self.base_url}/.default":
            return self._auth_error(
                request,
                400,
                "invalid_scope",
                f"AADSTS70011: The provided value for scope {form.get('scope')} is not valid.",
            )
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        self._tokens.add(token)
        self._record(request, 200)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _auth_error(self, request: web.Request, status: int, error: str, description: str) -> web.Response:
        self._record(request, status)
        body = {
            "error": error,
            "error_description": description,
            "error_codes": [int(re.findall(r"\d+", description)[0])],
        }
        return web.json_response(body, status=status)

    def _error(
        self, request: web.Request, status: int, code: str, message: str, **headers: str
    ) -> web.Response:
        self._record(request, status)
        return web.json_response(
            {"error": {"code": code, "message": message}}, status=status, headers=headers
        )

    async def _read(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self._tokens:
            self._record(request, 401)
            return web.Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if self._throttle > 0:
            self._throttle -= 1
            return self._error(
                request,
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                **{"Retry-After": str(self._retry_after)},
            )
        entity_set = request.match_info["entity_set"]
        if entity_set not in COLUMNS:
            return self._error(
                request, 404, "0x80060888", f"Resource not found for the segment '{entity_set}'."
            )
        query, prefer = request.query, request.headers.get("Prefer", "")
        if "$skiptoken" in query:
            return self._page(request, entity_set, query["$skiptoken"])
        logical, key, columns = COLUMNS[entity_set]
        select = [c for c in query.get("$select", "").split(",") if c] or list(columns)
        for column in select:
            if column not in columns:
                return self._error(
                    request,
                    400,
                    "0x80060888",
                    f"Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{logical}'.",
                )
        annotate = "odata.include-annotations" in prefer
        if "$deltatoken" in query:
            since = int(query["$deltatoken"].split("!", 1)[0])
            if since < getattr(self, "_delta_floor", 0):
                return self._error(request, 400, "0x80072491", "The delta token has expired.")
            rows = [r for r in self.tables[entity_set].values() if r.version > since]
            rows.sort(key=lambda r: r.version)
            value = [self._render(entity_set, r, select, annotate) for r in rows]
            base = f"{self.base_url}/api/data/v9.2/$metadata#{entity_set}"
            value += [
                {"@odata.context": f"{base}/$deletedEntity", "id": row_id, "reason": "deleted"}
                for version, row_id in self.tombstones[entity_set]
                if version > since
            ]
            return self._first_page(request, entity_set, value, prefer, select, delta=True)
        tracking = "odata.track-changes" in prefer
        if tracking and ("$filter" in query or "$orderby" in query):
            return self._error(
                request,
                400,
                "0x80060888",
                "The query parameter $filter is not supported with change tracking.",
            )
        rows = list(self.tables[entity_set].values())
        if "$filter" in query:
            match = re.fullmatch(r"(\w+) gt (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", query["$filter"])
            if match is None or match.group(1) not in columns:
                return self._error(
                    request, 400, "0x80060888", f"Syntax error in $filter: '{query['$filter']}'."
                )
            column, moment = match.group(1), datetime.fromisoformat(match.group(2))
            rows = [r for r in rows if r.values.get(column) is not None and r.values[column] > moment]
        if "$orderby" in query:
            match = re.fullmatch(r"(\w+)( asc| desc)?", query["$orderby"])
            if match is None or match.group(1) not in columns:
                return self._error(
                    request, 400, "0x80060888", f"Syntax error in $orderby: '{query['$orderby']}'."
                )
            rows.sort(
                key=lambda r: (r.values[match.group(1)], r.values[key]), reverse=match.group(2) == " desc"
            )
        value = [self._render(entity_set, r, select, annotate) for r in rows]
        return self._first_page(
            request, entity_set, value, prefer, select, delta=tracking and entity_set in self.tracked
        )

    def _first_page(
        self,
        request: web.Request,
        entity_set: str,
        value: list[dict[str, Any]],
        prefer: str,
        select: list[str],
        *,
        delta: bool,
    ) -> web.Response:
        match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        size = min(int(match.group(1)) if match else 5000, self.page_size_cap)
        delta_link = None
        if delta:
            # Dataverse's tokens read `<version>!<moment>`; a client treats them as opaque.
            token = f"{next(self._version)}!{self.now:%m/%d/%Y %H:%M:%S}"
            params = urlencode({"$select": ",".join(select), "$deltatoken": token}, safe="$,")
            delta_link = f"{self.base_url}/api/data/v9.2/{entity_set}?{params}"
        skiptoken = secrets.token_hex(6)
        self._pages[skiptoken] = (value, size, delta_link)
        return self._page(request, entity_set, skiptoken, start=0)

    def _page(
        self, request: web.Request, entity_set: str, skiptoken: str, start: int | None = None
    ) -> web.Response:
        token, _, offset = skiptoken.partition(":")
        if token not in self._pages:
            return self._error(request, 400, "0x80040203", "Invalid $skiptoken.")
        value, size, delta_link = self._pages[token]
        begin = start if start is not None else int(offset or 0)
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/api/data/v9.2/$metadata#{entity_set}",
            "value": value[begin : begin + size],
        }
        if begin + size < len(value):
            link = urlencode({"$skiptoken": f"{token}:{begin + size}"}, safe="$:")
            body["@odata.nextLink"] = f"{self.base_url}/api/data/v9.2/{entity_set}?{link}"
        elif delta_link:
            body["@odata.deltaLink"] = delta_link
        self._record(request, 200)
        return web.json_response(body, headers={"Preference-Applied": f"odata.maxpagesize={size}"})

    def _render(self, entity_set: str, row: _Row, select: list[str], annotate: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": f'W/"{row.version}"'}
        labels = LABELS.get(entity_set, {})
        for column in select:
            value = row.values.get(column)
            out[column] = _json_value(value)
            if annotate and value is not None and column in labels:
                out[f"{column}@{FORMATTED}"] = labels[column].get(int(value), str(value))
            if annotate and value is not None and column in _POLYMORPHIC and column in row.lookups:
                out[f"{column}@{LOOKUP_NAME}"] = row.lookups[column]
        return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
