"""Two `kpibot digests run` processes started at the same moment on one database deliver each digest exactly once:
the outbox's unique key decides who queues, the claim (SKIP LOCKED on PostgreSQL) decides who sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.alerts_org import seed_november

# `kpibot …` as the installed console script runs it, from the checkout.
KPIBOT = "import sys, run_bot; sys.exit(run_bot.main(sys.argv[1:]))"
ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-17T09:00:00+00:00"  # Tuesday: 4 digests are due (see tests/fixtures/alerts_org.py)


def _start(db_url: str, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            KPIBOT,
            "--db",
            db_url,
            "digests",
            "run",
            "--now",
            NOW,
            "--console-file",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_send_each_digest_once(db_url, engine, tmp_path):
    seed_november(engine)
    out = tmp_path / "console.jsonl"
    runs = [_start(db_url, out), _start(db_url, out)]
    try:
        deadline = time.monotonic() + 60
        # communicate() reads both pipes to the end and closes them: keep what it returns for the messages.
        results = [run.communicate(timeout=max(deadline - time.monotonic(), 1)) for run in runs]
        outputs = [stdout for stdout, _ in results]
        assert [run.returncode for run in runs] == [0, 0], [stderr for _, stderr in results]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    delivered = sorted((m["chat_id"], m["title"]) for m in lines)
    assert delivered == [
        ("mgr-a", "Team digest · Nov 17, 2026"),
        ("mgr-b", "Team digest · Nov 17, 2026"),
        # Rita reads Russian: her catalogue's "Ваш день · {date}", the year followed by a narrow space and "г."
        ("rep-1", "Ваш день · 17 нояб. 2026\u202fг."),
        ("rep-2", "Your day · Nov 17, 2026"),
    ]
    # Between them the two processes sent four messages: each one sent what it claimed.
    sent = sum(int(o.split("sent ")[1].split(",")[0]) for o in outputs)
    assert sent == 4
