"""RevOps imports the CRM's deals export: bad rows are all reported, nothing half-written, re-imports update."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from run_bot import main
from storage.config.settings import Settings
from storage.importing.importer import import_file
from storage.schema import Deal, User

SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})

HEADER = "deal_id,owner_id,created_at,status,closed_at,amount\n"
GOOD = [
    "d-1,u-anna,2026-03-02T10:00:00,won,2026-03-20T16:00:00,1200.00\n",
    "d-5,u-boris,2026-03-15T09:30:00,open,,3000.00\n",
]
# Lines 3, 4 and 5 of the file: three different mistakes.
BAD = [
    "d-2,u-ghost,2026-03-03T11:00:00,open,,800.00\n",  # nobody called u-ghost works here
    "d-3,u-boris,2026-03-10T10:00:00,lost,2026-03-05T10:00:00,950.00\n",  # lost five days before it was created
    "d-4,u-anna,2026-03-12T12:00:00,open,,-500\n",  # a negative amount
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def team(engine):
    """Two reps, Anna and Boris."""
    with engine.begin() as conn:
        conn.execute(User.__table__.insert(), [
            {"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True},
            {"user_id": "u-boris", "name": "Boris", "role": "rep", "active": True},
        ])  # fmt: skip
    return engine


def deals(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                select(Deal.deal_id, Deal.owner_id, Deal.status, Deal.closed_at, Deal.amount).order_by(
                    Deal.deal_id
                )
            )
        ]


def mixed_file(tmp_path: Path) -> Path:
    return write(tmp_path / "deals.csv", HEADER + GOOD[0] + "".join(BAD) + GOOD[1])


def test_a_file_with_three_bad_rows_is_refused_whole_and_every_problem_is_named(team, tmp_path):
    path = mixed_file(tmp_path)

    report = import_file(team, SETTINGS, "deals", path)

    assert report.refused
    assert (report.read, report.written, report.rejected) == (5, 0, 3)
    assert [(e.line, e.column, e.value) for e in report.errors] == [
        (3, "owner_id", "u-ghost"),
        (4, "closed_at", "2026-03-05T10:00:00"),
        (5, "amount", "-500"),
    ]
    assert "no such row in users" in report.errors[0].reason
    assert "closed before created_at" in report.errors[1].reason
    assert "must not be negative" in report.errors[2].reason
    assert all(e.file == str(path) for e in report.errors)
    assert deals(team) == []  # the two good rows were not written either
    assert not (tmp_path / "deals.csv.rejects.csv").exists()


def test_the_command_line_lists_the_problems_and_exits_with_1(team, db_url, tmp_path, capsys):
    path = mixed_file(tmp_path)

    code = main(["--db", db_url, "import", "deals", str(path)])

    out, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:3: owner_id='u-ghost'" in err
    assert f"{path}:4: closed_at=" in err
    assert f"{path}:5: amount='-500': must not be negative" in err
    assert "deals: 5 read, 0 written, 3 rejected" in out
    assert "nothing was written" in out
    assert deals(team) == []


def test_skip_invalid_writes_the_good_rows_and_puts_the_bad_ones_beside_the_file(
    team, db_url, tmp_path, capsys
):
    path = mixed_file(tmp_path)

    code = main(["--db", db_url, "import", "deals", str(path), "--skip-invalid"])

    assert code == 0
    assert "deals: 5 read, 2 written, 3 rejected" in capsys.readouterr().out
    assert deals(team) == [
        ("d-1", "u-anna", "won", datetime(2026, 3, 20, 16, 0), Decimal("1200.00")),
        ("d-5", "u-boris", "open", None, Decimal("3000.00")),
    ]
    with open(tmp_path / "deals.csv.rejects.csv", newline="", encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["line"], r["deal_id"], r["owner_id"], r["amount"]) for r in rejects] == [
        ("3", "d-2", "u-ghost", "800.00"),
        ("4", "d-3", "u-boris", "950.00"),
        ("5", "d-4", "u-anna", "-500"),
    ]
    assert rejects[0]["reason"].startswith("owner_id: unknown id")
    assert rejects[1]["reason"].startswith("closed_at: closed before created_at")
    assert rejects[2]["reason"] == "amount: must not be negative"


def test_importing_the_same_file_twice_changes_nothing_and_a_corrected_file_updates(team, tmp_path):
    path = write(tmp_path / "deals.csv", HEADER + "".join(GOOD))
    first = import_file(team, SETTINGS, "deals", path)
    again = import_file(team, SETTINGS, "deals", path)
    assert (first.written, again.written) == (2, 2)
    assert len(deals(team)) == 2

    # Boris won d-5 after all, for a little more.
    write(path, HEADER + GOOD[0] + "d-5,u-boris,2026-03-15T09:30:00,won,2026-03-30T14:00:00,3500.00\n")
    import_file(team, SETTINGS, "deals", path)

    assert deals(team) == [
        ("d-1", "u-anna", "won", datetime(2026, 3, 20, 16, 0), Decimal("1200.00")),
        ("d-5", "u-boris", "won", datetime(2026, 3, 30, 14, 0), Decimal("3500.00")),
    ]


def test_columns_the_file_leaves_out_are_left_alone_on_update(team, tmp_path):
    import_file(team, SETTINGS, "deals", write(tmp_path / "deals.csv", HEADER + GOOD[0]))
    # A later export without amounts only moves the deal to Boris.
    header = "deal_id,owner_id,created_at,status,closed_at\n"
    slim = write(
        tmp_path / "owners.csv", header + "d-1,u-boris,2026-03-02T10:00:00,won,2026-03-20T16:00:00\n"
    )

    import_file(team, SETTINGS, "deals", slim)

    assert deals(team) == [("d-1", "u-boris", "won", datetime(2026, 3, 20, 16, 0), Decimal("1200.00"))]


def test_an_unknown_column_refuses_the_file_once_not_per_row(team, tmp_path):
    path = write(
        tmp_path / "deals.csv",
        HEADER.replace("amount", "amount,discount") + "d-1,u-anna,2026-03-02,open,,10,5\n",
    )

    report = import_file(team, SETTINGS, "deals", path, skip_invalid=True)

    assert report.refused and report.read == 0
    assert [(e.line, e.column) for e in report.errors] == [(1, "discount")]
    assert "unknown column" in report.errors[0].reason
    assert deals(team) == []


def test_a_missing_required_column_is_a_header_problem(team, tmp_path):
    path = write(tmp_path / "deals.csv", "deal_id,created_at\nd-1,2026-03-02\n")

    report = import_file(team, SETTINGS, "deals", path)

    assert report.refused
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (1, "owner_id", "required column is missing")
    ]


def test_a_deal_listed_twice_in_one_file_is_a_bad_row(team, tmp_path):
    path = write(tmp_path / "deals.csv", HEADER + GOOD[0] + GOOD[1] + GOOD[0].replace("1200.00", "1300.00"))

    report = import_file(team, SETTINGS, "deals", path, skip_invalid=True)

    assert (report.written, report.rejected) == (2, 1)
    assert [(e.line, e.column, e.value, e.reason) for e in report.errors] == [
        (4, "deal_id", "d-1", "duplicate of the row on line 2")
    ]
    assert deals(team)[0][-1] == Decimal("1200.00")  # the first row of d-1 stands


def test_status_and_closed_at_must_agree_and_required_values_must_be_there(team, tmp_path):
    path = write(
        tmp_path / "deals.csv",
        HEADER
        + "d-1,u-anna,2026-03-02,won,,100\n"  # won but never closed
        + "d-2,u-anna,2026-03-02,open,2026-03-09,100\n"  # open yet closed
        + "d-3,,2026-03-02,pending,,100\n",  # no owner, unknown status
    )

    report = import_file(team, SETTINGS, "deals", path)

    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (2, "closed_at", "a won deal needs closed_at"),
        (3, "closed_at", "an open deal must not have closed_at (set status to won or lost)"),
        (4, "owner_id", "missing a required value"),
        (4, "status", "must be one of open, won, lost"),
    ]


def test_foreign_currency_is_converted_at_the_latest_rate_on_or_before_the_close(team, tmp_path):
    rates = write(tmp_path / "fx.csv", "date,currency,rate\n2026-03-01,EUR,1.10\n2026-03-15,EUR,1.05\n")
    assert import_file(team, SETTINGS, "fx_rates", rates).written == 2
    path = write(
        tmp_path / "deals.csv",
        "deal_id,owner_id,created_at,status,closed_at,amount,currency\n"
        "d-1,u-anna,2026-03-02,won,2026-03-20,1000.00,EUR\n"  # 1000 x 1.05 (rate of 15 March)
        "d-2,u-anna,2026-03-02,won,2026-03-10,1000.00,eur\n"  # 1000 x 1.10 (rate of 1 March)
        "d-3,u-boris,2026-03-02,open,,250.00,USD\n"  # already in the org's currency
        "d-4,u-boris,2026-02-01,won,2026-02-20,1000.00,EUR\n"  # before the first EUR rate
        "d-5,u-boris,2026-03-02,open,,1000.00,GBP\n",  # no GBP rates at all
    )

    report = import_file(team, SETTINGS, "deals", path, skip_invalid=True)

    assert [(d[0], d[-1]) for d in deals(team)] == [
        ("d-1", Decimal("1050.00")),
        ("d-2", Decimal("1100.00")),
        ("d-3", Decimal("250.00")),
    ]
    assert [(e.line, e.column, e.value) for e in report.errors] == [
        (5, "currency", "EUR"),
        (6, "currency", "GBP"),
    ]
    assert report.errors[0].reason.startswith("no fx_rates rate for EUR on or before 2026-02-20")
    assert report.errors[1].reason.startswith("no fx_rates rate for GBP on or before 2026-03-02")


def test_a_long_list_of_problems_is_cut_at_fifty_on_screen_but_the_rejects_file_has_them_all(
    team, db_url, tmp_path, capsys
):
    rows = "".join(f"d-{n},u-ghost,2026-03-03T11:00:00,open,,800.00\n" for n in range(60))
    path = write(tmp_path / "deals.csv", HEADER + rows)

    code = main(["--db", db_url, "import", "deals", str(path), "--skip-invalid"])

    out, err = capsys.readouterr()
    assert code == 0
    assert len(err.splitlines()) == 51
    assert err.splitlines()[-1] == f"… and 10 more (all of them are in {path}.rejects.csv)"
    assert "deals: 60 read, 0 written, 60 rejected" in out
    assert len((tmp_path / "deals.csv.rejects.csv").read_text(encoding="utf-8").splitlines()) == 61
