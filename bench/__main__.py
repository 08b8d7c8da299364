"""`python -m bench`: measure kpibot on the large demo org, on SQLite and/or PostgreSQL (docs/benchmark.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from bench.crm import measure_crm_sync
from bench.importing import measure_import_sizes
from bench.load import measure_load
from bench.measure import measure_charts, measure_commands, measure_digests
from bench.org import BENCH_DATABASE, ensure_demo_org, postgres_database
from bench.report import markdown
from bench.summary import committed_run, latest_runs, report, write_latest
from storage.config.settings import load_settings
from storage.db import make_engine

HERE = Path(__file__).parent
DATA = HERE / "data"
RESULTS = HERE / "results"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} × {cpu}{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def _engine(backend: str, args: argparse.Namespace, scale: str) -> Engine:
    if backend == "sqlite":
        DATA.mkdir(parents=True, exist_ok=True)
        return make_engine(f"sqlite:///{DATA / f'{scale}.db'}")
    return make_engine(postgres_database(args.pg_url, _pg_name(args, scale)))


def _pg_name(args: argparse.Namespace, scale: str) -> str:
    """The benchmark org's PostgreSQL database: `<prefix>` for the large org, `<prefix>_<scale>` for the others."""
    return args.pg_db_prefix if scale == "large" else f"{args.pg_db_prefix}_{scale}"


def _import_url(backend: str, args: argparse.Namespace, name: str = "import") -> str:
    if backend == "sqlite":
        DATA.mkdir(parents=True, exist_ok=True)
        path = DATA / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return postgres_database(args.pg_url, f"{args.pg_db_prefix}_{name}")


PARTS = ("commands", "digests", "charts", "import", "crm", "load")
DOCUMENTS = (HERE.parent / "README.md", HERE.parent / "docs" / "benchmark.md")


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    """Every measurement on one backend; the results as a dict (also written as JSON)."""
    scale = args.scale or ("medium" if args.quick else "large")
    # The benchmark asks hundreds of questions a minute as three people: the chat's flood limit would answer most
    # of them with "please wait", so it is off here.
    settings = load_settings(config_path=None, env={}, chat={"rate_limit_per_minute": 0})
    engine = _engine(backend, args, scale)
    print(f"[{backend}] preparing the {scale} demo org (built once, then reused) …", flush=True)
    started = time.monotonic()
    org = ensure_demo_org(engine, settings, scale=scale, progress=sys.stderr.isatty())
    prepared = time.monotonic() - started
    print(f"[{backend}] ready in {prepared:.0f} s ({'built' if org.built_seconds else 'reused'})", flush=True)
    name = backend if scale == "large" else f"{backend}-{scale}"
    parts = set(args.parts.split(",")) if args.parts else set(PARTS)
    earlier = RESULTS / f"{name}.json"
    kept = json.loads(earlier.read_text()) if earlier.exists() else committed_run(HERE, backend, scale)
    if parts != set(PARTS) and kept is not None:
        # Measuring again only some parts: the others stay as the last run (here, else bench/latest.json) measured
        # them, and the summary says when, and on which machine where it is another.
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        kept["meta"].setdefault("remeasured", {}).update({part: when for part in sorted(parts)})
        if _machine() != kept["meta"]["machine"]:
            kept["meta"].setdefault("remeasured_on", {}).update({part: _machine() for part in sorted(parts)})
        kept["meta"]["reps"] = args.reps  # the parts measured again say how many runs; keep --reps the same
        return _measure(kept, parts, backend, args, engine, settings, org, name)
    results: dict = {
        "meta": {
            "backend": backend,
            "scale": scale,
            "seed": org.seed,
            "today": org.today.isoformat(),
            "reps": args.reps,
            "machine": _machine(),
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "built_seconds": org.built_seconds,
        }
    }
    return _measure(results, parts, backend, args, engine, settings, org, name)


def _measure(results: dict, parts: set[str], backend: str, args, engine, settings, org, name: str) -> dict:
    if "commands" in parts:
        print(
            f"[{backend}] chat commands (reply without charts, with charts, hand-written SQL) …", flush=True
        )
        results["commands"] = measure_commands(engine, settings, org, args.reps, pandas=not args.skip_pandas)
    if "digests" in parts:
        print(f"[{backend}] morning digests …", flush=True)
        results["digests"] = measure_digests(engine, settings, org, max(1, min(args.reps, 3)))
    if "charts" in parts:
        print(f"[{backend}] charts …", flush=True)
        results["charts"] = measure_charts(engine, settings, org, args.reps)
    engine.dispose()
    if "import" in parts and not args.skip_import:
        rows = 1_000_000 if org.scale == "large" else 100_000
        print(
            f"[{backend}] import of {rows:,} and {rows // 10:,} leads from CSV in a child process …",
            flush=True,
        )
        results["import"] = measure_import_sizes(_import_url(backend, args), DATA, rows)
    if "load" in parts:
        rows = 1_000_000 if org.scale == "large" else 100_000
        print(
            f"[{backend}] load: 50 requests over the webhooks while {rows:,} leads are imported …", flush=True
        )
        source = str(engine.url.render_as_string(hide_password=False))
        copy = "load" if backend == "sqlite" else f"{args.pg_db_prefix}_load"
        results["load"] = measure_load(source, copy, DATA, org, rows)
    if "crm" in parts:
        leads = 1_000_000 if org.scale == "large" else 100_000
        print(
            f"[{backend}] Salesforce sync of {leads:,} leads from the fake API, then 1 % more …", flush=True
        )
        results["crm"] = measure_crm_sync(_import_url(backend, args, "crm"), leads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG, help="a PostgreSQL server URL (database kpibot_bench on it)"
    )
    parser.add_argument(
        "--pg-db-prefix",
        default=BENCH_DATABASE,
        help=f"name of the PostgreSQL databases the benchmark makes: <prefix> for the large org, <prefix>_medium, "
        f"<prefix>_import, <prefix>_crm, <prefix>_load (default {BENCH_DATABASE})",
    )
    parser.add_argument("--reps", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--skip-import", action="store_true", help="leave out the 1 M-lead import")
    parser.add_argument(
        "--skip-pandas",
        action="store_true",
        help="leave out the pandas baseline of the commands (minutes a command on the large org)",
    )
    parser.add_argument(
        "--parts",
        help=f"measure only these parts again (comma-separated of {', '.join(PARTS)}); the others are kept "
        "from the last run of the backend",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the medium demo org and 100 k leads: a smoke run"
    )
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "large"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--report",
        action="store_true",
        help="measure nothing: rewrite bench/latest.md and the marked table of README.md and docs/benchmark.md from "
        "bench/latest.json",
    )
    args = parser.parse_args(argv)
    if args.report:
        runs = json.loads((HERE / "latest.json").read_text())["runs"]
        write_latest(HERE, runs)  # latest.md with today's verdicts
        for path in report(HERE, list(DOCUMENTS)):
            print(f"rewrote the table of {path.name}")
        return 0
    unknown = set(args.parts.split(",")) - set(PARTS) if args.parts else set()
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    logging.basicConfig(level=logging.WARNING)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        print(markdown(run_backend(backend, args)), flush=True)
    # The summary worth committing: each backend's latest run (the large org's if any), as JSON and as tables, and
    # the documents' tables rendered from that JSON.
    runs = latest_runs(RESULTS, HERE)
    if runs:
        write_latest(HERE, runs)
        report(HERE, list(DOCUMENTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
