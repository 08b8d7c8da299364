"""The console chat, as a person at a terminal (or a pipe) uses it: `python run_bot.py` and `kpibot ask`."""

from __future__ import annotations

import io
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


def _console_run(fixture_db: str, charts: Path, stdin: str, monkeypatch, capsys) -> str:
    """`python run_bot.py` in this process, its stdin a pipe (not a terminal) holding `stdin`."""
    for name in ("TELEGRAM_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(
        ["--db", fixture_db, "run", "--as", "mgr-a", "--now", NOW.isoformat(), "--charts-dir", str(charts)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_console_user_is_not_rate_limited(fixture_db, tmp_path, monkeypatch, capsys):
    # The chat limit is 30 a minute with bursts of 15; on the fixed clock no token would ever refill, so a
    # rate-limited console would stop answering at the 16th line. The console answers all 20.
    out = _console_run(fixture_db, tmp_path / "charts", "/whoami\n" * 20, monkeypatch, capsys)
    assert out.count("Manager, id mgr-a") == 20
    assert "try again in" not in out


def test_a_second_console_run_numbers_its_charts_after_the_first_runs(
    fixture_db, tmp_path, monkeypatch, capsys
):
    charts = tmp_path / "charts"
    first = _console_run(fixture_db, charts, "/whoami\n/funnel last month\n", monkeypatch, capsys)
    first_paths = [
        line.removeprefix("[chart] ") for line in first.splitlines() if line.startswith("[chart] ")
    ]
    assert first_paths and all(
        Path(p).name.startswith("002-") for p in first_paths
    )  # the 2nd answer's charts
    before = {p: Path(p).read_bytes() for p in first_paths}
    second = _console_run(fixture_db, charts, "/funnel last month\n/plan last month\n", monkeypatch, capsys)
    second_paths = [
        line.removeprefix("[chart] ") for line in second.splitlines() if line.startswith("[chart] ")
    ]
    # The highest number in the folder is 002, so this run's first answer is 003 and its second 004.
    assert {Path(p).name[:4] for p in second_paths} == {"003-", "004-"}
    assert not set(second_paths) & set(first_paths)
    assert all(
        Path(p).read_bytes() == png for p, png in before.items()
    )  # the first run's files are untouched
