"""A fake HubSpot CRM API (v3 objects, search, owners, pipelines; v4 associations): a real HTTP server on 127.0.0.1
that kpibot's HubSpot sync talks to.

It answers, as HubSpot documents them:
- `GET /crm/v3/owners?limit&after&archived` → `{"results": [{id, email, firstName, lastName, userId, createdAt,
  updatedAt, archived, teams: [{id, name, primary}]}], "paging": {"next": {"after", "link"}}}`.
- `GET /crm/v3/pipelines/deals` → `{"results": [{id, label, displayOrder, stages: [{id, label, displayOrder,
  metadata: {isClosed: "true"|"false", probability: "1.0"…}}]}]}`.
- `POST /crm/v3/objects/<type>/search` with `filterGroups` (or-ed groups of and-ed `{propertyName, operator,
  value}`; operators EQ, NEQ, GT, GTE, LT, LTE; datetimes compared as milliseconds since the epoch), `sorts` (one),
  `properties`, `limit` (at most 200; more is 400 VALIDATION_ERROR), `after` → `{"total", "results": [{id,
  properties, createdAt, updatedAt, archived}], "paging": {"next": {"after"}}}`, at most `search_cap` (10 000)
  results per query: an `after` past it is 400. Archived records never match. Properties are strings, datetimes
  ISO 8601 with milliseconds and `Z`; `hs_object_id`, `createdate` / `hs_createdate` and the modification stamp
  always come back.
- `GET /crm/v3/objects/<type>?archived=true&limit&after` → the archived records with their `archivedAt`.
- `POST /crm/v4/associations/<from>/<to>/batch/read` `{"inputs": [{"id"}]}` → `{"status": "COMPLETE", "results":
  [{"from": {"id"}, "to": [{"toObjectId", "associationTypes": [{"category", "typeId", "label"}]}]}]}`; an input
  without associations is an entry of `errors` (NO_ASSOCIATIONS_FOUND) and the answer 207 Multi-Status.
Every call needs `Authorization: Bearer <token>`; another is 401 `{"status": "error", "category":
"INVALID_AUTHENTICATION", …}`. On demand the next calls are answered 429 `{"status": "error", "category":
"RATE_LIMITS", "policyName": "SECONDLY"}` (with a Retry-After when asked), 403 MISSING_SCOPES, or a proxy's
5xx page. Tests change the CRM through
`add` / `update` / `archive`, stamped from the settable clock `now`. Every request is recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeHubspotApi"]

OBJECTS = ("companies", "contacts", "deals", "calls", "meetings", "emails", "tasks")
_STAMPS = {"contacts": "lastmodifieddate"}
_CREATED = {
    "calls": "hs_createdate",
    "meetings": "hs_createdate",
    "emails": "hs_createdate",
    "tasks": "hs_createdate",
}
_OPS = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(value: str) -> float | str:
    """A property value for comparing: a datetime or epoch milliseconds as milliseconds, a number as a number."""
    text = str(value)
    if text.isdigit():
        return float(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return text


@dataclass
class ApiCall:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class _Record:
    id: str
    properties: dict[str, str]
    created: datetime
    updated: datetime
    archived_at: datetime | None = None


@dataclass
class FakeHubspotApi(LoopbackServer):
    token: str = "pat-na1-test-token"
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, tzinfo=UTC))
    search_cap: int = 10_000
    name = "fake HubSpot API"

    def __post_init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.reset(self.now)

    def reset(self, now: datetime) -> None:
        """An empty CRM at `now` (one server serves a whole test module)."""
        self.now = now
        self.search_cap = 10_000
        self.records: dict[str, dict[str, _Record]] = {o: {} for o in OBJECTS}
        self.owners: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = []
        self.links: dict[tuple[str, str], dict[str, list[tuple[str, int]]]] = {}
        self.calls: list[ApiCall] = []
        self.fail_next: list[
            tuple[int, str | None]
        ] = []  # (status, Retry-After) answered before the real ones
        self._ids = itertools.count(1001)

    # -- the CRM, as tests change it ----------------------------------------------------------------------------
    def add_owner(
        self, owner_id: str, email: str, first: str, last: str, *, team: tuple[str, str] | None = None
    ) -> None:
        teams = [{"id": team[0], "name": team[1], "primary": True}] if team else []
        stamp = _iso(self.now)
        self.owners.append(
            {"id": owner_id, "email": email, "firstName": first, "lastName": last, "userId": int(owner_id) + 7,
             "createdAt": stamp, "updatedAt": stamp, "archived": False, "teams": teams}
        )  # fmt: skip

    def add_pipeline(self, pipeline_id: str, label: str, stages: list[tuple[str, str, bool, str]]) -> None:
        """Stages as (id, label, closed, probability)."""
        self.pipelines.append(
            {"id": pipeline_id, "label": label, "displayOrder": len(self.pipelines), "archived": False,
             "stages": [{"id": s, "label": lab, "displayOrder": i, "archived": False,
                         "metadata": {"isClosed": "true" if closed else "false", "probability": p}}
                        for i, (s, lab, closed, p) in enumerate(stages)]}
        )  # fmt: skip

    def add(self, object_type: str, properties: dict[str, Any], record_id: str | None = None) -> str:
        record_id = record_id or str(next(self._ids))
        created = _CREATED.get(object_type, "createdate")
        props = {k: self._text(v) for k, v in properties.items()}
        props.setdefault(created, _iso(self.now))
        with self.lock:
            self.records[object_type][record_id] = _Record(record_id, props, self.now, self.now)
            self._stamp(object_type, self.records[object_type][record_id])
        return record_id

    def update(self, object_type: str, record_id: str, **properties: Any) -> None:
        with self.lock:
            record = self.records[object_type][record_id]
            record.properties.update({k: self._text(v) for k, v in properties.items()})
            record.updated = self.now
            self._stamp(object_type, record)

    def archive(self, object_type: str, record_id: str) -> None:
        with self.lock:
            self.records[object_type][record_id].archived_at = self.now

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int = 0) -> None:
        """Both ways, as HubSpot keeps an association."""
        with self.lock:
            self.links.setdefault((from_type, to_type), {}).setdefault(from_id, []).append((to_id, type_id))
            self.links.setdefault((to_type, from_type), {}).setdefault(to_id, []).append((from_id, type_id))

    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        self.fail_next.extend([(status, retry_after)] * times)

    def searches(self, object_type: str | None = None) -> list[ApiCall]:
        return [
            c
            for c in self.calls
            if c.path.endswith("/search") and (object_type is None or f"/{object_type}/" in c.path)
        ]

    @staticmethod
    def _text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return _iso(value)
        return str(value)

    def _stamp(self, object_type: str, record: _Record) -> None:
        record.properties[_STAMPS.get(object_type, "hs_lastmodifieddate")] = _iso(record.updated)
        record.properties["hs_object_id"] = record.id

    # -- the API ------------------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/crm/v3/owners", self._owners)
        app.router.add_get("/crm/v3/owners/", self._owners)
        app.router.add_get("/crm/v3/pipelines/deals", self._pipelines)
        app.router.add_post("/crm/v3/objects/{type}/search", self._search)
        app.router.add_get("/crm/v3/objects/{type}", self._list)
        app.router.add_post("/crm/v4/associations/{from}/{to}/batch/read", self._associations)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        call = ApiCall(request.method, request.path, dict(request.query), body, 0)
        self.calls.append(call)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            answer: web.StreamResponse = _error(
                401, "INVALID_AUTHENTICATION", "Authentication credentials not found."
            )
        elif self.fail_next:
            status, retry_after = self.fail_next.pop(0)
            if status == 429:
                answer = web.json_response(
                    {"status": "error", "message": "You have reached your secondly limit.",
                     "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "category": "RATE_LIMITS",
                     "policyName": "SECONDLY"}, status=429,
                    headers={"Retry-After": retry_after} if retry_after else None,
                )  # fmt: skip
            elif status == 403:
                answer = _error(
                    403,
                    "MISSING_SCOPES",
                    "This app hasn't been granted all required scopes to make this call.",
                )
            else:
                answer = web.Response(status=status, text="<html>Bad gateway</html>")
        else:
            try:
                answer = await handler(request)
            except _Refused as refused:
                answer = _error(400, "VALIDATION_ERROR", str(refused))
        call.status = answer.status
        return answer

    def _paged(self, request: web.Request, items: list[Any], limit_max: int = 500) -> tuple[list[Any], dict]:
        limit = int(request.query.get("limit", "10"))
        start = int(request.query.get("after", "0") or 0)
        page = items[start : start + min(limit, limit_max)]
        paging = {}
        if start + limit < len(items):
            paging = {
                "paging": {
                    "next": {
                        "after": str(start + limit),
                        "link": f"{self.base_url}{request.path}?after={start + limit}",
                    }
                }
            }
        return page, paging

    async def _owners(self, request: web.Request) -> web.Response:
        archived = request.query.get("archived", "false") == "true"
        owners = [o for o in self.owners if o["archived"] == archived]
        page, paging = self._paged(request, owners)
        return web.json_response({"results": page, **paging})

    async def _pipelines(self, request: web.Request) -> web.Response:
        return web.json_response({"results": self.pipelines})

    async def _list(self, request: web.Request) -> web.Response:
        object_type = request.match_info["type"]
        if object_type not in self.records:
            return _error(404, "OBJECT_NOT_FOUND", f"Unable to infer object type from: {object_type}")
        archived = request.query.get("archived", "false") == "true"
        with self.lock:
            records = [
                r for r in self.records[object_type].values() if (r.archived_at is not None) == archived
            ]
        page, paging = self._paged(request, sorted(records, key=lambda r: int(r.id)), 100)
        return web.json_response({"results": [self._render(r, ["hs_object_id"]) for r in page], **paging})

    async def _search(self, request: web.Request) -> web.Response:
        object_type = request.match_info["type"]
        if object_type not in self.records:
            return _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        body = await request.json()
        limit = int(body.get("limit", 10))
        if limit > 200:
            raise _Refused(f"limit must be at most 200, got {limit}")
        after = int(body.get("after") or 0)
        if after + limit > self.search_cap:
            raise _Refused(f"Paging beyond {self.search_cap} results is not supported")
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        if len(sorts) > 1:
            raise _Refused("only one sort is supported")
        with self.lock:
            found = [r for r in self.records[object_type].values() if r.archived_at is None]
            groups = body.get("filterGroups") or []
            if groups:
                found = [r for r in found if any(self._match(r, g.get("filters") or []) for g in groups)]
            key = sorts[0]["propertyName"]
            found.sort(
                key=lambda r: (_ms(r.properties.get(key, "")), int(r.id)),
                reverse=sorts[0].get("direction") == "DESCENDING",
            )
            page = found[after : after + limit]
            names = list(body.get("properties") or ())
            results = [self._render(r, names, object_type) for r in page]
        answer: dict[str, Any] = {"total": len(found), "results": results}
        if after + limit < len(found):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return web.json_response(answer)

    @staticmethod
    def _match(record: _Record, filters: list[dict[str, Any]]) -> bool:
        for f in filters:
            op = _OPS.get(f.get("operator", ""))
            if op is None:
                raise _Refused(f"operator {f.get('operator')!r} is not supported here")
            value = record.properties.get(f["propertyName"])
            if value in (None, "") or not op(_ms(value), _ms(f["value"])):
                return False
        return True

    def _render(self, record: _Record, names: list[str], object_type: str = "") -> dict[str, Any]:
        always = [
            "hs_object_id",
            _CREATED.get(object_type, "createdate"),
            _STAMPS.get(object_type, "hs_lastmodifieddate"),
        ]
        props = {n: (record.properties.get(n) or None) for n in dict.fromkeys([*always, *names])}
        out = {"id": record.id, "properties": props, "createdAt": _iso(record.created),
               "updatedAt": _iso(record.updated), "archived": record.archived_at is not None}  # fmt: skip
        if record.archived_at is not None:
            out["archivedAt"] = _iso(record.archived_at)
        return out

    async def _associations(self, request: web.Request) -> web.Response:
        pair = (request.match_info["from"], request.match_info["to"])
        body = await request.json()
        links = self.links.get(pair, {})
        results, errors = [], []
        for item in body.get("inputs") or ():
            targets = links.get(str(item["id"]))
            if not targets:
                errors.append(
                    {"status": "error", "category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                     "message": f"No {pair[1]} is associated with {pair[0]} {item['id']}.", "context": {"fromObjectId": [str(item["id"])]}}
                )  # fmt: skip
            else:
                results.append({"from": {"id": str(item["id"])}, "to": [
                    {"toObjectId": int(t), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": k, "label": None}]}
                    for t, k in targets]})  # fmt: skip
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _iso(self.now),
                                  "completedAt": _iso(self.now)}  # fmt: skip
        if errors:  # some inputs failed: 207 Multi-Status, with the errors beside the results
            answer |= {"numErrors": len(errors), "errors": errors}
        return web.json_response(answer, status=207 if errors else 200)


class _Refused(Exception):
    pass


def _error(status: int, category: str, message: str) -> web.Response:
    return web.json_response(
        {"status": "error", "message": message, "correlationId": "c0ffee", "category": category},
        status=status,
    )
