"""A fake Salesforce REST API: a real HTTP server on 127.0.0.1 that kpibot's Salesforce sync talks to.

It answers the OAuth 2.0 token endpoint (`POST /services/oauth2/token`, the client-credentials flow with the
credentials in the form body or as HTTP Basic auth, and the JWT bearer flow) and SOQL queries
(`GET /services/data/vXX.X/query?q=…`, `…/queryAll?q=…` and the `nextRecordsUrl` continuations they hand out),
paged, from an in-memory org of User, Account, Campaign, Lead, LeadHistory, Opportunity, OpportunityHistory, Task
and Event records. The SOQL it understands is a strict subset,

    SELECT f1, f2, … FROM Object [WHERE Field > 2026-11-01T09:30:00Z] [ORDER BY Field [ASC]]

(the literal unquoted, with `Z` or a `+hh:mm` / `-hh:mm` offset); anything else is refused with Salesforce's
`MALFORMED_QUERY`, an unknown object with `INVALID_TYPE`, a field the object lacks with `INVALID_FIELD`. Records
come back as Salesforce renders them: datetimes as `2026-11-01T09:30:00.000+0000`, dates as `YYYY-MM-DD`, booleans
as JSON booleans, missing values as null, only the selected fields.

Every call is recorded with its status. On demand it expires the tokens it issued (`INVALID_SESSION_ID`), answers
the next calls `REQUEST_LIMIT_EXCEEDED` or 503, or fails the n-th page request of one object with a 500. Tests
change the org through `add` / `update` / `delete`, which stamp `SystemModstamp` from the settable clock `now` and
write LeadHistory / OpportunityHistory rows as field history tracking does. A benchmark can serve a large object
from `LazyRecords`, made page by page on demand.

The JWT bearer flow checks only that the assertion's payload has `sub` equal to the configured username: the
signature, `iss`, `aud` and `exp` are not checked.

It runs its own event loop in a background thread, so synchronous tests can drive it while the sync runs in another
process or in the test's own loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeSalesforceApi", "LazyRecords", "FIELDS", "KEY_PREFIXES", "ORG_ID", "USER_ID"]

ORG_ID = "00DFK0000000001AAA"
USER_ID = "005FK0000000001AAA"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Each object's queryable fields, as the documented standard objects name them.
FIELDS: dict[str, tuple[str, ...]] = {
    "User": (
        "Id",
        "Name",
        "Email",
        "IsActive",
        "ManagerId",
        "TimeZoneSidKey",
        "LanguageLocaleKey",
        "SystemModstamp",
    ),
    "Account": ("Id", "Name", "CreatedDate", "OwnerId", "Industry", "IsDeleted", "SystemModstamp"),
    "Campaign": ("Id", "Name", "Type", "StartDate", "EndDate", "ActualCost", "IsDeleted", "SystemModstamp"),
    "Lead": (
        "Id",
        "CreatedDate",
        "OwnerId",
        "LeadSource",
        "Industry",
        "Company",
        "Status",
        "IsConverted",
        "ConvertedDate",
        "ConvertedOpportunityId",
        "ConvertedAccountId",
        "IsDeleted",
        "SystemModstamp",
    ),
    "LeadHistory": ("Id", "LeadId", "Field", "OldValue", "NewValue", "CreatedDate", "IsDeleted"),
    "Opportunity": (
        "Id",
        "OwnerId",
        "CreatedDate",
        "StageName",
        "IsClosed",
        "IsWon",
        "CloseDate",
        "Amount",
        "AccountId",
        "CampaignId",
        "IsDeleted",
        "SystemModstamp",
    ),
    "OpportunityHistory": (
        "Id",
        "OpportunityId",
        "StageName",
        "CreatedDate",
        "Amount",
        "CloseDate",
        "IsDeleted",
        "SystemModstamp",
    ),
    "Task": (
        "Id",
        "OwnerId",
        "TaskSubtype",
        "Subject",
        "Status",
        "ActivityDate",
        "CompletedDateTime",
        "CreatedDate",
        "WhoId",
        "WhatId",
        "IsDeleted",
        "SystemModstamp",
    ),
    "Event": (
        "Id",
        "OwnerId",
        "Subject",
        "StartDateTime",
        "EndDateTime",
        "ActivityDateTime",
        "CreatedDate",
        "WhoId",
        "WhatId",
        "IsDeleted",
        "SystemModstamp",
    ),
}
# The first three characters of each object's record ids.
KEY_PREFIXES = {
    "User": "005",
    "Account": "001",
    "Campaign": "701",
    "Lead": "00Q",
    "LeadHistory": "017",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Task": "00T",
    "Event": "00U",
}
_DATETIME_FIELDS = {
    "CreatedDate",
    "SystemModstamp",
    "LastModifiedDate",
    "CompletedDateTime",
    "StartDateTime",
    "EndDateTime",
    "ActivityDateTime",
}
_DATE_FIELDS = {"CloseDate", "ActivityDate", "StartDate", "EndDate", "ConvertedDate"}
_BOOLEAN_FIELDS = {"IsActive", "IsDeleted", "IsConverted", "IsClosed", "IsWon"}
_NUMBER_FIELDS = {"Amount", "ActualCost"}
_KINDS = {"string", "datetime", "date", "boolean", "number"}

_SOQL = re.compile(
    r"""\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\S+)
        (?:\s+WHERE\s+(?P<where>\S+?)\s*>\s*(?P<literal>\S+))?
        (?:\s+ORDER\s+BY\s+(?P<order>\S+?)(?:\s+ASC)?)?
        \s*""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DATETIME_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")
