"""A fake Pipedrive REST API: a real HTTP server on 127.0.0.1 that kpibot's Pipedrive sync talks to.

It answers, under `/api/`, with Pipedrive's documented envelope `{"success": true, "data": [...],
"additional_data": {...}}`:
- v2 lists `GET v2/organizations`, `v2/deals`, `v2/activities`, `v2/pipelines`, `v2/stages`: `updated_since`
  (RFC 3339; items updated at or after it), `sort_by` (`id`, `update_time`, `add_time`), `sort_direction`, `limit`
  (default 100, at most 500: more is 400), `cursor` (opaque, handed out as `additional_data.next_cursor`, null on
  the last page); deals also take `status` (comma separated open, won, lost, deleted; without it the deals not
  deleted). Moments are written `2026-11-01T09:00:00Z`, ids as numbers.
- v1 lists `GET v1/users` (all at once, `modified` written `2026-11-01 09:00:00`), `v1/leadLabels`, `v1/leads`
  (`start`, `limit`, `archived_status` archived / not_archived / all (the default), `sort` such as `update_time DESC`;
  `additional_data.pagination` with `more_items_in_collection` and `next_start`; lead ids are UUIDs, moments
  `2026-11-01T09:00:00.000Z`), and `v1/deals/{id}/flow` (`items=dealChange`: the deal's field changes, each
  `{"object": "dealChange", "timestamp", "data": {"field_key", "old_value", "new_value", "log_time"}}`).
Every call needs the token in the `x-api-token` header (or `api_token` in the query); without it, or with another,
401 `{"success": false, "error": "You need to be authorized to make this request.", "errorCode": 401}`. An unknown
query parameter of a v2 list is 400, as Pipedrive's strict v2 validation answers.

Limits: every answer carries `x-daily-requests-left` from the token's daily budget (`daily_budget`); a spent one is
429 with a `Retry-After` of the seconds until midnight (UTC). `burst(calls, reset)` answers the next calls 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`;
`fail(calls, status)` answers them with a 5xx. Tests change the CRM through `add` / `update` / `delete` / `convert`
(a converted lead leaves the leads list, as in Pipedrive), stamped from the settable clock `now`; a deal's stage
change is written into its flow. Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakePipedriveApi"]

_V2 = {"organizations", "deals", "activities", "pipelines", "stages"}
_V2_PARAMS = {"updated_since", "updated_until", "sort_by", "sort_direction", "limit", "cursor", "owner_id"}
_V2_PARAMS_OF = {
    "deals": {"status", "stage_id", "pipeline_id"},
    "activities": {"done"},
    "stages": {"pipeline_id"},
}
_UNAUTHORIZED = {
    "success": False,
    "error": "You need to be authorized to make this request.",
    "errorCode": 401,
}


@dataclass
class ApiCall:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0


def _v2(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakePipedriveApi(LoopbackServer):
    name = "fake Pipedrive API"

    def __init__(self, now: datetime, *, token: str = "pd-token-0123456789abcdef") -> None:
        super().__init__()
        self.token = token
        self.now = now
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            name: {}
            for name in ("users", "organizations", "leads", "deals", "activities", "pipelines", "stages")
        }
        self.labels: list[dict[str, Any]] = []
        self.flows: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[ApiCall] = []
        self.daily_budget = 10_000
        self._burst = (0, 2)
        self._fail = (0, 500)
        self._next_id = 100

    # -- the CRM, as tests change it ----------------------------------------------------------------------------
    def add(self, kind: str, **fields: Any) -> str:
        if "id" not in fields:
            self._next_id += 1
            fields["id"] = str(uuid.uuid4()) if kind == "leads" else self._next_id
        key = str(fields["id"])
        stamp = "modified" if kind == "users" else "update_time"
        record = {"add_time": self.now, stamp: self.now, **fields}
        if kind == "deals":
            record = {"status": "open", "is_deleted": False, "won_time": None, "lost_time": None, **record}
            self.flows.setdefault(key, [])
        if kind == "leads":
            record = {"is_archived": False, "label_ids": [], **record}
        self.objects[kind][key] = record
        return key

    def update(self, kind: str, key: Any, **fields: Any) -> None:
        record = self.objects[kind][str(key)]
        if kind == "deals" and "stage_id" in fields and fields["stage_id"] != record.get("stage_id"):
            self.flows[str(key)].append(
                {"field_key": "stage_id", "old_value": record.get("stage_id"), "new_value": fields["stage_id"],
                 "log_time": self.now}
            )  # fmt: skip
        if kind == "deals" and fields.get("status") == "won":
            fields.setdefault("won_time", self.now)
        if kind == "deals" and fields.get("status") == "lost":
            fields.setdefault("lost_time", self.now)
        record.update(fields)
        record["modified" if kind == "users" else "update_time"] = self.now

    def delete(self, kind: str, key: Any) -> None:
        """Deals are marked deleted (listed under `status=deleted`); others are gone."""
        if kind == "deals":
            self.update(kind, key, is_deleted=True)
        else:
            del self.objects[kind][str(key)]

    def convert(self, lead: str, **deal: Any) -> str:
        """The lead into a new deal: Pipedrive removes the lead from the leads list."""
        del self.objects["leads"][lead]
        return self.add("deals", **deal)

    def burst(self, calls: int, reset: int = 2) -> None:
        self._burst = (calls, reset)

    def fail(self, calls: int, status: int = 502) -> None:
        self._fail = (calls, status)

    def calls_of(self, path: str, after: int = 0) -> list[ApiCall]:
        return [c for c in self.calls[after:] if c.path == path]

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/deals/{id}/flow", self._flow)
        app.router.add_get("/api/{version:v1|v2}/{kind}", self._list)
        return app

    def _answer(
        self, call: ApiCall, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        call.status = status
        headers = {"x-daily-requests-left": str(max(self.daily_budget, 0)), **(headers or {})}
        return web.json_response(body, status=status, headers=headers)

    def _gate(self, request: web.Request) -> tuple[ApiCall, web.Response | None]:
        call = ApiCall(
            request.method, request.path.removeprefix("/api/"), dict(request.query), dict(request.headers)
        )
        self.calls.append(call)
        if (request.headers.get("x-api-token") or request.query.get("api_token")) != self.token:
            return call, self._answer(call, 401, _UNAUTHORIZED)
        if self.daily_budget <= 0:
            body = {"success": False, "error": "Daily request limit reached", "errorCode": 429}
            midnight = (self.now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            wait = str(int((midnight - self.now).total_seconds()))
            return call, self._answer(call, 429, body, {"Retry-After": wait})
        self.daily_budget -= 1
        if self._burst[0] > 0:
            self._burst = (self._burst[0] - 1, self._burst[1])
            body = {"success": False, "error": "Request over limit", "errorCode": 429}
            limits = {
                "x-ratelimit-limit": "80",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(self._burst[1]),
            }
            return call, self._answer(call, 429, body, limits)
        if self._fail[0] > 0:
            self._fail = (self._fail[0] - 1, self._fail[1])
            return call, self._answer(call, self._fail[1], {"success": False, "error": "Bad gateway"})
        return call, None

    async def _list(self, request: web.Request) -> web.Response:
        call, refused = self._gate(request)
        if refused is not None:
            return refused
        version, kind, query = request.match_info["version"], request.match_info["kind"], request.query
        if version == "v2" and kind in _V2:
            unknown = set(query) - _V2_PARAMS - _V2_PARAMS_OF.get(kind, set()) - {"api_token"}
            if unknown:
                return self._answer(
                    call, 400, {"success": False, "error": f"Unknown parameters: {sorted(unknown)}"}
                )
            return self._v2_list(call, kind, query)
        if version == "v1" and kind == "users":
            users = [self._v1_user(u) for u in self.objects["users"].values()]
            return self._answer(call, 200, {"success": True, "data": users})
        if version == "v1" and kind == "leadLabels":
            return self._answer(call, 200, {"success": True, "data": self.labels})
        if version == "v1" and kind == "leads":
            return self._leads(call, query)
        return self._answer(call, 404, {"success": False, "error": "Unknown method ."})

    def _v2_list(self, call: ApiCall, kind: str, query: Any) -> web.Response:
        try:
            limit = int(query.get("limit", 100))
            since = datetime.fromisoformat(query["updated_since"]) if "updated_since" in query else None
        except ValueError as exc:
            return self._answer(call, 400, {"success": False, "error": f"Validation failed: {exc}"})
        if limit > 500:
            return self._answer(
                call, 400, {"success": False, "error": "Validation failed: limit: must be <= 500"}
            )
        items = list(self.objects[kind].values())
        if kind == "deals":
            statuses = set(query.get("status", "open,won,lost").split(","))
            items = [d for d in items if ("deleted" if d["is_deleted"] else d["status"]) in statuses]
        if since is not None:
            items = [i for i in items if i.get("update_time", self.now) >= since]
        sort_by = query.get("sort_by", "id")
        items.sort(key=lambda i: (i.get(sort_by) if sort_by != "id" else int(i["id"]), int(i["id"])))
        if query.get("sort_direction") == "desc":
            items.reverse()
        start = int(json.loads(base64.b64decode(query["cursor"]))["at"]) if query.get("cursor") else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        cursor = base64.b64encode(json.dumps({"at": start + limit}).encode()).decode() if more else None
        data = [self._v2_item(i) for i in page]
        return self._answer(
            call, 200, {"success": True, "data": data, "additional_data": {"next_cursor": cursor}}
        )

    def _leads(self, call: ApiCall, query: Any) -> web.Response:
        archived = query.get("archived_status", "all")  # Pipedrive: all when not given
        leads = list(self.objects["leads"].values())
        if archived != "all":
            leads = [lead for lead in leads if lead["is_archived"] == (archived == "archived")]
        field, _, direction = query.get("sort", "add_time ASC").partition(" ")
        leads.sort(key=lambda lead: lead[field], reverse=direction.upper() == "DESC")
        start, limit = int(query.get("start", 0)), min(int(query.get("limit", 100)), 500)
        page = leads[start : start + limit]
        more = start + limit < len(leads)
        paging = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            paging["next_start"] = start + limit
        data = [self._v1_lead(lead) for lead in page]
        return self._answer(
            call, 200, {"success": True, "data": data, "additional_data": {"pagination": paging}}
        )

    async def _flow(self, request: web.Request) -> web.Response:
        call, refused = self._gate(request)
        if refused is not None:
            return refused
        key = request.match_info["id"]
        if key not in self.flows:
            return self._answer(call, 404, {"success": False, "error": "Deal not found"})
        items = [
            {"object": "dealChange", "timestamp": c["log_time"].strftime("%Y-%m-%d %H:%M:%S"),
             "data": {**c, "item_id": int(key), "log_time": c["log_time"].strftime("%Y-%m-%d %H:%M:%S")}}
            for c in reversed(self.flows[key])  # newest first, as Pipedrive lists a flow
        ]  # fmt: skip
        start, limit = int(request.query.get("start", 0)), int(request.query.get("limit", 100))
        page = items[start : start + limit]
        paging = {"start": start, "limit": limit, "more_items_in_collection": start + limit < len(items)}
        if paging["more_items_in_collection"]:
            paging["next_start"] = start + limit
        return self._answer(
            call, 200, {"success": True, "data": page, "additional_data": {"pagination": paging}}
        )

    # -- shapes -------------------------------------------------------------------------------------------------
    @staticmethod
    def _v2_item(record: dict[str, Any]) -> dict[str, Any]:
        item = {}
        for key, value in record.items():
            if isinstance(value, datetime):
                value = _v2(value)
            elif (
                key in ("id", "owner_id", "org_id", "deal_id", "stage_id", "pipeline_id")
                and value is not None
            ):
                value = int(value) if str(value).isdigit() else value
            item[key] = value
        return item

    @staticmethod
    def _v1_user(record: dict[str, Any]) -> dict[str, Any]:
        user = {"active_flag": True, "locale": "en_US", "timezone_name": "UTC", **record}
        for key in ("add_time", "modified"):
            user[key] = record[key].strftime("%Y-%m-%d %H:%M:%S")
        user["created"] = user.pop("add_time")
        user["id"] = int(record["id"])
        return user

    @staticmethod
    def _v1_lead(record: dict[str, Any]) -> dict[str, Any]:
        lead = dict(record)
        for key in ("add_time", "update_time"):
            lead[key] = record[key].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for key in ("owner_id", "organization_id", "person_id"):
            if lead.get(key) is not None:
                lead[key] = int(lead[key])
        return lead
