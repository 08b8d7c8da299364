"""A Salesforce-shaped sync, timed: a full sync of a large org from the fake Salesforce API, then an incremental
sync of 1 % more records.

The fake (tests/fakes/salesforce_api.py) serves records made on demand (`LazyRecords`), so it holds no org in
memory; it runs in this process and the sync in a child process, so the child's peak RSS is the sync's own. The
org: `leads` leads (a third each Open, Working, Qualified) with one LeadHistory row per lead past Open,
`leads * 0.3` opportunities with three history rows each, and 50 users. The incremental run adds 1 % to every
object, stamped after the first run's watermark: it reads exactly those.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from storage.db import make_engine, upgrade
from storage.schema import Base

__all__ = ["measure_crm_sync"]

_START = datetime(2026, 1, 1, tzinfo=UTC)
_USERS = 50
_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Qualified")
_STAGES = ("Prospecting", "Proposal/Price Quote", "Closed Won")


def _org(fake: Any, leads: int, scale: float = 1.0) -> None:
    from tests.fakes.salesforce_api import LazyRecords

    def owner(i: int) -> str:
        return f"005FK{i % _USERS:013d}"

    n_leads = int(leads * scale)
    n_opps = int(leads * 0.3 * scale)
    fake.objects["Lead"] = LazyRecords.generated(
        "Lead", n_leads, start=_START, step=timedelta(seconds=20),
        fields=lambda i: {"OwnerId": owner(i), "Status": _STATUSES[i % 3], "LeadSource": "Web", "Company": f"C{i}"},
    )  # fmt: skip
    fake.objects["LeadHistory"] = LazyRecords.generated(
        "LeadHistory", n_leads, start=_START + timedelta(seconds=5), step=timedelta(seconds=20),
        fields=lambda i: {"LeadId": f"00QFK{i:013d}", "Field": "Status", "OldValue": _STATUSES[0],
                          "NewValue": _STATUSES[1 + i % 2]},
    )  # fmt: skip
    fake.objects["Opportunity"] = LazyRecords.generated(
        "Opportunity", n_opps, start=_START, step=timedelta(seconds=60),
        fields=lambda i: {"OwnerId": owner(i), "StageName": _STAGES[2], "IsClosed": True, "IsWon": True,
                          "Amount": 1000 + i % 500, "CloseDate": (_START + timedelta(days=30)).date()},
    )  # fmt: skip
    fake.objects["OpportunityHistory"] = LazyRecords.generated(
        "OpportunityHistory", n_opps * 3, start=_START, step=timedelta(seconds=20),
        fields=lambda i: {"OpportunityId": f"006FK{i // 3:013d}", "StageName": _STAGES[i % 3]},
    )  # fmt: skip


def _fresh(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))
    engine.dispose()


def _run_child(url: str, base_url: str, client_id: str, secret: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.crm", url, base_url, client_id, secret],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["sync failed"])[-1]}
    child = json.loads(done.stdout.strip().splitlines()[-1])
    child["process_seconds"] = round(wall, 2)
    return child


def measure_crm_sync(url: str, leads: int) -> dict:
    """A full sync of the org, then an incremental one of 1 % more: records per second, peak RSS, and the
    incremental run's time as a fraction of the full one's."""
    from tests.fakes.salesforce_api import FakeSalesforceApi

    _fresh(url)
    fake = FakeSalesforceApi(page_size=2000, now=_START + timedelta(days=400))
    for i in range(_USERS):
        fake.add("User", Id=f"005FK{i:013d}", Name=f"Rep {i}", Email=f"rep{i}@example.com", IsActive=True)
    _org(fake, leads)
    fake.start()
    try:
        full = _run_child(url, fake.base_url, fake.client_id, fake.client_secret)
        if "error" in full:
            return full
        _org(fake, leads, scale=1.01)  # 1 % more of every object, stamped after the full run's newest
        incremental = _run_child(url, fake.base_url, fake.client_id, fake.client_secret)
    finally:
        fake.stop()
    if "error" in incremental:
        return {"full": full, **incremental}
    return {
        "leads": leads,
        "full": full,
        "incremental": incremental,
        "incremental_fraction": round(incremental["seconds"] / full["seconds"], 3)
        if full["seconds"]
        else None,
    }


def _child(url: str, base_url: str, client_id: str, secret: str) -> None:
    from storage.config.settings import load_settings
    from storage.crm.salesforce import SalesforceConnector
    from storage.crm.sync import sync

    env = {
        "SALESFORCE_INSTANCE_URL": base_url,
        "SALESFORCE_CLIENT_ID": client_id,
        "SALESFORCE_CLIENT_SECRET": secret,
    }
    settings = load_settings(config_path=None, env=env)
    engine = make_engine(url)
    started = time.perf_counter()
    result = sync(engine, settings, SalesforceConnector.from_settings(settings))
    seconds = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"sync failed: {result.error}")
    read = sum(o.read for o in result.objects)
    print(
        json.dumps(
            {
                "records_read": read,
                "records_written": sum(o.written for o in result.objects),
                "rejected": sum(o.rejected for o in result.objects),
                "seconds": round(seconds, 2),
                "records_per_second": round(read / seconds) if seconds else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    _child(*sys.argv[1:5])
