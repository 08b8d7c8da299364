"""The committed summary of the latest run: bench/latest.json (every figure) and bench/latest.md (tables), and the
performance table of README.md and docs/benchmark.md rendered from latest.json between markers, so none of them
can disagree with another (tests/bench/test_summary.py checks the committed files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import markdown, verdicts

__all__ = ["BEGIN", "END", "latest_runs", "write_latest", "summary_table", "rewrite_marked", "report"]

BEGIN = "<!-- bench:summary (python -m bench --report writes this table from bench/latest.json) -->"
END = "<!-- /bench:summary -->"
BACKENDS = ("sqlite", "postgres")
_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def committed_run(here: Path, backend: str, scale: str) -> dict[str, Any] | None:
    """The run of `backend` on the `scale` org that bench/latest.json holds (what a fresh clone knows), if any."""
    path = here / "latest.json"
    if not path.exists():
        return None
    for run in json.loads(path.read_text()).get("runs", []):
        if run["meta"]["backend"] == backend and run["meta"]["scale"] == scale:
            return run
    return None


def latest_runs(results: Path, here: Path | None = None) -> list[dict[str, Any]]:
    """Each backend's latest run: the large org's when there is one, else the medium org's (`--quick`); a backend
    not measured here keeps the run bench/latest.json (in `here`) holds for it."""
    committed = json.loads((here / "latest.json").read_text()).get("runs", []) if here else []
    runs = []
    for backend in BACKENDS:
        for name in (backend, f"{backend}-medium"):
            path = results / f"{name}.json"
            if path.exists():
                runs.append(json.loads(path.read_text()))
                break
        else:
            runs += [run for run in committed if run["meta"]["backend"] == backend][:1]
    return runs


def write_latest(here: Path, runs: list[dict[str, Any]]) -> None:
    """bench/latest.json and bench/latest.md from the same runs."""
    (here / "latest.json").write_text(json.dumps({"runs": runs}, indent=2, default=str) + "\n")
    (here / "latest.md").write_text("# Latest benchmark run\n\n" + "\n".join(markdown(r) for r in runs))


def _measured(meta: dict[str, Any]) -> str:
    """When a run was measured: its date, or the span from it to the last part measured again."""
    times = sorted([meta["when"], *meta.get("remeasured", {}).values()])
    return times[0] if times[0] == times[-1] else f"{times[0]} – {times[-1][11:]}"


def summary_table(latest: dict[str, Any]) -> str:
    """The targets table: one row per target, one column per backend of the latest run."""
    runs = {r["meta"]["backend"]: r for r in latest["runs"]}
    columns = [b for b in BACKENDS if b in runs]
    rows: dict[str, dict[str, str]] = {}
    limits: dict[str, str] = {}
    for backend in columns:
        results = runs[backend]
        for target, limit, measured, met in verdicts(results):
            limits[target] = limit
            verdict = "" if met is None else (" ✓" if met else " **✗**")
            rows.setdefault(target, {})[backend] = measured + verdict
    orgs = ", ".join(
        f"{_NAMES[b]}: {runs[b]['meta']['scale']} org, {_measured(runs[b]['meta'])}" for b in columns
    )
    elsewhere = "".join(
        f"; {_NAMES[b]} {part} on {machine}"
        for b in columns
        for part, machine in runs[b]["meta"].get("remeasured_on", {}).items()
    )
    lines = [
        f"Latest run ({orgs}; {runs[columns[0]]['meta']['machine']}{elsewhere}):"
        if columns
        else "No run yet.",
        "",
        "| target | limit | " + " | ".join(_NAMES[b] for b in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for target, by_backend in rows.items():
        cells = " | ".join(by_backend.get(b, "—") for b in columns)
        lines.append(f"| {target} | {limits[target]} | {cells} |")
    return "\n".join(lines) + "\n"


def rewrite_marked(path: Path, table: str) -> bool:
    """Replace what stands between the markers in `path` with `table`; whether the file changed."""
    text = path.read_text()
    head, sep, rest = text.partition(BEGIN)
    _old, sep_end, tail = rest.partition(END)
    if not sep or not sep_end:
        raise ValueError(f"{path.name} has no {BEGIN!r} … {END!r} markers")
    new = f"{head}{BEGIN}\n{table}{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


def report(here: Path, documents: list[Path]) -> list[Path]:
    """Rewrite the marked table of each document from bench/latest.json; the documents changed."""
    table = summary_table(json.loads((here / "latest.json").read_text()))
    return [path for path in documents if rewrite_marked(path, table)]
