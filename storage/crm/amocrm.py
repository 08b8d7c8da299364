"""amoCRM (Kommo): the REST API v4 read incrementally, and the default mapping of its standard entities.

Auth, from the environment only: `AMOCRM_URL` (the account, `https://<subdomain>.amocrm.ru` or
`https://<subdomain>.kommo.com`, used with the scheme given) and either `AMOCRM_ACCESS_TOKEN` (a long-lived token of
a private integration), or OAuth 2.0 with refresh: `AMOCRM_CLIENT_ID`, `AMOCRM_CLIENT_SECRET`,
`AMOCRM_REFRESH_TOKEN` and `AMOCRM_REDIRECT_URI` (`POST {url}/oauth2/access_token`, `grant_type=refresh_token`,
answered `{token_type, expires_in, access_token, refresh_token}`). amoCRM hands out a new refresh token with every
access token and retires the old one, so the pair is kept in the store (`sync_watermarks`, crm `amocrm`, object
`oauth2#tokens`; never logged) where the next sync, in this process or another, finds it; a new
`AMOCRM_REFRESH_TOKEN` (a fresh authorisation) replaces what is kept.

Reads (`GET {url}/api/v4/...`, `Authorization: Bearer`): `users` (whole each time; amoCRM keeps no manager, so
teams come from `crm.amocrm.group_managers`: the users of a group report to its named manager), `companies` →
accounts, `leads` → leads, deals, and the stage a sync sees; `leads/pipelines` for the statuses' names;
`events` (`filter[type]=lead_status_changed`, `value_after` / `value_before` `lead_status`) → stage entries at
their exact time; `tasks` and the call notes `leads/notes` (`note_type` `call_in` / `call_out`) → activities. Lists
are `filter[updated_at][from]=<unix seconds>`, `order[updated_at]=asc`, `limit` (≤ 250; events ≤ 100), answered
`{_page, _links: {next}, _embedded: {<entity>: [...]}}`, or 204 No Content when nothing matches. As with any list
ordered by a stamp that changes while it is read, a page walk would skip a record: each next page is asked for
from the last stamp read, leaving out the ids already read at it; a page whose records all share one stamp is
walked by `page` within that second.

Mapping (each amoCRM "lead" is a pipeline deal): a lead is a lead (created_at, responsible user, its first company,
whose name comes from the accounts stored) and, once it is one, a deal (`price` → amount; status 142 "Успешно
реализовано" → won, 143 "Закрыто и не реализовано" → lost, else open; `closed_at` when closed). A lead is a deal
when won, when its status is at `opportunity` or later in the funnel, or when lost after it was one (a deal stored
already) — were every lead a deal, kpibot's funnel would count every lead an opportunity; a lead that stops being
one has its deal row removed. Funnel stages come from the status (`crm.amocrm.lead_stages`, by status id or name;
the unsorted status and each pipeline's first → lead; `LEAD_STATUSES` names the standard pipeline's); deal stages
are status names. Each `lead_status_changed` event is a stage entry at its `created_at` (events of leads kpibot does
not have are left out); the status a sync sees on a lead is recorded too, at `updated_at` (a lead created straight
into a stage has no event) — a lead stage only once, a deal stage only when it is not the deal's last one. Tasks:
`task_type_id` 1 → call, 2 → meeting, else task; done when `is_completed` (at `updated_at`: amoCRM keeps no
completion time), due `complete_till`, linked to their lead or company; a call note is a call done at its
`created_at`. Ids are amoCRM's numbers as text; tasks are `task-<id>`, notes `note-<id>`. Tasks cannot be ordered
by their change (amoCRM sorts them by id, creation or due time): they are read in id order, where a change while
the pages are read moves nothing, and their watermark is held at the server's time (`Date`) when the walk began.

Export: amoCRM's CSV export of leads (Сделки → Экспорт), its Russian columns (`EXPORT_COLUMNS`) read by
`AmocrmRows` into the records a sync reads, the responsible user matched to the users kpibot has (`StoredPeople`: by
name, email or id).

Deletions: amoCRM has no deleted feed for every entity; the events `lead_deleted` and `company_deleted` are read
after the records, from the newest one seen before (a `DeletionFeed`). Deleted tasks and notes are not seen
(`--full` re-reads them, but removes nothing).

Limits and faults: at most `crm.amocrm.requests_per_second` (default 7, amoCRM's limit per integration) requests
are made a second; a 429 is waited out (Retry-After when given), 5xx and lost connections retried with backoff; a
401 refreshes the token once (OAuth) or says the long-lived token was refused; 403 (the account blocked for
exceeding the limits, or the user lacks the rights) and anything else is a `CrmError`, one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, insert, select, update

from storage.config.settings import Settings
from storage.crm.exports import ExportConnector, Partition, Partitions, StoredPeople
from storage.crm.http import Retries, json_body, same_origin_path
from storage.crm.mapping import CrmMapping, CrmRecord, MapContext, ObjectMap, Skip, apply_overrides
from storage.crm.sync import CrmError, Deletions
from storage.errors import UserError
from storage.schema import Account, Deal, Lead, SyncWatermark

__all__ = [
    "LEAD_STATUSES",
    "AmocrmAuth",
    "AmocrmClient",
    "AmocrmConnector",
    "AmocrmRows",
    "amocrm_export_files",
    "amocrm_export_reader",
    "amocrm_mapping",
]

log = logging.getLogger(__name__)

WON, LOST = 142, 143  # amoCRM's two closing statuses, the same in every pipeline
# The funnel stage of a status, by id or name: the closing ones, and the standard pipeline of a new account.
LEAD_STATUSES = {
    str(WON): "won",
    str(LOST): "lost",
    "Неразобранное": "lead",
    "Первичный контакт": "lead",
    "Переговоры": "mql",
    "Принимают решение": "sql",
    "Согласование договора": "opportunity",
    "Успешно реализовано": "won",
    "Закрыто и не реализовано": "lost",
}
_TASK_TYPES = {"1": "call", "2": "meeting"}
_MOMENTS = ("created_at", "updated_at", "closed_at", "complete_till")
_TOKENS = "oauth2#tokens"  # where the rotating OAuth tokens are kept (sync_watermarks.cursor)
_DELETED_EVENTS = {"leads": "lead_deleted", "companies": "company_deleted"}


def _moment(value: Any) -> datetime | None:
    """amoCRM's unix seconds → an aware datetime (0 or empty → None)."""
    if value in (None, "", 0):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(int(value), UTC)


