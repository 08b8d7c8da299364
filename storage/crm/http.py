"""What every CRM client does alike over HTTP: how long to wait before asking again, an answer's JSON body whatever
it holds, and links the CRM hands out followed on its own origin only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from storage.crm.sync import CrmError

__all__ = ["backoff", "json_body", "same_origin_path"]


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After (seconds, at most 5 minutes), else
    2, 4, 8 … seconds, at most 2 minutes."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), 300.0)
    return min(2.0**attempt, 120.0)


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