_LOCATOR = re.compile(r"01gFAKE(\d+)-(\d+)")
_SUBSET = "SELECT f1, f2, ... FROM Object [WHERE Field > <datetime>] [ORDER BY Field [ASC]]"
_RECORDED_HEADERS = ("Authorization", "Content-Type", "Sforce-Query-Options", "Accept-Encoding")


def _field_kind(name: str) -> str:
    if name in _DATETIME_FIELDS:
        return "datetime"
    if name in _DATE_FIELDS:
        return "date"
    if name in _BOOLEAN_FIELDS:
        return "boolean"
    if name in _NUMBER_FIELDS:
        return "number"
    return "string"


def _as_datetime(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{value!r} is not a timezone-aware datetime")
    return moment


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a datetime; a date field takes a date")
    return date.fromisoformat(value) if isinstance(value, str) else value


def _store(kind: str, value: Any) -> Any:
    """A value as the org keeps it: datetimes tz-aware and cut to milliseconds, as Salesforce stores them."""
    if value is None:
        return None
    if kind == "datetime":
        moment = _as_datetime(value)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if kind == "date":
        return _as_date(value)
    return value


def _comparable(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return _as_datetime(value)
    if kind == "date":
        return _as_date(value)
    return value


def _render(kind: str, value: Any) -> Any:
    """A value as the REST API writes it in JSON."""
    if value is None:
        return None
    if kind == "datetime":
        moment = _as_datetime(value).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}+0000"
    if kind == "date":
        return _as_date(value).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _errors(status: int, code: str, message: str) -> web.Response:
    """Salesforce's REST error body: a list of {message, errorCode}."""
    return web.json_response([{"message": message, "errorCode": code}], status=status)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _jwt_subject(assertion: str) -> str | None:
    """The `sub` claim of a compact JWT, read without checking its signature; None when it has none."""
    parts = assertion.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


@dataclass(frozen=True)
class ApiCall:
    """One request the client made, as the fake answered it.

    `kind` is `token`, `query`, `queryAll`, `more` (a nextRecordsUrl continuation) or `other`; `sobject` is the
    object a query page belongs to, once known; `form` is the token request's form body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    kind: str = "other"
    sobject: str = ""
    form: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def soql(self) -> str:
        return self.query.get("q", "")


@dataclass(frozen=True)
class LazyRecords:
    """`count` records of one object, record `i` made by `make(i)` only when a page needs it.

    `make` must be deterministic, give every record an `Id`, and give the `ordered_by` fields values that never
    decrease with `i` (Ids compared as strings): a query filtering or ordering on those fields is then answered
    page by page without holding the object in memory. Any other WHERE / ORDER BY field makes the fake build the
    whole result at the first page. Lazy records are never deleted: `/query` and `/queryAll` answer alike."""

    count: int
    make: Callable[[int], dict[str, Any]]
    ordered_by: tuple[str, ...] = ("Id", "CreatedDate", "SystemModstamp")

    @classmethod
    def generated(
        cls,
        sobject: str,
        count: int,
        *,
        start: datetime,
        step: timedelta = timedelta(seconds=1),
        fields: Callable[[int], dict[str, Any]] | None = None,
    ) -> LazyRecords:
        """`count` records created (and last changed) `step` apart from `start`, plus whatever `fields(i)` adds."""
        prefix = KEY_PREFIXES[sobject]
        known = FIELDS[sobject]

        def make(i: int) -> dict[str, Any]:
            moment = start + i * step
            record: dict[str, Any] = {"Id": f"{prefix}FK{i:013d}"}
            for name in ("CreatedDate", "SystemModstamp"):
                if name in known:
                    record[name] = moment
            if "IsDeleted" in known:
                record["IsDeleted"] = False
            if fields is not None:
                record.update(fields(i))
            return record

        return cls(count, make)


class _LazyRows(Sequence[dict[str, Any]]):
    """Records `start`… of a LazyRecords, as a sequence whose slices are made on demand."""

    def __init__(self, source: LazyRecords, start: int) -> None:
        self._source = source
        self._start = start

    def __len__(self) -> int:
        return max(self._source.count - self._start, 0)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._source.make(self._start + i) for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._source.make(self._start + index)


@dataclass(frozen=True)
class _Soql:
    sobject: str
    fields: tuple[str, ...]
    where: str | None = None
    since: datetime | None = None
    order: str | None = None


class _SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Cursor:
    """One result set being paged: a snapshot taken at its first page."""

    number: int
    soql: _Soql
    rows: Sequence[dict[str, Any]]
    size: int


@dataclass
class _Note:
    """What a handler learns about its request, for the record."""

    kind: str
    sobject: str = ""
    form: dict[str, str] = field(default_factory=dict)
    status: int = 500


@dataclass
class _PageFailure:
    sobject: str
    left: int  # page requests of the object still to pass before the failing one
    status: int


class FakeSalesforceApi(LoopbackServer):
    """The fake server; point the client's login URL (and, through `instance_url`, its API base) at `base_url`."""

    name = "fake Salesforce API"

    def __init__(
        self,
        *,
        client_id: str = "fake-consumer-key",
        client_secret: str = "fake-consumer-secret",
        username: str = "integration@kpibot.example",
        page_size: int = 2000,
        now: datetime | None = None,
        custom_fields: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.page_size = page_size
        self._now = _as_datetime(now or datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
        self.calls: list[ApiCall] = []
        self.objects: dict[str, dict[str, dict[str, Any]] | LazyRecords] = {name: {} for name in FIELDS}
        self._kinds: dict[str, dict[str, str]] = {
            name: {f: _field_kind(f) for f in fields} for name, fields in FIELDS.items()
        }
        self._tokens: set[str] = set()
        self._token_numbers = itertools.count(1)
        self._record_numbers = itertools.count(1)
        self._cursor_numbers = itertools.count(1)
        self._cursors: dict[int, _Cursor] = {}
        self._over_limit = 0
        self._unavailable = 0
        self._page_failures: list[_PageFailure] = []
        self._lock = threading.RLock()
        for sobject, extra in (custom_fields or {}).items():
            for name, kind in extra.items():
                self.add_field(sobject, name, kind)

    # --- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/services/oauth2/token"

    def build_app(self) -> web.Application:
        app = web.Application()
        version = "/services/data/v{version:\\d+\\.\\d+}"
        app.router.add_route("*", "/services/oauth2/token", self._recorded("token", self._token))
        app.router.add_route("*", version + "/query", self._recorded("query", self._query))
        app.router.add_route("*", version + "/queryAll", self._recorded("queryAll", self._query_all))
        app.router.add_route("*", version + "/query/{locator}", self._recorded("more", self._more))
        app.router.add_route("*", "/{tail:.*}", self._recorded("other", self._not_found))
        return app

    # --- the org --------------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The org's clock: what `add` / `update` / `delete` stamp and what tokens' `issued_at` says."""
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        self._now = _as_datetime(value)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock on by `delta` or `timedelta(**parts)`; the new time."""
        self.now = self._now + (delta if delta is not None else timedelta(**parts))
        return self._now

    def add_field(self, sobject: str, name: str, kind: str | None = None) -> None:
        """Make a (custom) field queryable: kind is string, datetime, date, boolean or number (by default, guessed
        from the standard field names)."""
        kind = kind or _field_kind(name)
        if kind not in _KINDS:
            raise ValueError(f"field kind {kind!r} is not one of {sorted(_KINDS)}")
        with self._lock:
            self._kinds[self._object_name(sobject)][name] = kind

    def add(self, sobject: str, *, track_history: bool = True, **fields: Any) -> str:
        """Create a record (its Id given or made); `CreatedDate`, `LastModifiedDate` and `SystemModstamp` default to
        `now`, `IsDeleted` to False. Creating an Opportunity also writes its first OpportunityHistory row."""
        with self._lock:
            name, table = self._table(sobject)
            record_id = fields.pop("Id", None) or self._new_id(name)
            if record_id in table:
                raise ValueError(f"{name} {record_id} already exists")
            record: dict[str, Any] = {"Id": record_id}
            kinds = self._kinds[name]
            stamps = {"CreatedDate": self._now, "LastModifiedDate": self._now, "SystemModstamp": self._now}
            for stamp, moment in stamps.items():
                if stamp in kinds or stamp == "LastModifiedDate":
                    record[stamp] = moment
            if "IsDeleted" in kinds:
                record["IsDeleted"] = False
            record.update(self._stored(name, fields))
            table[record_id] = record
            if track_history and name == "Opportunity":
                self._opportunity_history(record)
            return record_id

    def update(self, sobject: str, record_id: str, *, track_history: bool = True, **fields: Any) -> None:
        """Change a record, stamping `LastModifiedDate` and `SystemModstamp` (unless given). A changed Lead Status
        writes a LeadHistory row; a changed Opportunity StageName, Amount or CloseDate an OpportunityHistory row."""
        with self._lock:
            name, table = self._table(sobject)
            record = table[record_id]
            before = dict(record)
            record["LastModifiedDate"] = self._now
            if "SystemModstamp" in self._kinds[name]:
                record["SystemModstamp"] = self._now
            record.update(self._stored(name, fields))
            if not track_history:
                return
            if name == "Lead" and "Status" in fields and before.get("Status") != record.get("Status"):
                self.add(
                    "LeadHistory",
                    LeadId=record_id,
                    Field="Status",
                    OldValue=before.get("Status"),
                    NewValue=record.get("Status"),
                )
            tracked = ("StageName", "Amount", "CloseDate")
            if name == "Opportunity" and any(before.get(f) != record.get(f) for f in tracked):
                self._opportunity_history(record)

    def delete(self, sobject: str, record_id: str) -> None:
        """Move a record to the recycle bin: `IsDeleted` true, stamped; `/queryAll` still answers it."""
        with self._lock:
            name, table = self._table(sobject)
            if "IsDeleted" not in self._kinds[name]:
                raise ValueError(f"{name} records cannot be deleted")
            record = table[record_id]
            record["IsDeleted"] = True
            record["LastModifiedDate"] = self._now
            if "SystemModstamp" in self._kinds[name]:
                record["SystemModstamp"] = self._now

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        """A copy of one record as the org holds it."""
        with self._lock:
            return dict(self._table(sobject)[1][record_id])

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Copies of an object's records (deleted ones included), in the order they were added."""
        with self._lock:
            return [dict(record) for record in self._table(sobject)[1].values()]

    def issue_token(self) -> str:
        """A valid access token, as the token endpoint would hand out."""
        with self._lock:
            token = f"{ORG_ID[:15]}!FAKE{next(self._token_numbers):04d}.{secrets.token_urlsafe(24)}"
            self._tokens.add(token)
            return token

    # --- faults ---------------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (401 `INVALID_SESSION_ID`); new ones work."""
        with self._lock:
            self._tokens.clear()

    def exceed_limit(self, calls: int = 1) -> None:
        """The next `calls` API calls answer 403 `REQUEST_LIMIT_EXCEEDED`."""
        with self._lock:
            self._over_limit += calls

    def make_unavailable(self, calls: int = 1) -> None:
        """The next `calls` API calls answer 503 `SERVER_UNAVAILABLE`."""
        with self._lock:
            self._unavailable += calls

    def fail_page(self, sobject: str, nth: int = 1, *, status: int = 500) -> None:
        """The `nth` page request of `sobject` from now on (a first page or a continuation) answers `status`
        with `UNKNOWN_EXCEPTION`, once; asking for that page again then works."""
        if nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._page_failures.append(_PageFailure(self._object_name(sobject), nth - 1, status))

    # --- what tests read ------------------------------------------------------------------------------------------

    def calls_of(self, kind: str, sobject: str | None = None, *, after: int = 0) -> list[ApiCall]:
        """The calls of one kind (`token`, `query`, `queryAll`, `more`, `other`), of one object if given."""
        with self._lock:
            return [
                call
                for call in self.calls[after:]
                if call.kind == kind and (sobject is None or call.sobject == sobject)
            ]

    def queries(self, sobject: str | None = None, *, after: int = 0) -> list[str]:
        """The SOQL of every first page asked for (by `/query` or `/queryAll`), of one object if given."""
        with self._lock:
            return [
                call.soql
                for call in self.calls[after:]
                if call.kind in ("query", "queryAll") and (sobject is None or call.sobject == sobject)
            ]

    def wait_for_calls(
        self, kind: str, count: int = 1, *, sobject: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> list[ApiCall]:
        """The first `count` calls of `kind` made after call number `after`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_of(kind, sobject, after=after)
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                seen = [f"{call.kind} {call.status}" for call in self.calls[after:]]
                raise AssertionError(f"expected {count} {kind} call(s) within {timeout} s; saw {seen}")
            time.sleep(0.02)

    async def await_calls(
        self, kind: str, count: int = 1, *, sobject: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> list[ApiCall]:
        """`wait_for_calls` for a test whose own event loop runs the client: waits without blocking that loop."""
        deadline = time.monotonic() + timeout
        while len(self.calls_of(kind, sobject, after=after)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.wait_for_calls(kind, count, sobject=sobject, after=after, timeout=0)

    # --- the org's internals --------------------------------------------------------------------------------------

    def _object_name(self, sobject: str) -> str:
        if sobject not in self._kinds:
            raise ValueError(f"the fake has no {sobject!r} object; it knows {sorted(self._kinds)}")
        return sobject

    def _table(self, sobject: str) -> tuple[str, dict[str, dict[str, Any]]]:
        name = self._object_name(sobject)
        table = self.objects.setdefault(name, {})
        if isinstance(table, LazyRecords):
            raise TypeError(f"{name} is served from LazyRecords; its records cannot be changed")
        return name, table

    def _new_id(self, sobject: str) -> str:
        return f"{KEY_PREFIXES.get(sobject, 'a00')}FK{next(self._record_numbers):013d}"

    def _stored(self, sobject: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        kinds = self._kinds[sobject]
        unknown = sorted(set(fields) - set(kinds) - {"LastModifiedDate"})
        if unknown:
            raise ValueError(f"{sobject} has no field(s) {unknown}; add_field() makes custom ones")
        return {name: _store(kinds.get(name, "datetime"), value) for name, value in fields.items()}

    def _opportunity_history(self, opportunity: Mapping[str, Any]) -> None:
        self.add(
            "OpportunityHistory",
            OpportunityId=opportunity["Id"],
            StageName=opportunity.get("StageName"),
            Amount=opportunity.get("Amount"),
            CloseDate=opportunity.get("CloseDate"),
        )

    # --- the server -----------------------------------------------------------------------------------------------

    def _recorded(
        self, kind: str, handler: Callable[[web.Request, _Note], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """`handler`, its request recorded with the status it answered."""

        async def serve(request: web.Request) -> web.Response:
            note = _Note(kind)
            try:
                response = await handler(request, note)
                note.status = response.status
                return response
            finally:
                self._record(request, note)

        return serve

    def _record(self, request: web.Request, note: _Note) -> None:
        call = ApiCall(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={name: request.headers[name] for name in _RECORDED_HEADERS if name in request.headers},
            status=note.status,
            kind=note.kind,
            sobject=note.sobject,
            form=note.form,
        )
        with self._lock:
            self.calls.append(call)

    async def _not_found(self, request: web.Request, note: _Note) -> web.Response:
        return _errors(404, "NOT_FOUND", "The requested resource does not exist")

    # The token endpoint.

    async def _token(self, request: web.Request, note: _Note) -> web.Response:
        if request.method != "POST":
            return _oauth_error("invalid_request", "must use HTTP POST")
        body = await request.read()
        form: dict[str, str] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        note.form = form
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            if client_id is None and client_secret is None:
                client_id, client_secret = self._basic_credentials(request)
            if client_id != self.client_id or client_secret != self.client_secret:
                return _oauth_error("invalid_client", "invalid client credentials")
            return self._grant(self.client_secret)
        if grant == JWT_BEARER:
            if _jwt_subject(form.get("assertion", "")) != self.username:
                return _oauth_error("invalid_grant", "invalid assertion")
            return self._grant(self.client_id)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    @staticmethod
    def _basic_credentials(request: web.Request) -> tuple[str | None, str | None]:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, colon, client_secret = decoded.partition(":")
        return (unquote(client_id), unquote(client_secret)) if colon else (None, None)

    def _grant(self, signing_key: str) -> web.Response:
        identity = f"{self.base_url}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(self._now.timestamp() * 1000))
        digest = hmac.new(signing_key.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        return web.json_response(
            {
                "access_token": self.issue_token(),
                "instance_url": self.base_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(digest).decode(),
            }
        )

    # The query resources.

    def _gate(self, request: web.Request) -> web.Response | None:
        """The refusal every API call meets before its resource: wrong method, bad session, injected faults."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            if scheme.lower() not in ("bearer", "oauth") or token.strip() not in self._tokens:
                return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if request.method not in ("GET", "HEAD"):
                return _errors(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are GET,HEAD",
                )
            if self._unavailable > 0:
                self._unavailable -= 1
                return _errors(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again.")
            if self._over_limit > 0:
                self._over_limit -= 1
                return _errors(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                )
        return None

    def _page_failure(self, sobject: str) -> web.Response | None:
        with self._lock:
            for failure in self._page_failures:
                if failure.sobject != sobject:
                    continue
                if failure.left > 0:
                    failure.left -= 1
                    continue
                self._page_failures.remove(failure)
                message = (
                    "An unexpected error occurred. Please include this ErrorId if you contact support: FAKE"
                )
                return _errors(failure.status, "UNKNOWN_EXCEPTION", message)
        return None

    def _batch_size(self, request: web.Request) -> int:
        """The page size: ours, or smaller when the client asks for a batchSize (200 to 2000) below it."""
        for option in request.headers.get("Sforce-Query-Options", "").split(","):
            key, _, value = option.strip().partition("=")
            if key == "batchSize" and value.isdigit() and 200 <= int(value) <= 2000:
                return min(self.page_size, int(value))
        return self.page_size

    async def _query(self, request: web.Request, note: _Note) -> web.Response:
        return self._first_page(request, note, all_rows=False)

    async def _query_all(self, request: web.Request, note: _Note) -> web.Response:
        return self._first_page(request, note, all_rows=True)

    def _first_page(self, request: web.Request, note: _Note, *, all_rows: bool) -> web.Response:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        text = request.query.get("q")
        if not text:
            return _errors(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            soql = self._parse(text)
        except _SoqlError as exc:
            return _errors(400, exc.code, exc.message)
        note.sobject = soql.sobject
        failure = self._page_failure(soql.sobject)
        if failure is not None:
            return failure
        with self._lock:
            cursor = _Cursor(
                next(self._cursor_numbers), soql, self._select(soql, all_rows), self._batch_size(request)
            )
            if len(cursor.rows) > cursor.size:
                self._cursors[cursor.number] = cursor
        return self._page(cursor, 0, request.match_info["version"])

    async def _more(self, request: web.Request, note: _Note) -> web.Response:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        match = _LOCATOR.fullmatch(request.match_info["locator"])
        with self._lock:
            cursor = self._cursors.get(int(match.group(1))) if match else None
        offset = int(match.group(2)) if match else 0
        if cursor is None or not 0 < offset < len(cursor.rows):
            return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        note.sobject = cursor.soql.sobject
        failure = self._page_failure(cursor.soql.sobject)
        if failure is not None:
            return failure
        return self._page(cursor, offset, request.match_info["version"])

    def _page(self, cursor: _Cursor, offset: int, version: str) -> web.Response:
        rows = cursor.rows[offset : offset + cursor.size]
        end = offset + len(rows)
        done = end >= len(cursor.rows)
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": done}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/01gFAKE{cursor.number}-{end}"
        sobject = cursor.soql.sobject
        kinds = self._kinds[sobject]
        body["records"] = [
            {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
                },
                **{name: _render(kinds[name], row.get(name)) for name in cursor.soql.fields},
            }
            for row in rows
        ]
        return web.json_response(body)

    # SOQL.

    def _parse(self, text: str) -> _Soql:
        match = _SOQL.fullmatch(text)
        if match is None:
            raise _SoqlError(
                "MALFORMED_QUERY", f"unexpected token in {text.strip()!r}: the fake understands {_SUBSET}"
            )
        wanted = match.group("sobject")
        sobject = next((name for name in self._kinds if name.lower() == wanted.lower()), None)
        if sobject is None:
            raise _SoqlError(
                "INVALID_TYPE",
                f"sObject type '{wanted}' is not supported. If you are attempting to use a custom object, be sure "
                "to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
                "the appropriate names.",
            )
        kinds = self._kinds[sobject]
        fields: list[str] = []
        for raw in match.group("fields").split(","):
            name = raw.strip()
            if not _NAME.fullmatch(name):
                raise _SoqlError(
                    "MALFORMED_QUERY", f"unexpected token: {name or ','!r}; the fake understands {_SUBSET}"
                )
            canonical = self._field(sobject, name)
            if canonical in fields:
                raise _SoqlError("MALFORMED_QUERY", f"duplicate field selected: {canonical}")
            fields.append(canonical)
        where = since = order = None
        if match.group("where"):
            where = self._field(sobject, match.group("where"))
            literal = match.group("literal")
            if kinds[where] != "datetime" or literal[:1] in ("'", '"'):
                kind = {"datetime": "dateTime"}.get(kinds[where], kinds[where])
                raise _SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"value of filter criterion for field '{where}' must be of type {kind} and should not be "
                    "enclosed in quotes (the fake filters only dateTime fields, with >)",
                )
            if not _DATETIME_LITERAL.fullmatch(literal):
                raise _SoqlError(
                    "MALFORMED_QUERY",
                    f"unexpected token: '{literal}' (a dateTime literal looks like 2026-11-01T09:30:00Z or "
                    "2026-11-01T09:30:00+02:00; a '+' left unescaped in the URL arrives as a space)",
                )
            since = datetime.fromisoformat(literal)
        if match.group("order"):
            order = self._field(sobject, match.group("order"))
        return _Soql(sobject, tuple(fields), where, since, order)

    def _field(self, sobject: str, name: str) -> str:
        found = next((known for known in self._kinds[sobject] if known.lower() == name.lower()), None)
        if found is None or not _NAME.fullmatch(name):
            raise _SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )
        return found

    def _select(self, soql: _Soql, all_rows: bool) -> Sequence[dict[str, Any]]:
        """The query's result set: a snapshot, so records changed while it is paged stay where they were."""
        kinds = self._kinds[soql.sobject]
        source = self.objects.get(soql.sobject, {})
        if isinstance(source, LazyRecords):
            ordered = (None, *source.ordered_by)
            if soql.where in ordered and soql.order in ordered:
                start = 0
                if soql.where is not None:
                    where = soql.where
                    start = bisect.bisect_right(
                        range(source.count),
                        soql.since,
                        key=lambda i: _comparable(kinds[where], source.make(i)[where]),
                    )
                return _LazyRows(source, start)
            candidates: Iterator[dict[str, Any]] = (source.make(i) for i in range(source.count))
        else:
            candidates = (dict(record) for record in source.values())
        rows = [
            row
            for row in candidates
            if (all_rows or not row.get("IsDeleted"))
            and (soql.where is None or self._after(kinds[soql.where], row.get(soql.where), soql.since))
        ]
        if soql.order is not None:
            kind, order = kinds[soql.order], soql.order

            def key(row: dict[str, Any]) -> tuple[Any, ...]:
                value = _comparable(kind, row.get(order))
                return (
                    (0, "", row["Id"]) if value is None else (1, value, row["Id"])
                )  # nulls first, as ASC is

            rows.sort(key=key)
        return rows

    @staticmethod
    def _after(kind: str, value: Any, since: datetime | None) -> bool:
        moment = _comparable(kind, value)
        return moment is not None and since is not None and moment > since
