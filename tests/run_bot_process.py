"""The real `run_bot.py` in a subprocess, for the platform end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["start_run_bot", "stop_run_bot"]

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
