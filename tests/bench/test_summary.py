"""The README's and docs/benchmark.md's performance tables are the report step's rendering of bench/latest.json,
and the report step rewrites only what stands between the markers."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import verdicts
from bench.summary import BEGIN, END, rewrite_marked, summary_table

ROOT = Path(__file__).resolve().parents[2]


def _marked(path: Path) -> str:
    text = path.read_text()
    return text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]


def test_the_readme_and_docs_tables_are_rendered_from_the_committed_latest_json():
    latest = json.loads((ROOT / "bench" / "latest.json").read_text())
    table = summary_table(latest)
    assert _marked(ROOT / "README.md") == table
    assert _marked(ROOT / "docs" / "benchmark.md") == table


def test_every_backend_of_latest_json_is_a_column_and_latest_md_has_its_run():
    latest = json.loads((ROOT / "bench" / "latest.json").read_text())
    header = summary_table(latest).splitlines()[2]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    for run in latest["runs"]:
        assert names[run["meta"]["backend"]] in header
        assert (
            f"### {run['meta']['backend']} — {run['meta']['scale']} demo org"
            in (ROOT / "bench" / "latest.md").read_text()
        )


def test_the_report_step_replaces_only_the_marked_table(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Speed\n\nBefore.\n\n{BEGIN}\n| old | table |\n{END}\n\nAfter.\n")
    assert rewrite_marked(doc, "| new |\n")
    assert doc.read_text() == f"# Speed\n\nBefore.\n\n{BEGIN}\n| new |\n{END}\n\nAfter.\n"
    assert not rewrite_marked(doc, "| new |\n")  # the same table again: nothing to write


def test_a_run_with_a_load_test_and_pandas_times_shows_both_targets():
    run = {
        "meta": {
            "backend": "sqlite",
            "scale": "medium",
            "when": "2026-12-03 13:00 UTC",
            "machine": "2 × CPU",
        },
        "commands": [
            {
                "command": "cycle",
                "role": "rep",
                "reply": {"median_ms": 5.0},
                "ratio": 1.0,
                "pandas_speedup": 40.0,
            },
            {
                "command": "funnel",
                "role": "rep",
                "reply": {"median_ms": 10.0},
                "ratio": 0.5,
                "pandas_speedup": 12.5,
            },
        ],
        "load": {"requests": 50, "p50_ms": 800.0, "p95_ms": 1500.0, "errors": 0, "database_locked": 0},
    }
    table = summary_table({"runs": [run]})
    assert (
        "| kpibot's reply vs pandas over the CRM tables | ≥ ×20 faster | ×12.5–×40, median ×40; least funnel "
        "(rep); under ×20: funnel (rep) **✗** |" in table
    )
    assert (
        "| 50 chat requests at once during an import | p95 ≤ 2 s, no errors | p50 0.80 s, p95 1.50 s, 0 errors, "
        '0 "database is locked" ✓ |' in table
    )


def test_measuring_some_parts_again_on_a_fresh_clone_keeps_the_committed_runs(tmp_path):
    # A fresh clone has no bench/results/: `--parts commands --backend sqlite` kept nothing of bench/latest.json,
    # and the tables lost PostgreSQL and every SQLite part but the commands.
    from bench.summary import committed_run, latest_runs

    here = tmp_path / "bench"
    here.mkdir()
    sqlite = {
        "meta": {"backend": "sqlite", "scale": "medium", "machine": "A", "when": "2026-12-03 13:00 UTC"},
        "digests": [],
    }
    postgres = {
        "meta": {"backend": "postgres", "scale": "medium", "machine": "A", "when": "2026-12-03 13:00 UTC"}
    }
    (here / "latest.json").write_text(json.dumps({"runs": [sqlite, postgres]}))
    assert committed_run(here, "sqlite", "medium") == sqlite
    assert committed_run(here, "sqlite", "large") is None
    results = here / "results"
    results.mkdir()
    remeasured = {**sqlite, "commands": [], "meta": {**sqlite["meta"], "remeasured_on": {"commands": "B"}}}
    (results / "sqlite-medium.json").write_text(json.dumps(remeasured))
    assert latest_runs(results, here) == [remeasured, postgres]
    header = summary_table({"runs": [remeasured, postgres]}).splitlines()[0]
    assert header.endswith("; A; SQLite commands on B):")


def test_a_reply_a_few_milliseconds_over_a_light_sql_meets_the_ratio_target():
    def row(command: str, reply_ms: float, sql_ms: float) -> dict:
        return {"command": command, "role": "rep", "reply": {"median_ms": reply_ms},
                "sql": {"median_ms": sql_ms}, "ratio": round(reply_ms / sql_ms, 2)}  # fmt: skip

    light = row("leaderboard", 1.7, 0.7)  # ×2.43, but 1.0 ms over its SQL: within SQL + 5 ms
    close = row("funnel", 30.0, 21.0)  # ×1.43
    heavy = row("retention", 36.1, 14.3)  # ×2.52 and 21.8 ms over
    target = "each command / its SQL"
    met = {v[0]: v for v in verdicts({"commands": [light, close]})}[target]
    assert met[1] == "≤ ×1.5 or SQL + 5 ms" and met[3] is True
    missed = {v[0]: v for v in verdicts({"commands": [light, close, heavy]})}[target]
    assert missed[2] == "worst ×2.52 (retention, rep); over: retention (rep)" and missed[3] is False


def test_every_commands_full_answer_is_held_to_a_second_and_a_reps_to_300_ms():
    def row(command: str, role: str, reply_ms: float, with_charts_ms: float) -> dict:
        return {"command": command, "role": role, "reply": {"median_ms": reply_ms},
                "reply_with_charts": {"median_ms": with_charts_ms}, "sql": {"median_ms": reply_ms}, "ratio": 1.0}  # fmt: skip

    target = "every command, with its charts"
    fast = [
        row("funnel", "rep", 6.3, 80.8),
        row("retention", "rep", 77.4, 251.1),
        row("sql", "admin", 1039.5, 994.0),
    ]
    met = {v[0]: v for v in verdicts({"commands": fast})}[target]
    assert met[1:] == (
        "≤ 1 s, a rep's ≤ 300 ms",
        "slowest 0.99 s (sql, admin), a rep's 251 ms (retention)",
        True,
    )
    slow = [*fast, row("retention", "admin", 1937.1, 2195.8), row("plan", "rep", 31.9, 310.0)]
    missed = {v[0]: v for v in verdicts({"commands": slow})}[target]
    assert missed[2] == (
        "slowest 2.20 s (retention, admin), a rep's 310 ms (plan); over: retention (admin) 2.20 s, plan (rep) 0.31 s"
    )
    assert missed[3] is False
