"""Every `kpibot import TABLE FILE` is logged in `import_runs` — when, which table from which file, how many rows,
written or refused — and a written one of a fact table is what makes imported data fresh (storage/freshness.py)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from run_bot import main
from storage.freshness import data_freshness
from storage.schema import ImportRun

DATA = Path(__file__).parent / "data"


def test_an_import_is_logged_and_only_a_written_one_of_a_fact_table_makes_the_data_fresh(
    engine, db_url, tmp_path, capsys
):
    broken = tmp_path / "teams.csv"
    broken.write_text("team_id,name,manager_id\n,Nameless,\n", encoding="utf-8")  # no id: refused
    assert main(["--db", db_url, "import", "teams", str(broken)]) == 1
    with engine.connect() as conn:
        assert data_freshness(conn) is None  # nothing written, nothing fresh
    assert main(["--db", db_url, "import", "teams", str(DATA / "teams.csv")]) == 0
    capsys.readouterr()
    with engine.connect() as conn:
        runs = conn.execute(select(ImportRun).order_by(ImportRun.id)).all()
        fresh = data_freshness(conn)
    assert [(r.table_name, Path(r.source).name, r.status, r.read, r.written, r.rejected) for r in runs] == [
        ("teams", "teams.csv", "refused", 1, 0, 1),
        ("teams", "teams.csv", "ok", 1, 1, 0),  # tests/storage/data/teams.csv holds one team
    ]
    assert runs[1].started_at <= runs[1].finished_at
    assert (
        fresh is None
    )  # teams say nothing about how current the numbers are: only a fact table's import does
    spend = tmp_path / "spend.csv"
    spend.write_text("date,amount\n2026-03-01,1500.00\n2026-03-02,900\n", encoding="utf-8")
    assert main(["--db", db_url, "import", "spend", str(spend)]) == 0
    capsys.readouterr()
    with engine.connect() as conn:
        last = conn.execute(select(ImportRun).order_by(ImportRun.id.desc())).first()
        fresh = data_freshness(conn)
    assert last is not None and (last.table_name, last.written) == ("spend", 2)
    assert fresh is not None and fresh.source == "import"
    assert fresh.as_of is not None and fresh.as_of.replace(tzinfo=None) == last.finished_at
