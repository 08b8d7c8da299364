"""The load test's arithmetic: nearest-rank percentiles, and which calls at the fake APIs are whose reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bench.load_org import Asker
from bench.load_report import percentile, summary


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(20, 0, -1)]  # 20 … 1, unsorted on purpose
    assert percentile(values, 0.50) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


@dataclass
class _Call:
    method: str
    params: dict[str, Any]
    at: float
    key: str = ""


@dataclass
class _Api:
    calls: list[_Call] = field(default_factory=list)

    def calls_of(self, *methods: str) -> list[_Call]:
        return [c for c in self.calls if c.method in methods]


@dataclass
class _Records:
    records: list[logging.LogRecord] = field(default_factory=list)


def test_a_reply_is_timed_from_acceptance_to_its_last_message_and_an_apology_is_an_error():
    ann = Asker("rep-001", "rep", "telegram", "91000000", "91000000")
    bob = Asker("mgr-2", "manager", "slack", "UL000000", "DQ000000")
    eve = Asker("rep-002", "rep", "telegram", "91000001", "91000001")
    telegram = _Api([
        _Call("sendPhoto", {"chat_id": "91000000"}, 10.4),
        _Call("sendMessage", {"chat_id": "91000000", "text": "Funnel"}, 10.9),  # Ann's reply ends here: 0.9 s
        _Call("sendMessage", {"chat_id": "91000001", "text": "Sorry … Incident ab12"}, 11.0),
    ])  # fmt: skip
    slack = _Api([
        _Call("chat.postMessage", {"channel": "DL000001"}, 10.5),  # a digest of an earlier pass
        _Call("response_url", {"text": "Activity"}, 11.5, key="load-1"),  # Bob: 1.5 s
        _Call("response_url", {"text": "someone else's"}, 30.0, key="load-9"),
        _Call("chat.postMessage", {"channel": "DL000000"}, 13.0),  # a digest, 2 s after the slot
    ])  # fmt: skip
    accepted = {"91000000": (9.9, 10.0), "DQ000000": (9.95, 10.0), "91000001": (9.9, 10.0)}
    report = summary([ann, bob, eve], accepted, telegram, slack, _Records(), {"moved": 11.0, "done": 13.5}, 1,
                     {"rows": 100}, 4.0, 100)  # fmt: skip
    assert report["answered"] == 3
    assert report["max_ms"] == 1500.0
    assert report["by_role"]["manager"] == {"p50_ms": 1500.0, "p95_ms": 1500.0, "requests": 1}
    assert report["accept_p95_ms"] == 100.0
    assert report["errors"] == 1 and "incident" in report["error_samples"][0]
    assert report["digests"] == {"sent": 1, "messages": 1, "pass_seconds": 2.5, "lateness_seconds": 2.0}
