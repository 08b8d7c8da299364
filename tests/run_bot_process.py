"""The real `run_bot.py` in a subprocess, for the platform end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from storage.db import make_engine
from storage.schema import Lead
from tests.metrics.org import seed_people

__all__ = ["start_run_bot", "stop_run_bot", "free_port", "seed_leads_around_now"]

ROOT = Path(__file__).resolve().parent.parent

# The chat stories read every message the bot sends; a digest due at that hour of a weekday would land in between,
# so these runs switch the schedule off (the scheduler itself still starts, as in production).
CHAT_ONLY_CONFIG = """\
digests:
  rep_daily: {enabled: false}
  team_digest: {enabled: false}
  weekly_plan: {enabled: false}
alerts: []
"""


def start_run_bot(directory: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `python run_bot.py` in `directory` with only `env` (plus PATH, HOME and the Agg backend)."""
    (directory / "kpibot.yaml").write_text(CHAT_ONLY_CONFIG, encoding="utf-8")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(directory)),  # matplotlib keeps its font cache there
        "MPLBACKEND": "Agg",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_bot.py")],
        cwd=directory,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop_run_bot(process: subprocess.Popen) -> str:
    """Stop the bot as an orchestrator would (SIGTERM, then kill) and return everything it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.stdout.read().decode(errors="replace") if process.stdout else ""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed_leads_around_now(db_url: str, owner: str, *, this_month: int = 3, last_month: int = 5) -> datetime:
    """The fixture people, and `owner`'s leads this month and last month by the real clock (the subprocess runs on
    it); returns that now."""
    engine = make_engine(db_url)
    seed_people(engine)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    earlier = (month_start - timedelta(days=1)).replace(day=10, hour=12)
    leads = [
        dict(lead_id=f"now-{i}", owner_id=owner, created_at=month_start + timedelta(minutes=5))
        for i in range(this_month)
    ]
    leads += [dict(lead_id=f"prev-{i}", owner_id=owner, created_at=earlier) for i in range(last_month)]
    with engine.begin() as conn:
        conn.execute(insert(Lead), leads)
    engine.dispose()
    return now