def _stage(record: CrmRecord, ctx: MapContext) -> str:
    """The funnel stage of the record's status: by id, by name, else lead for the unsorted or a pipeline's first
    status; another is a ValueError naming the setting."""
    for key in (str(record.get("status_id") or ""), str(record.get("status_name") or "")):
        if key and key in ctx.lead_stages:
            return ctx.lead_stages[key]
    if record.get("status_first"):
        return "lead"
    return ctx.lead_stage(record.get("status_name") or record.get("status_id"))


def _lead_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["stage"] = _stage(record, ctx)
    if row["stage"] == "lead":
        raise Skip  # every lead is at `lead` from its creation
    return row


def _deal_stage(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    if not row.get("stage"):
        raise ValueError(f"status {record.get('status_id')!r} is in no pipeline amoCRM listed")
    return row


def _deal(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    status = int(record.get("status_id") or 0)
    row["status"] = "won" if status == WON else "lost" if status == LOST else "open"
    row["closed_at"] = (
        (record.get("closed_at") or record.get("updated_at")) if row["status"] != "open" else None
    )
    row["lead_id"] = row["deal_id"]  # an amoCRM lead is both
    return row


def _links(record: CrmRecord, row: dict[str, Any]) -> None:
    entity = str(record.get("entity_type") or "leads")
    linked = str(record.get("entity_id") or "") or None
    # The lead only: it is a deal too once it is one, but the lead is always there.
    row["lead_id"] = linked if entity == "leads" else None
    row["deal_id"] = None
    row["account_id"] = linked if entity == "companies" else None


def _task(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["activity_id"] = f"task-{record['id']}"
    row["type"] = _TASK_TYPES.get(str(record.get("task_type_id")), "task")
    done = bool(record.get("is_completed"))
    row["status"] = "done" if done else "planned"
    row["completed_at"] = record.get("updated_at") if done else None
    _links(record, row)
    return row


def _call(record: CrmRecord, row: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    row["activity_id"] = f"note-{record['id']}"
    row["type"] = "call"
    row["status"] = "done"
    row["completed_at"] = record.get("created_at")
    row["owner_id"] = row.get("owner_id") or record.get("created_by")
    _links(record, row)
    return row


def amocrm_mapping() -> CrmMapping:
    """The default mapping of amoCRM's standard entities (the module docstring says where each comes from)."""
    stamp = "updated_at"
    owner = "responsible_user_id"
    event_at = "created_at"
    objects = (
        ObjectMap(
            "users",
            "users",
            {"user_id": "id", "name": "name", "email": "email", "locale": "lang", "active": "is_active",
             "manager_id": "manager_id"},
            stamp, id_field="id", deletes=False, always_full=True,
        ),
        ObjectMap(
            "companies",
            "accounts",
            {"account_id": "id", "name": "name", "created_at": "created_at", "owner_id": owner},
            stamp, id_field="id",
        ),
        ObjectMap(
            "leads",
            "leads",
            {"lead_id": "id", "created_at": "created_at", "owner_id": owner, "company": "company_name"},
            stamp, id_field="id",
        ),
        ObjectMap(
            "leads",
            "deals",
            {"deal_id": "id", "owner_id": owner, "created_at": "created_at", "amount": "price",
             "account_id": "company_id"},
            stamp, id_field="id", extra=("status_id", "closed_at"), derive=_deal, deleted_field="not_a_deal",
        ),
        ObjectMap(
            "events",
            "lead_stage_events",
            {"lead_id": "entity_id", "entered_at": event_at},
            event_at, id_field="id", extra=("status_id", "status_name", "status_first"), derive=_lead_stage,
            deletes=False, first_entry_only=True,
        ),
        ObjectMap(
            "events",
            "deal_stage_events",
            {"deal_id": "entity_id", "stage": "status_name", "entered_at": event_at},
            event_at, id_field="id", derive=_deal_stage, deletes=False, collapse_repeats=True,
            deleted_field="not_a_deal",
        ),
        ObjectMap(
            "leads",
            "lead_stage_events",
            {"lead_id": "id", "entered_at": stamp, "owner_id": owner},
            stamp, id_field="id", extra=("status_id", "status_name", "status_first"), derive=_lead_stage,
            deletes=False, first_entry_only=True,
        ),
        ObjectMap(
            "leads",
            "deal_stage_events",
            {"deal_id": "id", "stage": "status_name", "entered_at": stamp},
            stamp, id_field="id", derive=_deal_stage, deletes=False, collapse_repeats=True,
            deleted_field="not_a_deal",
        ),
        ObjectMap(
            "tasks",
            "activities",
            {"owner_id": owner, "created_at": "created_at", "due_at": "complete_till"},
            stamp, id_field="id", extra=("task_type_id", "is_completed", "entity_type", "entity_id"),
            derive=_task, deletes=False,
        ),
        ObjectMap(
            "leads/notes",
            "activities",
            {"owner_id": owner, "created_at": "created_at", "due_at": "created_at"},
            stamp, id_field="id", extra=("entity_id", "created_by"), derive=_call, deletes=False,
        ),
    )  # fmt: skip
    return CrmMapping("amocrm", objects, lead_stage_field="status_id", lead_stages=LEAD_STATUSES)


@dataclass(frozen=True)
class AmocrmAuth:
    url: str
    access_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    redirect_uri: str = ""

    @property
    def refreshes(self) -> bool:
        return bool(self.refresh_token)

    @classmethod
    def from_settings(cls, settings: Settings) -> AmocrmAuth:
        """The credentials from the environment (`AMOCRM_*`); a missing one is a CrmError saying what to set."""
        url = (settings.amocrm_url or "").strip().rstrip("/")
        if not url:
            raise CrmError(
                "AMOCRM_URL is not set (e.g. https://yourcompany.amocrm.ru or https://yourcompany.kommo.com)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CrmError(f"AMOCRM_URL must start with https:// (or http:// for a proxy), not {url!r}")

        def secret(value: Any) -> str:
            return value.get_secret_value() if value else ""

        token = secret(settings.amocrm_access_token)
        refresh = secret(settings.amocrm_refresh_token)
        client_secret = secret(settings.amocrm_client_secret)
        if refresh:
            missing = [
                name
                for name, value in (
                    ("AMOCRM_CLIENT_ID", settings.amocrm_client_id),
                    ("AMOCRM_CLIENT_SECRET", client_secret),
                    ("AMOCRM_REDIRECT_URI", settings.amocrm_redirect_uri),
                )
                if not value
            ]
            if missing:
                raise CrmError(f"amoCRM OAuth with AMOCRM_REFRESH_TOKEN also needs {', '.join(missing)}")
        elif not token:
            raise CrmError(
                "amoCRM needs AMOCRM_ACCESS_TOKEN (a long-lived token) or AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET, "
                "AMOCRM_REFRESH_TOKEN and AMOCRM_REDIRECT_URI (OAuth 2.0)"
            )
        return cls(
            f"{parts.scheme}://{parts.netloc}",
            token,
            settings.amocrm_client_id or "",
            client_secret,
            refresh,
            settings.amocrm_redirect_uri or "",
        )


class TokenStore:
    """The rotating OAuth tokens kept in the store, with the AMOCRM_REFRESH_TOKEN they descend from (its digest):
    a new one in the environment starts the chain again."""

    def __init__(self, engine: Engine | None, seed: str) -> None:
        self.engine = engine
        self.seed = hashlib.sha256(seed.encode()).hexdigest()[:16]

    def load(self) -> dict[str, Any] | None:
        if self.engine is None:
            return None
        w = SyncWatermark
        with self.engine.connect() as conn:
            kept = conn.execute(select(w.cursor).where(w.crm == "amocrm", w.object == _TOKENS)).scalar()
        try:
            tokens = json.loads(kept) if kept else None
        except ValueError:
            return None
        return tokens if isinstance(tokens, dict) and tokens.get("seed") == self.seed else None

    def save(self, tokens: dict[str, Any]) -> None:
        if self.engine is None:
            return
        w = SyncWatermark
        value = json.dumps({**tokens, "seed": self.seed})
        at = datetime.now(UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(w).where(w.crm == "amocrm", w.object == _TOKENS).values(cursor=value, watermark=at)
            )
            if not done.rowcount:
                conn.execute(insert(w).values(crm="amocrm", object=_TOKENS, cursor=value, watermark=at))


class AmocrmClient:
    """The REST API v4 over httpx: a bearer token (refreshed when it expires, with OAuth), requests paced, limits
    waited out."""

    def __init__(
        self,
        auth: AmocrmAuth,
        *,
        page_size: int = 250,
        requests_per_second: float = 7.0,
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
    ) -> None:
        self.auth = auth
        self.page_size = page_size
        self.interval = 1.05 / requests_per_second if requests_per_second > 0 else 0.0
        self.max_waits = max_waits
        self.sleep = sleep
        self.clock = clock
        self._http = httpx.Client(base_url=auth.url, timeout=timeout)
        self._last = -1e9
        self._token = auth.access_token
        self._refresh = auth.refresh_token
        self._expires_at = float("inf") if auth.access_token else 0.0
        self.store = TokenStore(None, auth.refresh_token)
        self.answered_at: datetime | None = None  # the server's clock (Date) at its last answer

    def close(self) -> None:
        self._http.close()

    # -- auth ---------------------------------------------------------------------------------------------------
    def bind(self, engine: Engine) -> None:
        """Keep the rotating tokens in this store, and take up the ones kept there."""
        if not self.auth.refreshes:
            return
        self.store = TokenStore(engine, self.auth.refresh_token)
        kept = self.store.load()
        if kept:
            self._refresh = str(kept.get("refresh_token") or self._refresh)
            self._token = str(kept.get("access_token") or "")
            self._expires_at = float(kept.get("expires_at") or 0.0)

    def refresh(self, *, retried: bool = False) -> None:
        """A new access token (and refresh token) by the refresh-token grant, kept in the store at once; a refused
        one is tried again once with the refresh token the store keeps, when another process rotated it."""
        body = {
            "client_id": self.auth.client_id,
            "client_secret": self.auth.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": self._refresh,
            "redirect_uri": self.auth.redirect_uri,
        }
        self._pace()
        try:
            answer = self._http.post("/oauth2/access_token", json=body)
        except httpx.HTTPError as exc:
            raise CrmError(f"cannot reach amoCRM at {self.auth.url}: {type(exc).__name__}") from exc
        grant = json_body(answer)
        if answer.status_code == 400 and not retried:
            kept = self.store.load()  # another process may have used the token and kept the new one
            if kept and kept.get("refresh_token") and kept["refresh_token"] != self._refresh:
                self._refresh = str(kept["refresh_token"])
                self.refresh(retried=True)
                return
        if answer.status_code != 200 or not isinstance(grant, dict) or not grant.get("access_token"):
            raise CrmError(
                f"amoCRM refused the refresh token ({answer.status_code} {_error(answer)}); authorise the "
                "integration again and set the new AMOCRM_REFRESH_TOKEN"
            )
        self._token = str(grant["access_token"])
        self._refresh = str(grant.get("refresh_token") or self._refresh)
        lifetime = grant.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 86400.0
        self._expires_at = time.time() + max(seconds - 60.0, 0.0)
        self.store.save(
            {"access_token": self._token, "refresh_token": self._refresh, "expires_at": self._expires_at}
        )

    # -- reads --------------------------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One GET; its JSON object, or None for 204 No Content."""
        if self.auth.refreshes and (not self._token or time.time() >= self._expires_at):
            self.refresh()
        refreshed = False
        retries = Retries("amoCRM", self.auth.url, self.max_waits, self.sleep)
        while True:

            def send() -> httpx.Response:
                self._pace()
                return self._http.get(path, params=params, headers={"Authorization": f"Bearer {self._token}"})

            answer = retries.answer(send)
            status = answer.status_code
            self.answered_at = _http_date(answer.headers.get("Date"))
            if status == 204:
                return None
            if status == 200:
                body = json_body(answer)
                if not isinstance(body, dict):
                    raise CrmError(f"amoCRM answered {path} with something other than a JSON object")
                return body
            if status == 401:
                if self.auth.refreshes and not refreshed:
                    refreshed = True
                    log.info("amocrm: the access token was refused; refreshing it")
                    self.refresh()
                    continue
                what = "the refreshed token" if self.auth.refreshes else "AMOCRM_ACCESS_TOKEN"
                raise CrmError(f"amoCRM refused {what} (401 {_error(answer)}); make a new one")
            if (status == 429 or status >= 500) and retries.again(answer, f"on {path}"):
                continue
            if status == 403:
                raise CrmError(
                    f"amoCRM refused {path} (403 {_error(answer)}): the account may be blocked for exceeding "
                    "the request limit, or the integration's user lacks the rights"
                )
            raise CrmError(f"amoCRM answered {path}: {status} {_error(answer)}")

    def _pace(self) -> None:
        """At most `requests_per_second` requests a second (amoCRM blocks an integration that goes over)."""
        wait = self._last + self.interval - self.clock()
        if wait > 0:
            self.sleep(wait)
        self._last = self.clock()

    def pages(self, path: str, entity: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a list, following `_links.next` (on this origin) until there is none."""
        query: dict[str, Any] | None = params
        while path:
            page = self.get(path, query)
            if page is None:
                return
            yield from [i for i in (page.get("_embedded") or {}).get(entity) or () if isinstance(i, dict)]
            href = ((page.get("_links") or {}).get("next") or {}).get("href")
            if not href:
                return
            path, query = same_origin_path(self.auth.url, str(href), "amoCRM"), None

    def changed(
        self, path: str, entity: str, since: datetime | None, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item whose `updated_at` is at or after `since` (all without), oldest change first, each page
        asked for from the last stamp read (see the module docstring)."""
        lower = int(since.timestamp()) + 1 if since else None  # after the watermark, as stamps are seconds
        seen: set[str] = set()
        while True:
            query = {**(params or {}), "limit": self.page_size, "order[updated_at]": "asc"}
            if lower is not None:
                query["filter[updated_at][from]"] = lower
            page = self.get(path, query)
            items = [
                i for i in ((page or {}).get("_embedded") or {}).get(entity) or () if isinstance(i, dict)
            ]
            for item in items:
                stamp = int(item.get("updated_at") or 0)
                if stamp == lower and str(item.get("id")) in seen:
                    continue
                if stamp != lower:
                    lower, seen = stamp, set()
                seen.add(str(item.get("id")))
                yield item
            if not items or not ((page or {}).get("_links") or {}).get("next"):
                return
            if lower is not None and len(seen) >= len(items):
                # A page's worth share the stamp `lower` (a mass update): walk that second by page, then go on.
                tie = {**(params or {}), "limit": self.page_size, "page": 2}
                tie |= {"filter[updated_at][from]": lower, "filter[updated_at][to]": lower}
                yield from self.pages(path, entity, tie)
                lower, seen = lower + 1, set()


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _error(answer: httpx.Response) -> str:
    """amoCRM's problem+json body (`title`, `detail`, `hint`) as one short line."""
    body = json_body(answer)
    if not isinstance(body, dict):
        return answer.reason_phrase
    parts = [str(body.get(k) or "").strip() for k in ("title", "detail", "hint")]
    text = ": ".join(dict.fromkeys(p for p in parts if p))
    return " ".join(text.split())[:300] or answer.reason_phrase


class AmocrmConnector:
    """What the sync asks of a CRM: its mapping, the records of one entity changed since a moment, and the ids the
    deletion events name."""

    crm = "amocrm"

    def __init__(self, settings: Settings, client: AmocrmClient) -> None:
        self.settings = settings
        self.client = client
        self.mapping = apply_overrides(amocrm_mapping(), settings.crm.amocrm, settings)
        self._statuses: dict[int, tuple[str, bool]] | None = None
        self._engine: Engine | None = None
        self._deals: set[str] | None = None
        self._companies: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> AmocrmConnector:
        """The connector the settings describe (credentials from `AMOCRM_*` in the environment)."""
        auth = AmocrmAuth.from_settings(settings)
        amo = settings.crm.amocrm
        options = {"page_size": amo.page_size, "requests_per_second": amo.requests_per_second}
        return cls(settings, AmocrmClient(auth, **{**options, **client_options}))

    def bind(self, engine: Engine) -> None:
        """The store the sync writes to: where the rotating OAuth tokens are kept, and the deals already known."""
        self._engine = engine
        self.client.bind(engine)

    def statuses(self) -> dict[int, tuple[str, bool]]:
        """Each status id → (its name, whether it is where a lead starts: the unsorted one or a pipeline's first)."""
        if self._statuses is None:
            found: dict[int, tuple[str, bool]] = {}
            for pipeline in self.client.pages("/api/v4/leads/pipelines", "pipelines", {}):
                listed = ((pipeline.get("_embedded") or {}).get("statuses")) or []
                ordered = sorted((s for s in listed if isinstance(s, dict)), key=lambda s: s.get("sort") or 0)
                first = next(
                    (s["id"] for s in ordered if s.get("type") != 1 and s["id"] not in (WON, LOST)), None
                )
                for status in ordered:
                    start = status.get("type") == 1 or status["id"] == first
                    found[int(status["id"])] = (str(status.get("name") or status["id"]), start)
            self._statuses = found
        return self._statuses

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]:
        """The entity's records changed after `since` (all of them without), oldest change first, as flat records:
        ids as text, moments as datetimes, a lead's status by name."""
        if mapped.object == "users":
            yield from self._users()
            return
        if mapped.object == "events":
            for record in self._status_changes(since):
                if mapped.table == "deal_stage_events":
                    record["not_a_deal"] = not self._is_deal({**record, "id": record["entity_id"]})
                yield record
            return
        params: dict[str, Any] = {}
        entity = mapped.object.rsplit("/", 1)[-1]
        if mapped.object == "leads":
            params["with"] = "companies"
        if mapped.object == "leads/notes":
            params["filter[note_type][]"] = ["call_in", "call_out"]
        if mapped.object == "tasks":
            yield from self._tasks(since)
            return
        for item in self.client.changed(f"/api/v4/{mapped.object}", entity, since, params):
            record = _flat(item)
            if mapped.object == "leads":
                companies = (item.get("_embedded") or {}).get("companies") or []
                record["company_id"] = str(companies[0]["id"]) if companies else None
                record["company_name"] = self._company_name(record["company_id"])
                self._with_status(record)
                if mapped.table in ("deals", "deal_stage_events"):
                    record["not_a_deal"] = not self._is_deal(record)
            yield record

    def _is_deal(self, record: dict[str, Any]) -> bool:
        """Whether a lead is a deal yet: won, at `opportunity` or a later funnel stage, or lost once it was one (a
        deal already stored); a lead closed before that is a lost lead, not a lost deal."""
        status = int(record.get("status_id") or 0)
        if status == WON:
            return True
        if status == LOST:
            return self._engine is not None and record["id"] in self._stored_deals()
        ctx = MapContext(self.crm, self.mapping.lead_stage_field, self.mapping.lead_stages, datetime.now(UTC))
        try:
            stage = _stage(record, ctx)
        except ValueError:
            return False
        stages = list(self.settings.funnel.stages)
        return (
            stage in stages and "opportunity" in stages and stages.index(stage) >= stages.index("opportunity")
        )

    def _company_name(self, company_id: str | None) -> str | None:
        """A company's name: a lead's `_embedded.companies` carries only the id, so from the accounts stored
        (companies are synced before leads)."""
        if company_id is None or self._engine is None:
            return None
        if company_id not in self._companies:
            with self._engine.connect() as conn:
                name = conn.execute(select(Account.name).where(Account.account_id == company_id)).scalar()
            self._companies[company_id] = name
        return self._companies[company_id]

    def _stored_deals(self) -> set[str]:
        if self._deals is None:
            assert self._engine is not None
            with self._engine.connect() as conn:
                self._deals = set(conn.execute(select(Deal.deal_id)).scalars())
        return self._deals

    def _tasks(self, since: datetime | None) -> Iterator[CrmRecord]:
        """Tasks changed after `since`, in id order (amoCRM sorts tasks by id, creation or due time, not by change):
        a task changed while the pages are read keeps its place, so none is skipped; each carries the server's
        time when the walk began, which caps the watermark (`stamp`), so such a change is read again next time."""
        params: dict[str, Any] = {"limit": self.client.page_size, "order[id]": "asc"}
        if since is not None:
            params["filter[updated_at][from]"] = int(since.timestamp()) + 1
        began: datetime | None = None
        for item in self.client.pages("/api/v4/tasks", "tasks", params):
            began = began or self.client.answered_at
            record = _flat(item)
            record["read_from"] = began
            yield record

    def _with_status(self, record: dict[str, Any]) -> None:
        status = self.statuses().get(int(record.get("status_id") or 0))
        record["status_name"], record["status_first"] = status if status else (None, False)

    def _users(self) -> Iterator[CrmRecord]:
        heads = {str(k): str(v).lower() for k, v in self.settings.crm.amocrm.group_managers.items()}
        users = [u for u in self.client.pages("/api/v4/users", "users", {"limit": 250, "with": "group"})]
        by_email = {str(u.get("email") or "").lower(): str(u["id"]) for u in users}
        groups = {}
        for user in users:
            for group in (user.get("_embedded") or {}).get("groups") or ():
                groups[str(group.get("id"))] = str(group.get("name") or "")
        for user in users:
            rights = user.get("rights") or {}
            group = str(rights.get("group_id") or "")
            head = heads.get(group) or heads.get(groups.get(group, "\0"))
            manager = by_email.get(head or "\0")
            record = _flat(user)
            record["is_active"] = rights.get("is_active", True) is not False
            record["manager_id"] = manager if manager and manager != record["id"] else None
            yield record

    def _status_changes(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "filter[type]": "lead_status_changed",
            "filter[entity]": "lead",
            "limit": 100,
        }
        if since is not None:
            params["filter[created_at][from]"] = int(since.timestamp()) + 1
        events = sorted(
            self.client.pages("/api/v4/events", "events", params), key=lambda e: e.get("created_at") or 0
        )
        known = self._known_leads({str(e.get("entity_id")) for e in events})
        for event in events:
            after = next(
                (v.get("lead_status") for v in event.get("value_after") or () if isinstance(v, dict)), None
            )
            if not isinstance(after, dict) or (
                known is not None and str(event.get("entity_id")) not in known
            ):
                continue  # a lead deleted since, or one kpibot does not have: its stages are no one's
            record = _flat(event)
            record["status_id"] = str(after.get("id") or "")
            record["pipeline_id"] = str(after.get("pipeline_id") or "")
            self._with_status(record)
            yield record

    def _known_leads(self, ids: set[str]) -> set[str] | None:
        """Which of these leads the store has (None without a store: all of them)."""
        if self._engine is None:
            return None
        wanted, found = sorted(ids), set[str]()
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(conn.execute(select(Lead.lead_id).where(Lead.lead_id.in_(chunk))).scalars())
        return found

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions:
        """The ids the deletion events (`lead_deleted`, `company_deleted`) name since `cursor` (unix seconds)."""
        kind = _DELETED_EVENTS.get(mapped.object)
        if kind is None:
            return Deletions((), None)
        params: dict[str, Any] = {"filter[type]": kind, "limit": 100}
        if cursor:
            params["filter[created_at][from]"] = int(cursor)
        newest = int(cursor or 0)
        ids = []
        for event in self.client.pages("/api/v4/events", "events", params):
            ids.append(str(event.get("entity_id")))
            newest = max(newest, int(event.get("created_at") or 0))
        return Deletions(tuple(dict.fromkeys(ids)), str(newest))

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None:
        value = record.get(mapped.stamp)
        began = record.get("read_from")
        if isinstance(value, datetime) and isinstance(began, datetime):
            return min(value, began - timedelta(seconds=1))  # a walk in id order: see `_tasks`
        return value if isinstance(value, datetime) else None

    def close(self) -> None:
        self.client.close()


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    """An amoCRM item as a record: ids as text, unix seconds as datetimes, nested parts left out."""
    record: dict[str, Any] = {}
    for key, value in item.items():
        if key.startswith("_") or isinstance(value, dict | list):
            continue
        if key in _MOMENTS:
            value = _moment(value)
        elif (key == "id" or key.endswith("_id") or key == "created_by") and value is not None:
            value = str(value)
        record[key] = value
    return record


# amoCRM's export of leads ("Сделки" → … → Экспорт, CSV): its Russian column names → the API's fields.
EXPORT_COLUMNS = {
    "id": "id",
    "бюджет": "price",
    "ответственный": "responsible_user_id",
    "этап сделки": "status_name",
    "дата создания": "created_at",
    "дата создания сделки": "created_at",
    "дата изменения": "updated_at",
    "дата редактирования": "updated_at",
    "дата закрытия": "closed_at",
    "компания": "company_name",
    "название компании": "company_name",
}
_EXPORT_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")
_STATUS_NAMES = {"успешно реализовано": WON, "закрыто и не реализовано": LOST}


def _export_csvs(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
        if not found:
            raise UserError("import.no_export", "{path}: no amoCRM export (.csv) here", path=str(path))
        return found
    if not path.is_file():
        raise UserError("import.no_file", "{path}: no such file", path=str(path))
    return [path]


def amocrm_export_files(mapping: CrmMapping, path: Path) -> tuple[dict[str, Path], Partitions]:
    """The leads export at `path`: one CSV (whatever amoCRM named it), or every CSV in a folder, all of them
    leads, each a partition of the leads (its rows' errors name it)."""
    csvs = _export_csvs(path)
    return {"leads": csvs[0] if len(csvs) == 1 else path}, {"leads": tuple(Partition(p) for p in csvs)}


def amocrm_export_reader(
    name: str,
    mapping: CrmMapping,
    files: dict[str, Path],
    settings: Settings,
    partitions: Partitions,
) -> ExportConnector:
    """The export's reader: each CSV `amocrm_export_files` found, its rows read by `AmocrmRows`."""
    return ExportConnector(name, mapping, files, None, AmocrmRows(settings), partitions)


class AmocrmRows:
    """A row of amoCRM's leads export as the API's lead: the responsible user by name, email or id (a user kpibot
    has, from a sync or `kpibot import users`; `bind` hands over the store), `Бюджет` as a number, dates as the
    account's time zone writes them (`crm.amocrm.export_timezone`, by default the org's), the closing statuses by
    their names."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.crm.amocrm.export_timezone or settings.org.timezone)
        self.connector = AmocrmConnector(settings, None)  # type: ignore[arg-type]  # its mapping, no client
        self._engine: Engine | None = None
        self._people: StoredPeople | None = None

    def bind(self, engine: Engine) -> None:
        """The store, where the responsible users' names are looked up."""
        self._engine = engine

    def _owner(self, column: str, named: str, record: dict[str, Any]) -> str | None:
        """The responsible user's id; a name kpibot does not know stays as it is (the users check names it), and
        a name several users share is the row's problem."""
        if not named:
            return None
        if self._people is None and self._engine is not None:
            self._people = StoredPeople.load(self._engine)
        if self._people is None:
            return named
        shared = self._people.shared(column, named)
        if shared:
            record["_problem"] = shared
        return self._people.find(named) or named

    def native(self, values: dict[str, Any], mapped: ObjectMap) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for column, value in values.items():
            name = EXPORT_COLUMNS.get(" ".join(str(column).split()).lower())
            if name is None:
                continue
            text = str(value or "").strip()
            if name == "responsible_user_id":
                record[name] = self._owner(str(column), text, record)
                continue
            try:
                record[name] = self._value(name, text)
            except ValueError as exc:
                record["_problem"] = f"{column}={text!r}: {exc}"
        record.setdefault("updated_at", record.get("closed_at") or record.get("created_at"))
        status = _STATUS_NAMES.get(str(record.get("status_name") or "").lower())
        record["status_id"] = str(status) if status else None
        record["status_first"] = False
        if mapped.table in ("deals", "deal_stage_events") and "_problem" not in record:
            try:
                record["not_a_deal"] = not self.connector._is_deal(record)
            except ValueError:
                record["not_a_deal"] = True
        return record

    def _value(self, name: str, text: str) -> Any:
        if not text:
            return None
        if name in _MOMENTS:
            for fmt in _EXPORT_FORMATS:
                try:
                    return datetime.strptime(text, fmt).replace(tzinfo=self.zone)
                except ValueError:
                    continue
            raise ValueError("not a date (expected DD.MM.YYYY HH:MM:SS)")
        if name == "price":
            return str(Decimal(text.replace("\xa0", "").replace(" ", "").replace(",", ".")))
        return text
