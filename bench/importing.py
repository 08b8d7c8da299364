"""Import of one million leads from CSV (and of a tenth as many): rows per second and the importing process's
peak memory, which must not grow with the file.

The CSV is generated once into bench/data (deterministic: same seed, same file). The import runs in a child
process (`python -m bench.importing DATABASE_URL FILE`) into a fresh database holding only the owners and campaigns
the leads refer to, so the child's peak RSS is the import's own and not the benchmark's.
"""

from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

from storage.config.settings import load_settings
from storage.db import make_engine, upgrade
from storage.importing.importer import import_file
from storage.journeys import refresh_store
from storage.schema import Base, Campaign, User

__all__ = ["LEADS", "write_leads_csv", "measure_import", "measure_import_sizes"]

LEADS = 1_000_000
_OWNERS = 210
_CAMPAIGNS = 12
_SOURCES = ("web", "email", "ads", "referral", "event", "outbound")
_SEGMENTS = ("smb", "mid-market", "enterprise")


def write_leads_csv(
    path: Path, rows: int = LEADS, seed: int = 42, owners: Sequence[str] | None = None, prefix: str = "bl"
) -> Path:
    """A leads export of `rows` rows (lead_id, created_at, owner_id, source, campaign_id, segment, company), owned
    by `owners` (default: rep-001 … rep-210, and then with the benchmark import's campaigns; with `owners`, no
    campaign), ids `<prefix>-0000001` …"""
    owner_ids = list(owners) if owners else [f"rep-{i:03d}" for i in range(1, _OWNERS + 1)]
    marker = path.with_suffix(".rows")  # written last: a file cut short by an interruption is made again
    made = str(rows) if owners is None else f"{rows} {prefix} {len(owner_ids)} owners, no campaigns"
    if path.exists() and marker.exists() and marker.read_text() == made:
        return path
    rng = np.random.default_rng(seed)
    start = datetime(2025, 11, 1)
    seconds = np.sort(rng.integers(0, 365 * 86_400, rows))
    owner_of = rng.integers(0, len(owner_ids), rows)
    sources = rng.integers(0, len(_SOURCES), rows)
    campaigns = rng.integers(0, _CAMPAIGNS + 1, rows)  # 0: no campaign
    segments = rng.integers(0, len(_SEGMENTS), rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("lead_id", "created_at", "owner_id", "source", "campaign_id", "segment", "company"))
        for i in range(rows):
            writer.writerow(
                (
                    f"{prefix}-{i + 1:07d}",
                    (start + timedelta(seconds=int(seconds[i]))).isoformat(),
                    owner_ids[owner_of[i]],
                    _SOURCES[sources[i]],
                    f"camp-{campaigns[i]:02d}" if campaigns[i] and owners is None else "",
                    _SEGMENTS[segments[i]],
                    f"Company {i % 50_000}",
                )
            )
    marker.write_text(made)
    return path


def _fresh_database(url: str) -> None:
    """Empty the benchmark's import database and give it the owners and campaigns the leads refer to."""
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))
        conn.execute(
            insert(User),
            [dict(user_id=f"rep-{i:03d}", name=f"Rep {i}", role="rep") for i in range(1, _OWNERS + 1)],
        )
        conn.execute(
            insert(Campaign), [dict(campaign_id=f"camp-{i:02d}", name=f"Campaign {i}") for i in range(1, 13)]
        )
    engine.dispose()


def measure_import(url: str, csv_path: Path) -> dict:
    """Run the import in a child process; its wall time, rows per second and peak RSS."""
    _fresh_database(url)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.importing", url, str(csv_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed"}
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "rows": child["written"],
        "import_seconds": round(child["seconds"], 2),
        "journeys_seconds": round(child["journeys_seconds"], 2),
        "process_seconds": round(wall, 2),
        "rows_per_second": round(child["written"] / child["seconds"]),
        "peak_rss_mb": round(child["peak_kib"] / 1024, 1),
    }


def measure_import_sizes(url: str, data: Path, rows: int) -> dict:
    """Import a file of `rows` leads and one of a tenth as many: the large one's figures, with the small one's
    peak memory beside it and their ratio (an import's memory must not grow with the file)."""
    large = measure_import(url, write_leads_csv(data / f"leads_{rows}.csv", rows))
    small = measure_import(url, write_leads_csv(data / f"leads_{rows // 10}.csv", rows // 10))
    if "error" in large or "error" in small:
        return large if "error" in large else small
    return {
        **large,
        "small_rows": small["rows"],
        "small_peak_rss_mb": small["peak_rss_mb"],
        "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
    }


def _child(url: str, csv_path: str) -> None:
    engine = make_engine(url)
    settings = load_settings(config_path=None, env={})
    started = time.perf_counter()
    report = import_file(engine, settings, "leads", Path(csv_path))
    seconds = time.perf_counter() - started
    if report.refused:
        raise SystemExit(f"import refused: {report.errors[:3]}")
    # What `kpibot import` does next, in a transaction of its own: the new leads' journeys.
    started = time.perf_counter()
    refresh_store(engine, settings)
    journeys = time.perf_counter() - started
    # The child's own peak (Linux: KiB): RUSAGE_CHILDREN in the parent is the largest of all children so far, so a
    # small import measured after a large one would inherit the large one's peak.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "written": report.written,
                "seconds": seconds,
                "journeys_seconds": journeys,
                "peak_kib": peak_kib,
            }
        )
    )


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
