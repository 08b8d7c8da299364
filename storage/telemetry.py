"""What an operator watches: kpibot's Prometheus metrics, served at `/metrics` (bot/ops/endpoints.py).

Two kinds, both in one registry:
- counters and histograms of this process — commands answered, reply latency, deliveries, alert evaluations,
  late digest slots — incremented where those things happen (`telemetry().commands.labels(...).inc()`);
- figures read from the store at each scrape (`StoreCollector`) — the outbox by status and the age of its oldest
  due message, CRM sync runs, rows and lag by object, import rows — the same on every instance, since every
  instance shares the store.

Labels take only names kpibot knows (a command of the registry, a platform, an outcome), never what a user typed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from storage.schema import ImportRun, OutboxMessage, SyncRun, SyncWatermark
from storage.times import aware_utc

__all__ = ["OUTBOX_STATUSES", "Telemetry", "StoreCollector", "telemetry", "reset_telemetry"]

# Chat replies: most are tens of milliseconds, an admin's large question a second or more.
_REPLY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Outbox statuses, always reported (0 when none), so a dashboard's series never vanish.
OUTBOX_STATUSES = ("pending", "claimed", "held", "sent", "dead", "grouped", "superseded")


class Telemetry:
    """This process's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._store: StoreCollector | None = None
        r = self.registry
        self.commands = Counter(
            "kpibot_commands",
            "Chat messages answered, by command, platform and outcome (answer, user_error, failure).",
            ("command", "platform", "outcome"),
            registry=r,
        )
        self.reply_seconds = Histogram(
            "kpibot_reply_seconds",
            "Time to answer a chat message, charts included, by platform.",
            ("platform",),
            buckets=_REPLY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "kpibot_deliveries",
            "Outbox messages tried, by platform and outcome (sent, retried, dead).",
            ("platform", "outcome"),
            registry=r,
        )
        self.alert_evaluations = Counter(
            "kpibot_alert_evaluations",
            "Alert rule evaluations, by outcome (fired, repeated, resolved, quiet, pending, stale, error, …).",
            ("outcome",),
            registry=r,
        )
        self.digests_late = Counter(
            "kpibot_digest_slots_late",
            "Digest slots queued more than the grace after their time, by digest.",
            ("digest",),
            registry=r,
        )

    def watch_store(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        """Also report what `engine`'s store holds at each scrape, instead of the store watched before (a process
        serving again must not report its families twice, nor keep an old engine alive)."""
        if self._store is not None:
            self.registry.unregister(self._store)
        self._store = StoreCollector(engine, clock)
        self.registry.register(self._store)


_current = Telemetry()


def telemetry() -> Telemetry:
    """This process's metrics."""
    return _current


def reset_telemetry() -> Telemetry:
    """A fresh set of metrics for this process (each test starts from zero); returns it."""
    global _current
    _current = Telemetry()
    return _current


class StoreCollector(Collector):
    """The outbox, CRM syncs and imports as the store holds them, read at each scrape."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: registering must not query the store

    def collect(self) -> Iterator[Metric]:
        now = aware_utc(self.clock())
        with self.engine.connect() as conn:
            counted = conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
            by_status = {status: count for status, count in counted}
            oldest = conn.execute(
                select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
            ).scalar()
            runs = conn.execute(
                select(SyncRun.crm, SyncRun.status, func.count()).group_by(SyncRun.crm, SyncRun.status)
            ).all()
            objects = conn.execute(
                select(SyncRun.crm, SyncRun.objects).where(SyncRun.objects.is_not(None))
            ).all()
            marks = conn.execute(
                select(SyncWatermark.crm, SyncWatermark.object, SyncWatermark.watermark)
            ).all()
            imports = conn.execute(
                select(ImportRun.table_name, func.coalesce(func.sum(ImportRun.written), 0))
                .where(ImportRun.status == "ok")
                .group_by(ImportRun.table_name)
            ).all()
        outbox = GaugeMetricFamily("kpibot_outbox_messages", "Outbox messages by status.", labels=("status",))
        for status in sorted(set(OUTBOX_STATUSES) | set(by_status)):
            outbox.add_metric((status,), by_status.get(status, 0))
        yield outbox
        age = max((now - aware_utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "kpibot_outbox_oldest_pending_seconds",
            "How long the oldest pending outbox message has been due (0 when none is).",
            value=age,
        )
        sync_runs = CounterMetricFamily(
            "kpibot_crm_sync_runs", "CRM sync runs, by CRM and status.", labels=("crm", "status")
        )
        for crm, status, count in runs:
            sync_runs.add_metric((crm, status), count)
        yield sync_runs
        rows = CounterMetricFamily(
            "kpibot_crm_sync_rows",
            "CRM records written by syncs, by CRM and object.",
            labels=("crm", "object"),
        )
        for (crm, obj), written in sorted(_rows_by_object(objects).items()):
            rows.add_metric((crm, obj), written)
        yield rows
        lag = GaugeMetricFamily(
            "kpibot_crm_sync_lag_seconds",
            "Age of the newest CRM change read, by CRM and object (now minus its watermark).",
            labels=("crm", "object"),
        )
        for crm, obj, mark in marks:
            lag.add_metric((crm, obj), max((now - aware_utc(mark)).total_seconds(), 0.0))
        yield lag
        imported = CounterMetricFamily(
            "kpibot_import_rows", "Rows written by `kpibot import`, by table.", labels=("table",)
        )
        for table, written in imports:
            imported.add_metric((table,), int(written))
        yield imported


def _rows_by_object(runs: Sequence[Any]) -> dict[tuple[str, str], int]:
    """Rows written per (CRM, object), summed over the runs' `objects` JSON (`[{"object": …, "written": n}, …]`)."""
    totals: dict[tuple[str, str], int] = {}
    for crm, text in runs:
        try:
            objects = json.loads(text)
        except (TypeError, ValueError):
            continue
        for figures in objects if isinstance(objects, list) else ():
            if isinstance(figures, dict) and isinstance(figures.get("object"), str):
                key = (crm, figures["object"])
                totals[key] = totals.get(key, 0) + int(figures.get("written") or 0)
    return totals
