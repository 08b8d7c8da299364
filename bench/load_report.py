"""The load test's figures: which fake-API calls are a request's reply, and the latencies, errors and digest
lateness they add up to (bench/load.py runs the test)."""

from __future__ import annotations

import logging
import math
import statistics
from typing import Any

from bench.load_org import Asker

__all__ = ["LOCKED", "percentile", "reply_calls", "summary"]

LOCKED = "database is locked"


def percentile(values: list[float], share: float) -> float | None:
    """The `share` (0–1) percentile, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def reply_calls(asker: Asker, i: int, telegram_api: Any, slack_api: Any) -> list[Any]:
    if asker.platform == "telegram":
        return [c for c in telegram_api.calls_of("sendMessage", "sendPhoto", "sendMediaGroup")
                if str(c.params.get("chat_id")) == asker.channel]  # fmt: skip
    return [c for c in list(slack_api.calls)
            if (c.method == "response_url" and c.key == f"load-{i}")
            or (c.method == "files.completeUploadExternal" and c.params.get("channel_id") == asker.channel)]  # fmt: skip


def _text_of(call: Any) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def summary(askers, accepted, telegram_api, slack_api, records, pass_done, digests_due, import_report,
             load_seconds, import_rows) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    waits: list[float] = []  # sent -> accepted
    by_role: dict[str, list[float]] = {}
    errors: list[str] = []
    for i, asker in enumerate(askers):
        times = accepted.get(asker.channel)
        if not isinstance(times, tuple):
            errors.append(f"{asker.platform} {asker.user_id}: refused ({times})")
            continue
        sent, at = times
        waits.append((at - sent) * 1000)
        calls = [c for c in reply_calls(asker, i, telegram_api, slack_api) if c.at >= at - 5]
        if not calls:
            errors.append(f"{asker.platform} {asker.user_id}: no reply")
            continue
        if any("Incident" in _text_of(c) for c in calls):
            errors.append(f"{asker.platform} {asker.user_id}: an apology with an incident id")
        ms = (max(c.at for c in calls) - at) * 1000
        latencies.append(ms)
        by_role.setdefault(asker.role, []).append(ms)
    logged_errors = [r for r in records.records if r.levelno >= logging.ERROR]
    errors += [f"log: {r.getMessage()[:200]}" for r in logged_errors]
    locked = sum(LOCKED in (r.getMessage() + str(r.exc_info and r.exc_info[1])) for r in records.records)
    locked += int(import_report.get("locked", False))
    # A digest goes to the asker's own direct-message channel (conversations.open: D + the account's tail), as a
    # message or as a file with its text; the load's replies go to response URLs and the DQ… request channels.
    digest_posts = [c for c in slack_api.calls
                    if c.method in ("chat.postMessage", "files.completeUploadExternal")
                    and str(c.params.get("channel") or c.params.get("channel_id") or "").startswith("DL")
                    and "done" in pass_done and c.at >= pass_done["moved"]]  # fmt: skip
    digests: dict[str, Any] = {"sent": digests_due, "messages": len(digest_posts)}
    if "done" in pass_done:
        last = max((c.at for c in digest_posts), default=pass_done["done"])
        digests.update(pass_seconds=round(pass_done["done"] - pass_done["moved"], 2),
                       lateness_seconds=round(last - pass_done["moved"], 2))  # fmt: skip
    return {
        "requests": len(askers),
        "answered": len(latencies),
        "p50_ms": _round(percentile(latencies, 0.50)),
        "p95_ms": _round(percentile(latencies, 0.95)),
        "max_ms": _round(max(latencies, default=None)),
        "accept_p50_ms": _round(percentile(waits, 0.50)),
        "accept_p95_ms": _round(percentile(waits, 0.95)),
        "mean_ms": _round(statistics.fmean(latencies) if latencies else None),
        "by_role": {
            role: {
                "p50_ms": _round(percentile(v, 0.5)),
                "p95_ms": _round(percentile(v, 0.95)),
                "requests": len(v),
            }
            for role, v in sorted(by_role.items())
        },  # fmt: skip
        "errors": len(errors),
        "error_samples": errors[:10],
        "database_locked": locked,
        "warnings": len(records.records) - len(logged_errors),
        "warning_samples": sorted(
            {r.getMessage()[:200] for r in records.records if r.levelno < logging.ERROR}
        )[:10],
        "load_seconds": round(load_seconds, 1),
        "import": {"rows_asked": import_rows, **import_report},
        "digests": digests,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
