"""The scheduler's CRM syncs: every `crm.sync_every`, a sync of each configured CRM (storage/crm/sync.py), the
same run `kpibot sync <crm>` does.

- **Configured.** A CRM is configured when its connector can be built from the settings (Salesforce:
  SALESFORCE_INSTANCE_URL and credentials); a factory that raises CrmError (or ValueError) means it is not, which
  is logged once at info and not tried again in this process (the settings do not change while it runs).
- **Due.** From the store, not from this process's memory: a CRM is due when it never ran, or its newest run in
  `sync_runs` started `sync_every` ago or more — whichever instance ran it. So a restart, or a second instance
  starting, does not sync again at once. A run still `running` (another instance's, or one whose process died)
  holds the next one back for `RUNNING_HOLD` × `sync_every` from its start; then it is taken as dead.
- **Once.** Instances that find a CRM due in the same instant race for its claim (`sync_claims`, one conditional
  write): the winner syncs, the others skip until the next due time. A claim lasts `sync_every`, so one whose
  holder died lapses by the next due time.
- **Failed.** A failed sync is in `sync_runs` with its error (`/syncs`, `kpibot syncs`), logged as a warning, and
  tried again at the next due time (`sync_every` after it started).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine

from storage.config.settings import Settings
from storage.crm.runs import claim, last_started
from storage.crm.sync import Connector, CrmError, SyncResult, sync

__all__ = ["ConnectorFactory", "CrmSyncs", "RUNNING_HOLD"]

log = logging.getLogger(__name__)

ConnectorFactory = Callable[[Settings], Connector]

# A run left `running` holds the next one back for this many `sync_every` from its start (a first full sync of a
# large org may take a while), then it is taken as dead and the CRM is due again.
RUNNING_HOLD = 4


class CrmSyncs:
    """Which CRMs are due, and one sync of each (blocking: called in the scheduler's own threads)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        connectors: Mapping[str, ConnectorFactory],
        redact: Callable[[str], str] | None = None,
        holder: str = "",
    ) -> None:
        self.engine = engine
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"  # who claims a due sync
        self.settings = settings
        self.connectors = dict(connectors)
        self.redact = redact or (lambda text: text)
        self.unconfigured: set[str] = set()
        self._lock = threading.Lock()

    def due(self, now: datetime) -> list[str]:
        """The CRMs (not known to be unconfigured) whose next sync is due at `now`."""
        every = self.settings.crm.sync_every
        with self._lock:
            candidates = [crm for crm in self.connectors if crm not in self.unconfigured]
        if not candidates:
            return []
        found = []
        with self.engine.connect() as conn:
            for crm in candidates:
                last = last_started(conn, crm)
                if last is None:
                    found.append(crm)
                    continue
                started, status = last
                wait = every * RUNNING_HOLD if status == "running" else every
                if now - started >= wait:
                    found.append(crm)
        return found

    def last_failed(self) -> list[str]:
        """For each CRM synced here (not known to be unconfigured) whose newest run failed: "<crm> sync failed at
        <time>"; what `/readyz` reports (the run's error is in `kpibot syncs` and `/syncs`)."""
        with self._lock:
            crms = [crm for crm in self.connectors if crm not in self.unconfigured]
        if not crms:
            return []
        failed = []
        with self.engine.connect() as conn:
            for crm in crms:
                last = last_started(conn, crm)
                if last is not None and last[1] == "failed":
                    failed.append(f"{crm} sync failed at {last[0].isoformat(timespec='seconds')}")
        return failed

    def _connector(self, crm: str) -> Connector | None:
        try:
            return self.connectors[crm](self.settings)
        except (CrmError, ValueError) as exc:
            with self._lock:
                first = crm not in self.unconfigured
                self.unconfigured.add(crm)
            if first:
                log.info("scheduled %s sync off: %s", crm, self.redact(str(exc)))
            return None

    def run(self, crm: str, now: datetime) -> SyncResult | None:
        """One sync of `crm` started at `now`; None when the CRM is not configured or another instance claimed this
        sync. Never raises for the CRM's faults (sync() records them); the store's own are logged by the caller."""
        connector = self._connector(crm)
        if connector is None:
            return None
        if not claim(self.engine, crm, self.holder, now, now + self.settings.crm.sync_every):
            connector.close()
            log.info("scheduled %s sync: another instance has it", crm)
            return None
        result = sync(self.engine, self.settings, connector, now=now)
        if result.error:
            log.warning(
                "scheduled %s sync failed (run %s), retried in %s: %s",
                crm,
                result.run_id,
                self.settings.crm.sync_every,
                self.redact(result.error),
            )
        else:
            log.info("scheduled sync, %s", result.summary())
        return result
