"""A fake SugarCRM REST API (v10 / v11 / v11_N): a real HTTP server on 127.0.0.1 that kpibot's SugarCRM sync talks to.

It answers, under `/rest/<version>/`:
- `POST oauth2/token` (a JSON or form body): the password grant (`grant_type=password`, `client_id`,
  `client_secret`, `username`, `password`, `platform`) and the refresh-token grant, answered
  `{access_token, expires_in, token_type, scope, refresh_token, refresh_expires_in, download_token}`. A wrong
  username or password is 401 `{"error": "need_login", "error_message": "You must specify a valid username and
  password."}`; a wrong client 400 `invalid_client`; an unknown or used refresh token 400 `invalid_grant` (a refresh
  hands out a new refresh token and retires the old one, as Sugar does).
- `POST <Module>/filter` with the JSON body the filter API documents: `filter` (a list of `{field: value}` or
  `{field: {"$gt" | "$gte" | "$lt" | "$lte" | "$equals" | "$not_equals": value}}`, and-ed), `fields` (comma
  separated; `id` and `date_modified` always come back), `order_by` (`field:ASC,field:DESC`), `max_num` (default 20,
  capped at the fake's `page_size`), `offset`, `deleted` (true includes deleted records). Answered
  `{"next_offset": n or -1, "records": [...]}` with each record's `_acl` and `_module`, datetimes as
  `2026-11-01T09:30:00+00:00`, dates as `YYYY-MM-DD`, `deleted` as a JSON boolean, amounts as Sugar's decimal
  strings, missing values as "" (Sugar's empty) — only the fields asked for.
The API calls need the header `OAuth-Token: <access token>`; a token the fake did not issue, or one it expired, is
401 `{"error": "invalid_grant", "error_message": "The access token provided is invalid."}`. Other errors use Sugar's
body `{"error": <label>, "error_message": <text>}`: 404 `no_method` for another route, 422 `invalid_parameter` for
a filter it does not understand or a field the module lacks (Sugar ignores unknown `fields`; the fake refuses them, so
a mapping typo fails loudly).

Tests change the CRM through `add` / `update` / `delete`, which stamp `date_entered` / `date_modified` from the
settable clock `now` (a delete marks the record `deleted` and stamps it, as Sugar's mark_deleted does). On demand it
expires the tokens it issued, answers the next calls 429 with a `Retry-After`, or runs a hook before each filter
page (to change a record between two pages). Every request is recorded with its JSON body and status.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeSugarcrmApi", "FIELDS"]

_COMMON = ("id", "date_entered", "date_modified", "created_by", "modified_user_id", "deleted")
_ASSIGNED = ("assigned_user_id", "assigned_user_name")
# Each module's fields, as Sugar's standard vardefs name them (a subset).
FIELDS: dict[str, tuple[str, ...]] = {
    "Users": (
        *_COMMON,
        "user_name",
        "first_name",
        "last_name",
        "full_name",
        "email1",
        "email",
        "status",
        "employee_status",
        "reports_to_id",
        "preferred_language",
        "is_admin",
    ),
    "Accounts": (*_COMMON, *_ASSIGNED, "name", "industry", "account_type"),
    "Campaigns": (
        *_COMMON,
        *_ASSIGNED,
        "name",
        "campaign_type",
        "status",
        "start_date",
        "end_date",
        "budget",
        "actual_cost",
    ),
    "Leads": (
        *_COMMON,
        *_ASSIGNED,
        "first_name",
        "last_name",
        "account_name",
        "lead_source",
        "status",
        "converted",
        "account_id",
        "contact_id",
        "opportunity_id",
        "campaign_id",
    ),
    "Opportunities": (
        *_COMMON,
        *_ASSIGNED,
        "name",
        "sales_stage",
        "amount",
        "amount_usdollar",
        "date_closed",
        "probability",
        "account_id",
        "campaign_id",
        "lead_source",
    ),
    "Calls": (
        *_COMMON,
        *_ASSIGNED,
        "name",
        "status",
        "direction",
        "date_start",
        "date_end",
        "duration_hours",
        "duration_minutes",
        "parent_type",
        "parent_id",
    ),
    "Meetings": (
        *_COMMON,
        *_ASSIGNED,
        "name",
        "status",
        "date_start",
        "date_end",
        "duration_hours",
        "duration_minutes",
        "parent_type",
        "parent_id",
    ),
    "Tasks": (
        *_COMMON,
        *_ASSIGNED,
        "name",
        "status",
        "priority",
        "date_start",
        "date_due",
        "parent_type",
        "parent_id",
    ),
}
_DATETIMES = {"date_entered", "date_modified", "date_start", "date_end", "date_due"}
_DATES = {"date_closed", "start_date", "end_date"}
_BOOLEANS = {"deleted", "converted", "is_admin"}
_DECIMALS = {"amount", "amount_usdollar", "budget", "actual_cost"}
_COMPARE = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$equals": lambda a, b: a == b,
    "$not_equals": lambda a, b: a != b,
}
_VERSION = "{version:v10|v11|v11_\\d+}"
_DEFAULT_MAX_NUM = 20
_RECORDED_HEADERS = ("OAuth-Token", "Authorization", "Content-Type")


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{value!r} is not a timezone-aware datetime")
    return moment.astimezone(UTC).replace(microsecond=0)  # Sugar stores seconds


def _store(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATETIMES:
        return _aware(value)
    if name in _DATES:
        if isinstance(value, datetime):
            raise ValueError(f"{name} is a date; {value!r} is a datetime")
        return date.fromisoformat(value) if isinstance(value, str) else value
    if name in _BOOLEANS:
        return bool(value)
    if name in _DECIMALS:
        return Decimal(str(value))
    return value


def _render(name: str, value: Any) -> Any:
    if name in _BOOLEANS:
        return bool(value)
    if value is None:
        return ""
    if name in _DATETIMES:
        return _aware(value).isoformat()
    if name in _DATES:
        return value.isoformat()
    if name in _DECIMALS:
        return f"{Decimal(value):.6f}"
    return value


def _error(status: int, label: str, message: str) -> web.Response:
    """Sugar's REST error body."""
    return web.json_response({"error": label, "error_message": message}, status=status)


