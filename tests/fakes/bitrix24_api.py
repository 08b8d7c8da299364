"""A fake Bitrix24 REST API behind an inbound webhook: a real HTTP server on 127.0.0.1 that kpibot's Bitrix24 sync
talks to.

It answers `POST /rest/<user id>/<secret>/<method>.json` (a JSON body) for `user.get`, `department.get`,
`crm.status.list`, `crm.company.list`, `crm.lead.list`, `crm.deal.list`, `crm.activity.list` and
`crm.stagehistory.list` (`entityTypeId` 1 leads, 2 deals), and `crm.<entity>.fields` (the standard fields and
those the tests set), as the REST docs describe them:
- list methods take `filter` (keys with the prefixes `>`, `>=`, `<`, `<=`, `=`, `!`, or none for equality;
  datetimes compared as moments, ids as numbers), `order` (`{"ID": "ASC"}`), `select` (only those fields come back,
  `ID` always) and `start`: a page of `page_size` records (50 on a real portal) from `start`, answered
  `{"result": [...], "next": n, "total": n, "time": {...}}`, `next` only while more follow; `start` -1 answers
  the first page without `next` and `total` (the fast walk). `crm.stagehistory.list` answers `result: {"items":
  [...]}`. `user.get` and `department.get` page by `start` alike and ignore `select`.
- values as Bitrix24 gives them: ids and amounts as strings, `Y`/`N` flags, datetimes ISO 8601 in the portal's zone
  (`2026-11-02T12:00:00+03:00`), `time.date_start` the portal's clock.
- a wrong user id or secret is 401 `{"error": "INVALID_CREDENTIALS", "error_description": "Invalid request
  credentials"}`; an unknown method 404 `ERROR_METHOD_NOT_FOUND`; on demand the next calls are 503
  `QUERY_LIMIT_EXCEEDED` or a bare 500.

Tests change the portal through `add` / `update` / `delete`, stamped from the settable clock `now`; a lead's status
or a deal's stage, set or changed, writes a stage-history item at that moment. Every request is recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeBitrix24Api"]

PORTAL_ZONE = timezone(timedelta(hours=3))  # Moscow: the portal answers in its own zone
_STAMPS = {
    "crm.company.list": ("DATE_CREATE", "DATE_MODIFY"),
    "crm.lead.list": ("DATE_CREATE", "DATE_MODIFY"),
    "crm.deal.list": ("DATE_CREATE", "DATE_MODIFY"),
    "crm.activity.list": ("CREATED", "LAST_UPDATED"),
}
_MOMENTS = {"DATE_CREATE", "DATE_MODIFY", "CREATED", "LAST_UPDATED", "CREATED_TIME", "END_TIME", "START_TIME",
            "DEADLINE", "CLOSEDATE"}  # fmt: skip
# Fields every CRM entity's `crm.<entity>.fields` describes (a subset), besides those the tests set.
STANDARD_FIELDS = ("ID", "TITLE", "ASSIGNED_BY_ID", "DATE_CREATE", "DATE_MODIFY", "SOURCE_ID", "COMPANY_TITLE",
                   "STATUS_ID", "STAGE_ID", "OPPORTUNITY", "CLOSEDATE", "LEAD_ID", "COMPANY_ID", "INDUSTRY",
                   "CREATED", "LAST_UPDATED", "RESPONSIBLE_ID", "DEADLINE", "END_TIME", "TYPE_ID", "PROVIDER_ID",
                   "COMPLETED", "OWNER_TYPE_ID", "OWNER_ID", "CATEGORY_ID", "STAGE_SEMANTIC_ID")  # fmt: skip
_LEAD_SEMANTICS = {"CONVERTED": "S", "JUNK": "F"}
_DEAL_SEMANTICS = {"WON": "S", "LOSE": "F", "APOLOGY": "F"}


@dataclass
class ApiCall:
    method: str
    body: dict[str, Any]
    status: int


def _moment(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(PORTAL_ZONE).isoformat()
    return value


class FakeBitrix24Api(LoopbackServer):
    name = "fake Bitrix24 API"

    def __init__(self, *, page_size: int = 50, now: datetime) -> None:
        super().__init__()
        self.page_size = page_size
        self.now = now
        self.user_id, self.secret = "1", "k3y5ecr3tw3bh00k"
        self.calls: list[ApiCall] = []
        self.tables: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in (*_STAMPS, "user.get")}
        self.departments: dict[int, dict[str, Any]] = {}
        self.history: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        self.statuses = [
            {"ID": "1", "ENTITY_ID": "STATUS", "STATUS_ID": "NEW", "NAME": "Не обработан", "SEMANTICS": None},
            {"ID": "2", "ENTITY_ID": "STATUS", "STATUS_ID": "IN_PROCESS", "NAME": "В работе", "SEMANTICS": None},
            {"ID": "3", "ENTITY_ID": "STATUS", "STATUS_ID": "PROCESSED", "NAME": "Обработан", "SEMANTICS": None},
            {"ID": "4", "ENTITY_ID": "STATUS", "STATUS_ID": "CONVERTED", "NAME": "Качественный лид",
             "SEMANTICS": "S"},
            {"ID": "5", "ENTITY_ID": "STATUS", "STATUS_ID": "JUNK", "NAME": "Некачественный лид", "SEMANTICS": "F"},
        ]  # fmt: skip
        self._failures: list[tuple[int, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/rest/{self.user_id}/{self.secret}/"

    # -- what the tests do to the portal ------------------------------------------------------------------------
    def add(self, method: str, id: int, **fields: Any) -> None:
        with self._lock:
            record = {"ID": str(id), **fields}
            if method in _STAMPS:
                created, modified = _STAMPS[method]
                record.setdefault(created, self.now)
                record[modified] = self.now
            self.tables[method][id] = record
            self._history(method, record, created=True)

    def update(self, method: str, id: int, **fields: Any) -> None:
        with self._lock:
            record = self.tables[method][id]
            changed = any(record.get(k) != v for k, v in fields.items() if k in ("STATUS_ID", "STAGE_ID"))
            record.update(fields)
            record[_STAMPS[method][1]] = self.now
            if changed:
                self._history(method, record, created=False)

    def delete(self, method: str, id: int) -> None:
        with self._lock:
            del self.tables[method][id]

    def limit(self, calls: int) -> None:
        """The next `calls` requests are refused as over the portal's request rate."""
        error = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        self._failures.extend([(503, error)] * calls)

    def fail(self, calls: int) -> None:
        self._failures.extend([(500, {})] * calls)

    def calls_of(self, method: str, after: int = 0) -> list[ApiCall]:
        return [c for c in self.calls[after:] if c.method == method]

    def _history(self, method: str, record: dict[str, Any], *, created: bool) -> None:
        if method == "crm.lead.list" and record.get("STATUS_ID"):
            semantic = _LEAD_SEMANTICS.get(record["STATUS_ID"], "P")
            record["STATUS_SEMANTIC_ID"] = semantic
            item = {"STATUS_ID": record["STATUS_ID"], "STATUS_SEMANTIC_ID": semantic}
            self._item(1, record, item, created, semantic)
        if method == "crm.deal.list" and record.get("STAGE_ID"):
            plain = str(record["STAGE_ID"]).split(":")[-1]
            semantic = _DEAL_SEMANTICS.get(plain, "P")
            record["STAGE_SEMANTIC_ID"] = semantic
            record["CLOSED"] = "Y" if semantic != "P" else "N"
            item = {"STAGE_ID": record["STAGE_ID"], "STAGE_SEMANTIC_ID": semantic,
                    "CATEGORY_ID": str(record.get("CATEGORY_ID", "0"))}  # fmt: skip
            self._item(2, record, item, created, semantic)

    def _item(
        self, entity: int, record: dict[str, Any], item: dict[str, Any], created: bool, semantic: str
    ) -> None:
        kind = 1 if created else 3 if semantic != "P" else 2
        number = next(self._ids)
        self.history[entity].append(
            {"ID": str(number), "TYPE_ID": kind, "OWNER_ID": record["ID"], "CREATED_TIME": self.now, **item}
        )

    # -- the API -----------------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/rest/{user}/{secret}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].removesuffix(".json")
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        status, answer = self._answer(request, method, body)
        self.calls.append(ApiCall(method, body, status))
        return web.json_response(answer, status=status, dumps=lambda o: json.dumps(o, default=_moment))

    def _answer(self, request: web.Request, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if request.match_info["user"] != self.user_id or request.match_info["secret"] != self.secret:
            return 401, {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
        if self._failures:
            return self._failures.pop(0)
        with self._lock:
            if method == "crm.status.list":
                wanted = (body.get("filter") or {}).get("ENTITY_ID")
                return 200, self._page([s for s in self.statuses if s["ENTITY_ID"] == wanted], body, None)
            if method == "department.get":
                return 200, self._page(list(self.departments.values()), body, None)
            if method == "crm.stagehistory.list":
                entity = int(body.get("entityTypeId") or 0)
                if entity not in self.history:
                    return 400, {"error": "", "error_description": "entityTypeId is not supported"}
                rows = self._filtered(self.history[entity], body)
                page = self._page(rows, body, body.get("select"))
                page["result"] = {"items": page["result"]}
                return 200, page
            if method.endswith(".fields") and f"{method.removesuffix('.fields')}.list" in self.tables:
                rows = self.tables[f"{method.removesuffix('.fields')}.list"].values()
                names = {*STANDARD_FIELDS, *(k for r in rows for k in r)}
                return 200, {"result": {n: {"type": "string", "title": n} for n in sorted(names)}}
            if method in self.tables:
                rows = list(self.tables[method].values())
                select = None if method == "user.get" else body.get("select")
                return 200, self._page(self._filtered(rows, body), body, select)
        return 404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}

    def _filtered(self, rows: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
        for key, value in (body.get("filter") or {}).items():
            op = next((p for p in (">=", "<=", ">", "<", "=", "!") if key.startswith(p)), "=")
            field = key[len(op) :] if key.startswith(op) else key
            rows = [r for r in rows if _holds(r.get(field), op, value, field)]
        order = body.get("order") or {"ID": "ASC"}
        # user.get and department.get: `sort` names the field, `order` the direction
        if isinstance(order, str):
            order = {str(body.get("sort") or "ID"): order}
        for field, direction in reversed(list(order.items())):
            rows.sort(key=lambda r: _key(r.get(field), field), reverse=str(direction).upper() == "DESC")
        return rows

    def _page(self, rows: list[dict[str, Any]], body: dict[str, Any], select: Any) -> dict[str, Any]:
        start = int(body.get("start") or 0)
        first = max(start, 0)
        chunk = rows[first : first + self.page_size]
        if select:
            names = {"ID", *select}
            chunk = [{k: v for k, v in r.items() if k in names} for r in chunk]
        answer: dict[str, Any] = {"result": [dict(r) for r in chunk]}
        if start >= 0:
            answer["total"] = len(rows)
            if first + self.page_size < len(rows):
                answer["next"] = first + self.page_size
        moment = self.now.astimezone(PORTAL_ZONE).isoformat()
        answer["time"] = {
            "start": 0.0,
            "finish": 0.0,
            "duration": 0.0,
            "date_start": moment,
            "date_finish": moment,
        }
        return answer


def _key(value: Any, field: str) -> Any:
    if field in _MOMENTS:
        return value or datetime.min.replace(tzinfo=PORTAL_ZONE)
    if field == "ID" or field.endswith("_ID"):
        return int(value or 0) if str(value or "0").isdigit() else 0
    return str(value or "")


def _holds(stored: Any, op: str, wanted: Any, field: str) -> bool:
    if field in _MOMENTS:
        if stored is None:
            return False
        left, right = stored, datetime.fromisoformat(str(wanted))
    elif str(stored or "0").isdigit() and str(wanted).isdigit():
        left, right = int(stored or 0), int(wanted)
    else:
        left, right = str(stored or ""), str(wanted)
    if op == "=":
        return left == right
    if op == "!":
        return left != right
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
