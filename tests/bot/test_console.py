"""The console chat, as a person at a terminal (or a pipe) uses it: `python run_bot.py` and `kpibot ask`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console import render_table
from metrics.result import Table
from run_bot import main
from storage.db import make_engine, upgrade
from tests.fixtures.bot_org import NOW, seed_org

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fixture_db(tmp_path) -> str:
    """A SQLite file holding the fixture org (people exist, so no demo is built)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed_org(engine)
    engine.dispose()
    return url


def _run(args: list[str], stdin: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_TOKEN", "SLACK_BOT_TOKEN")}
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_piped_commands_are_answered_one_per_line_with_chart_files(fixture_db, tmp_path):
    charts = tmp_path / "charts"
    done = _run(
        [str(ROOT / "run_bot.py"), "--db", fixture_db, "--as", "mgr-a", "--charts-dir", str(charts)]
        + ["--now", NOW.isoformat()],
        "/funnel last month\n/plan\n/whoami\n",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "> /funnel last month" in out and "Funnel · Alpha · October 2026" in out and "Leads: 17" in out
    assert "Plan · Alpha ·" in out
    assert "Mia Manager" in out and "Manager, id mgr-a" in out
    paths = [Path(line.removeprefix("[chart] ")) for line in out.splitlines() if line.startswith("[chart] ")]
    assert paths, out
    for path in paths:
        assert path.is_file() and path.read_bytes().startswith(PNG_SIGNATURE)


def test_ask_answers_once_with_an_exit_code_per_outcome(fixture_db, tmp_path, capsys):
    def ask(*args: str) -> tuple[int, str, str]:
        code = main(["--db", fixture_db, "ask", *args, "--charts-dir", str(tmp_path)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = ask("/funnel last month", "--as", "rep-2")
    assert code == 0 and "Funnel · Rob Rep" in out
    code, out, _ = ask("/funnel last blorp", "--as", "rep-2")
    assert code == 1 and "I don't understand the period 'blorp'. Try: /funnel last month" in out
    code, out, _ = ask("/funnel last blorp", "--as", "rep-2", "--lang", "ru")
    assert code == 1 and "Я не понимаю период «blorp». Попробуйте: /воронка прошлый месяц" in out
    code, _, err = ask("/funnel", "--as", "nobody")
    assert code == 2 and "no user 'nobody'" in err


def test_a_table_is_aligned_for_the_terminal():
    table = Table("by_rep", "By rep", ("rep", "Leads"), (("Rita Rep", "10"), ("Rob Rep", "7")))
    assert render_table(table).splitlines() == [
        "rep       Leads",
        "--------  -----",
        "Rita Rep     10",
        "Rob Rep       7",
    ]