def _oauth_error(status: int, label: str, description: str) -> web.Response:
    """The OAuth server's own refusals (Sugar passes them on as the OAuth 2.0 spec writes them)."""
    return web.json_response({"error": label, "error_description": description}, status=status)


class _BadFilter(Exception):
    pass


@dataclass(frozen=True)
class ApiCall:
    """One request the client made, as the fake answered it: `kind` is `token`, `filter` or `other`."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    kind: str = "other"
    module: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Note:
    kind: str
    module: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    status: int = 500


class FakeSugarcrmApi(LoopbackServer):
    """The fake server; point SUGARCRM_URL at `base_url`."""

    name = "fake SugarCRM API"

    def __init__(
        self,
        *,
        username: str = "kpibot-sync",
        password: str = "fake-password-1234",
        client_id: str = "sugar",
        client_secret: str = "",
        page_size: int = 1000,
        token_lifetime: int = 3600,
        now: datetime | None = None,
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self._now = _aware(now or datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
        self.calls: list[ApiCall] = []
        self.modules: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        self.before_page: Callable[[int], None] | None = None  # run before each filter page, given its number
        self._tokens: set[str] = set()
        self._refresh_tokens: set[str] = set()
        self._numbers = itertools.count(1)
        self._pages = itertools.count(1)
        self._limited: list[int] = []  # Retry-After of each of the next limited calls
        self._lock = threading.RLock()

    def build_app(self) -> web.Application:
        app = web.Application()
        base = f"/rest/{_VERSION}"
        app.router.add_route("*", base + "/oauth2/token", self._recorded("token", self._token))
        app.router.add_route("*", base + "/{module}/filter", self._recorded("filter", self._filter))
        app.router.add_route("*", "/{tail:.*}", self._recorded("other", self._no_method))
        return app

    # --- the CRM --------------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        self._now = _aware(value)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        self.now = self._now + (delta if delta is not None else timedelta(**parts))
        return self._now

    def add(self, module: str, **fields: Any) -> str:
        """Create a record (its id given or a new UUID); `date_entered` and `date_modified` default to `now`."""
        with self._lock:
            table = self._module(module)
            record_id = str(fields.pop("id", None) or uuid.uuid4())
            if record_id in table:
                raise ValueError(f"{module} {record_id} already exists")
            record: dict[str, Any] = {
                "id": record_id,
                "date_entered": self._now,
                "date_modified": self._now,
                "deleted": False,
            }
            record.update(self._stored(module, fields))
            table[record_id] = record
            return record_id

    def update(self, module: str, record_id: str, **fields: Any) -> None:
        """Change a record, stamping `date_modified` (unless given)."""
        with self._lock:
            record = self._module(module)[record_id]
            record["date_modified"] = self._now
            record.update(self._stored(module, fields))

    def delete(self, module: str, record_id: str) -> None:
        """Mark a record deleted and stamp it; `deleted: true` in a filter still answers it."""
        with self._lock:
            record = self._module(module)[record_id]
            record["deleted"] = True
            record["date_modified"] = self._now

    def get(self, module: str, record_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._module(module)[record_id])

    def records(self, module: str) -> list[dict[str, Any]]:
        """Every record of a module as stored (deleted ones too), in the order they were added."""
        with self._lock:
            return [dict(record) for record in self._module(module).values()]

    # --- faults ---------------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401 `invalid_grant`); refresh tokens still work."""
        with self._lock:
            self._tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused from now on (400 `invalid_grant`), as when the same user
        logs in on the same platform elsewhere."""
        with self._lock:
            self._refresh_tokens.clear()

    def limit(self, calls: int = 1, *, retry_after: int = 2) -> None:
        """The next `calls` filter calls answer 429 with `Retry-After: retry_after`."""
        with self._lock:
            self._limited.extend([retry_after] * calls)

    # --- what tests read ------------------------------------------------------------------------------------------

    def calls_of(self, kind: str, module: str | None = None, *, after: int = 0) -> list[ApiCall]:
        with self._lock:
            return [
                c for c in self.calls[after:] if c.kind == kind and (module is None or c.module == module)
            ]

    # --- internals ------------------------------------------------------------------------------------------------

    def _module(self, module: str) -> dict[str, dict[str, Any]]:
        if module not in self.modules:
            raise ValueError(f"the fake has no module {module!r}; it knows {sorted(self.modules)}")
        return self.modules[module]

    def _stored(self, module: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fields) - set(FIELDS[module]))
        if unknown:
            raise ValueError(f"{module} has no field(s) {unknown}")
        return {name: _store(name, value) for name, value in fields.items()}

    def _recorded(
        self, kind: str, handler: Callable[[web.Request, _Note], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            note = _Note(kind)
            try:
                response = await handler(request, note)
                note.status = response.status
                return response
            finally:
                call = ApiCall(
                    request.method,
                    request.path,
                    note.body,
                    {h: request.headers[h] for h in _RECORDED_HEADERS if h in request.headers},
                    note.status,
                    note.kind,
                    note.module,
                )
                with self._lock:
                    self.calls.append(call)

        return serve

    async def _no_method(self, request: web.Request, note: _Note) -> web.Response:
        return _error(404, "no_method", f"Could not find a route for {request.method} {request.path}")

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        raw = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(raw.decode(), keep_blank_values=True))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # The token endpoint.

    async def _token(self, request: web.Request, note: _Note) -> web.Response:
        if request.method != "POST":
            return _error(404, "no_method", f"Could not find a route for {request.method} {request.path}")
        body = await self._body(request)
        if body is None:
            return _error(400, "bad_request", "The request body is not valid JSON")
        note.body = {k: ("***" if k in ("password", "client_secret") and v else v) for k, v in body.items()}
        if body.get("client_id") != self.client_id or (body.get("client_secret") or "") != self.client_secret:
            return _oauth_error(400, "invalid_client", "The client credentials are invalid")
        grant = body.get("grant_type")
        with self._lock:
            if grant == "password":
                if body.get("username") != self.username or body.get("password") != self.password:
                    return _error(401, "need_login", "You must specify a valid username and password.")
                return self._grant()
            if grant == "refresh_token":
                token = str(body.get("refresh_token") or "")
                if token not in self._refresh_tokens:
                    return _oauth_error(400, "invalid_grant", "Invalid refresh token")
                self._refresh_tokens.discard(token)
                return self._grant()
        return _oauth_error(400, "unsupported_grant_type", "Grant type not supported")

    def _grant(self) -> web.Response:
        number = next(self._numbers)
        access, refresh = (
            f"fake-access-{number:04d}-{uuid.uuid4()}",
            f"fake-refresh-{number:04d}-{uuid.uuid4()}",
        )
        self._tokens.add(access)
        self._refresh_tokens.add(refresh)
        return web.json_response(
            {
                "access_token": access,
                "expires_in": self.token_lifetime,
                "token_type": "bearer",
                "scope": None,
                "refresh_token": refresh,
                "refresh_expires_in": 1209600,
                "download_token": str(uuid.uuid4()),
            }
        )

    # The filter API.

    async def _filter(self, request: web.Request, note: _Note) -> web.Response:
        module = request.match_info["module"]
        note.module = module
        with self._lock:
            if request.headers.get("OAuth-Token", "") not in self._tokens:
                return _error(401, "invalid_grant", "The access token provided is invalid.")
        if request.method != "POST":
            return _error(404, "no_method", f"Could not find a route for {request.method} {request.path}")
        body = await self._body(request)
        if body is None:
            return _error(400, "bad_request", "The request body is not valid JSON")
        note.body = body
        if module not in self.modules:
            return _error(404, "not_found", f"Could not find module {module}")
        with self._lock:
            if self._limited:
                wait = self._limited.pop(0)
                return web.json_response(
                    {"error": "too_many_requests", "error_message": "Too many requests; retry later"},
                    status=429,
                    headers={"Retry-After": str(wait)},
                )
        if self.before_page is not None:
            self.before_page(next(self._pages))
        try:
            return self._answer(module, body)
        except _BadFilter as exc:
            return _error(422, "invalid_parameter", str(exc))

    def _known(self, module: str, name: str) -> str:
        if name not in FIELDS[module]:
            raise _BadFilter(f"Unknown field {name!r} of module {module}")
        return name

    def _answer(self, module: str, body: dict[str, Any]) -> web.Response:
        conditions = body.get("filter") or []
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            raise _BadFilter("filter must be a list of objects")
        tests: list[Callable[[dict[str, Any]], bool]] = [self._condition(module, c) for c in conditions]
        wanted = [f.strip() for f in str(body.get("fields") or "").split(",") if f.strip()]
        fields = list(dict.fromkeys(["id", "date_modified", *(self._known(module, f) for f in wanted)]))
        order: list[tuple[str, bool]] = []
        for part in str(body.get("order_by") or "date_modified:DESC").split(","):
            name, _, direction = part.strip().partition(":")
            if direction.upper() not in ("", "ASC", "DESC"):
                raise _BadFilter(f"order_by direction {direction!r} is not ASC or DESC")
            order.append((self._known(module, name), direction.upper() != "DESC"))
        max_num = min(int(body.get("max_num") or _DEFAULT_MAX_NUM), self.page_size)
        offset = int(body.get("offset") or 0)
        with_deleted = body.get("deleted") in (True, 1, "1", "true")
        with self._lock:
            rows = [
                dict(r)
                for r in self.modules[module].values()
                if (with_deleted or not r.get("deleted")) and all(test(r) for test in tests)
            ]
        for name, ascending in reversed(order):
            present = [r for r in rows if r.get(name) is not None]
            missing = [r for r in rows if r.get(name) is None]
            present.sort(key=lambda r: r[name], reverse=not ascending)
            rows = missing + present if ascending else present + missing
        page = rows[offset : offset + max_num]
        more = offset + len(page) < len(rows)
        records = [
            {
                **{name: _render(name, row.get(name)) for name in fields},
                "_acl": {"fields": {}},
                "_module": module,
            }
            for row in page
        ]
        return web.json_response({"next_offset": offset + len(page) if more else -1, "records": records})

    def _condition(self, module: str, condition: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        if len(condition) != 1:
            raise _BadFilter("each filter object names one field")
        ((name, spec),) = condition.items()
        self._known(module, name)
        operator, value = (
            next(iter(spec.items())) if isinstance(spec, dict) and len(spec) == 1 else ("$equals", spec)
        )
        if operator not in _COMPARE:
            raise _BadFilter(f"the fake does not understand operator {operator!r}")
        try:
            wanted = _store(name, value)
        except (TypeError, ValueError) as exc:
            raise _BadFilter(f"{name}: {exc}") from exc
        compare = _COMPARE[operator]

        def test(record: dict[str, Any]) -> bool:
            have = record.get(name)
            return have is not None and compare(have, wanted)

        return test
