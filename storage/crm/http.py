"""What every CRM client does alike over HTTP: one request's waits (after a connection that fails, after a rate limit
or a server error), an answer's JSON body whatever it holds, and links the CRM hands out followed on its own origin
only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from storage.crm.sync import CrmError

__all__ = ["Retries", "backoff", "json_body", "same_origin_path"]

log = logging.getLogger(__name__)


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After (seconds, at most 5 minutes), else
    2, 4, 8 … seconds, at most 2 minutes."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), 300.0)
    return min(2.0**attempt, 120.0)


@dataclass
class Retries:
    """The waits one request may take, `max_waits` in all and each `backoff` long: after a connection that fails
    (`answer`), and after an answer the client judges worth asking again — a rate limit, a server error
    (`again`). Then the CRM's own error stands."""

    crm: str  # the CRM's name in messages ("Salesforce")
    origin: str  # where it is asked, for "cannot reach … at …"
    max_waits: int
    sleep: Callable[[float], None]
    waits: int = 0

    def answer(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """`send()`'s answer, sent again after a transport error while waits are left; then a CrmError."""
        while True:
            try:
                return send()
            except httpx.TransportError as exc:
                if self.waits >= self.max_waits:
                    raise CrmError(f"cannot reach {self.crm} at {self.origin}: {type(exc).__name__}") from exc
                self.waits += 1
                self.sleep(backoff(self.waits, None))

    def again(self, answer: httpx.Response, said: str = "", *, retry_after: str | None = None) -> bool:
        """Wait before asking again after `answer` — its Retry-After (or `retry_after`), else the backoff — and say
        so in the log; False, without waiting, once the waits are spent."""
        if self.waits >= self.max_waits:
            return False
        self.waits += 1
        delay = backoff(self.waits, retry_after or answer.headers.get("Retry-After"))
        log.warning("%s: %s %s; waiting %.0f s", self.crm, answer.status_code, said, delay)
        self.sleep(delay)
        return True


def json_body(answer: httpx.Response) -> Any:
    """The answer's JSON, or `{}` when it has none (an HTML error page from a proxy)."""
    try:
        return answer.json()
    except ValueError:
        return {}


def same_origin_path(origin: str, url: str, crm: str) -> str:
    """`url` (a next-page link) as a path on `origin`; a link to another origin is a CrmError — never followed
    with the token."""
    parts = urlsplit(url)
    if parts.netloc and f"{parts.scheme}://{parts.netloc}" != origin:
        raise CrmError(f"{crm} answered with a link to another origin ({parts.netloc}); refused")
    return parts.path + (f"?{parts.query}" if parts.query else "")
