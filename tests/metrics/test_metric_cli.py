"""`kpibot metric`: the catalogue from the command line, as a RevOps admin or a script would use it."""

import json
from datetime import date

import pytest

from metrics.catalogue import catalogue
from run_bot import main
from storage.demo.generate import generate_demo

NOW = "2026-11-18T10:00:00+00:00"


@pytest.fixture
def demo_db(engine, db_url):
    generate_demo(engine, scale="tiny", seed=3, today=date(2026, 11, 18))
    return db_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_list_names_every_metric_with_its_definition(capsys):
    code, out, _ = run(capsys, "metric", "--list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(catalogue())
    assert any(line.startswith("win_rate") and "won / (won + lost)" in line for line in lines)


@pytest.mark.parametrize("period", ["this month", "last month"])
def test_every_metric_has_a_plausible_headline_on_the_demo_org(demo_db, capsys, period):
    for metric in catalogue():
        code, out, err = run(
            capsys,
            "--db",
            demo_db,
            "metric",
            metric.name,
            "--as",
            "admin",
            "--period",
            period,
            "--now",
            NOW,
            "--json",
        )
        assert code == 0, (metric.name, err)
        result = json.loads(out)
        assert result["metric"] == metric.name and result["scope"]["kind"] == "org"
        headline = result["measures"][0] if result["measures"] else None
        # A whole year of a working sales org: every headline has a number, and no count or amount is negative.
        assert headline is not None and headline["value"] is not None, (metric.name, period, result["notes"])
        if headline["unit"] in ("count", "money", "days"):
            assert headline["value"] >= 0, (metric.name, headline)
        if headline["unit"] == "percent" and metric.name != "roi":
            assert -1.0 <= headline["value"] <= 5.0, (metric.name, headline)


def test_a_rep_is_refused_another_reps_numbers_and_a_bad_period_is_explained(demo_db, capsys):
    code, _, err = run(
        capsys, "--db", demo_db, "metric", "funnel", "--as", "rep-001", "--scope", "rep:rep-002"
    )
    assert code == 1 and "You can't see" in err
    code, _, err = run(capsys, "--db", demo_db, "metric", "funnel", "--as", "admin", "--period", "last blorp")
    assert code == 1 and "I don't understand the period 'blorp'" in err


def test_a_table_for_people_with_the_comparison(demo_db, capsys):
    code, out, _ = run(
        capsys,
        "--db",
        demo_db,
        "metric",
        "win_rate",
        "--as",
        "admin",
        "--period",
        "last month",
        "--vs",
        "prev",
        "--by",
        "team",
        "--now",
        NOW,
    )
    assert code == 0
    assert out.splitlines()[0].startswith("Win rate — ") and "last month" in out.splitlines()[0]
    assert "previous" in out and "by team" in out
