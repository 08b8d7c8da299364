"""Files that used to change data without a word or end the import with a traceback: each is now a row error
(or, for a file that cannot be read on, a file error) with its line, column, value and reason.

The leads belong to Anna; the store is SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import insert, select

from run_bot import main
from storage.config.settings import Settings
from storage.importing.importer import import_file
from storage.schema import Deal, Lead, User

UTC_ORG = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})


@pytest.fixture
def anna(engine):
    with engine.begin() as conn:
        conn.execute(insert(User), [{"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True}])
    return engine


def leads(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(Lead.lead_id, Lead.source, Lead.segment, Lead.company)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems(report) -> list[tuple]:
    return [(e.line, e.column, e.value, e.reason) for e in report.errors]


EDGE = "outside the dates kpibot can show in every time zone (0001-01-02 to 9999-12-30 in UTC)"
HEADER = "lead_id,created_at,owner_id,source,campaign_id,segment,company\n"


def test_an_unclosed_quote_is_a_bad_row_on_the_line_it_opens_not_a_merged_row(anna, tmp_path):
    path = write(
        tmp_path / "leads.csv",
        HEADER
        + "ok-1,2026-03-02T09:00:00,u-anna,email,,smb,Northwind\n"
        + 'uq-1,2026-03-02T10:00:00,u-anna,email,,smb,"never closed\n'
        + "uq-2,2026-03-02T11:00:00,u-anna,email,,smb,Contoso\n",
    )

    report = import_file(anna, UTC_ORG, "leads", path)

    assert report.refused and (report.read, report.written, report.rejected) == (2, 0, 1)
    assert problems(report) == [
        (3, "", "", "a quote opened on line 3 is never closed (it would take in lines 3-4 as one cell)")
    ]
    assert leads(anna) == {}

    kept = import_file(anna, UTC_ORG, "leads", path, skip_invalid=True)

    assert (kept.read, kept.written, kept.rejected) == (2, 1, 1)
    assert leads(anna) == {"ok-1": ("email", "smb", "Northwind")}


def test_an_unclosed_quote_in_a_long_file_stops_the_file_at_the_quote(anna, tmp_path):
    rows = "".join(f"l-{i},2026-03-02T11:00:00,u-anna,email,,smb,Company number {i}\n" for i in range(3000))
    path = write(tmp_path / "leads.csv", HEADER + 'uq-1,2026-03-02T10:00:00,u-anna,email,,smb,"Acme\n' + rows)

    report = import_file(anna, UTC_ORG, "leads", path, skip_invalid=True)

    # 3000 rows of about 60 characters: the open cell passes the csv module's 131,072 characters on the way.
    assert report.refused and problems(report) == [
        (2, "", "", "a quote opened on line 2 is not closed within 131,072 characters")
    ]
    assert leads(anna) == {}


def test_text_after_a_closing_quote_is_a_bad_row_and_the_next_line_reads_on(anna, tmp_path):
    path = write(
        tmp_path / "leads.csv",
        HEADER
        + 'bq-1,2026-03-02T10:00:00,u-anna,email,,smb,"Acme" Inc\n'
        + "bq-2,2026-03-02T11:00:00,u-anna,email,,smb,Contoso\n",
    )

    report = import_file(anna, UTC_ORG, "leads", path, skip_invalid=True)

    assert (report.read, report.written, report.rejected) == (2, 1, 1)
    assert problems(report) == [
        (
            2,
            "",
            "",
            'text after the closing quote of a cell (a quote inside a quoted cell is written twice: "")',
        )
    ]
    assert leads(anna) == {"bq-2": ("email", "smb", "Contoso")}


def test_a_short_row_is_refused_like_a_long_one_instead_of_keeping_old_values(anna, tmp_path):
    write(tmp_path / "leads.csv", HEADER + "l-1,2026-03-02T10:00:00,u-anna,email,,smb,Northwind\n")
    assert import_file(anna, UTC_ORG, "leads", tmp_path / "leads.csv").written == 1
    # The corrected export clears segment and company; one row lost its last two (empty) fields on the way.
    path = write(
        tmp_path / "leads.csv",
        HEADER
        + "l-1,2026-03-02T10:00:00,u-anna,referral,\nl-2,2026-03-02T10:00:00,u-anna,email,,,Contoso,x\n",
    )

    report = import_file(anna, UTC_ORG, "leads", path)

    assert problems(report) == [
        (2, "", "", "5 fields but the header has 7"),
        (3, "", "", "8 fields but the header has 7"),
    ]
    assert leads(anna) == {"l-1": ("email", "smb", "Northwind")}


@pytest.mark.parametrize(
    "amount", ["1_000", "١٢٣", "１００", "1e3", "1E3", "Infinity", " 1 000", "0x10", "+-1"]
)
def test_numbers_are_plain_ascii_digits_with_one_dot(anna, tmp_path, amount):
    path = write(
        tmp_path / "deals.csv",
        f"deal_id,owner_id,created_at,status,amount\nd-1,u-anna,2026-03-02T10:00:00,open,{amount}\n",
    )

    report = import_file(anna, UTC_ORG, "deals", path)

    assert problems(report) == [
        (
            2,
            "amount",
            amount.strip(),
            "not a number (digits 0-9 with an optional sign and one dot: no thousands separators or exponents)",
        )
    ]


def test_json_numbers_stay_numbers_even_with_an_exponent(anna, tmp_path):
    path = tmp_path / "deals.jsonl"
    path.write_text(
        '{"deal_id": "d-1", "owner_id": "u-anna", "created_at": "2026-03-02T10:00:00", "status": "open", '
        '"amount": 1.2e3}\n'
    )

    assert import_file(anna, UTC_ORG, "deals", path).written == 1
    with anna.connect() as conn:
        assert conn.execute(select(Deal.amount)).scalar_one() == Decimal("1200.00")


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_a_json_object_naming_a_key_twice_is_a_bad_row(anna, tmp_path, suffix):
    good = '{"lead_id": "l-1", "created_at": "2026-03-02T10:00:00", "owner_id": "u-anna", "source": "email"}'
    twice = (
        '{"lead_id": "l-2", "created_at": "2026-03-02T10:00:00", "owner_id": "u-anna", "source": "email", '
        '"source": "referral"}'
    )
    text = f"{good}\n{twice}\n" if suffix == "jsonl" else f"[{good},\n{twice}]"
    path = write(tmp_path / f"leads.{suffix}", text)

    report = import_file(anna, UTC_ORG, "leads", path, skip_invalid=True)

    assert (report.read, report.written, report.rejected) == (2, 1, 1)
    assert problems(report) == [(2, "source", "", 'the key "source" is given twice')]
    assert set(leads(anna)) == {"l-1"}


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_nul_character_in_text_is_a_bad_row_on_both_databases(anna, tmp_path, suffix):
    if suffix == "csv":
        path = write(
            tmp_path / "leads.csv", HEADER + "l-1,2026-03-02T10:00:00,u-anna,email,,smb,North\x00wind\n"
        )
    else:
        row = {
            "lead_id": "l-1",
            "created_at": "2026-03-02T10:00:00",
            "owner_id": "u-anna",
            "company": "North\x00wind",
        }
        path = write(tmp_path / "leads.jsonl", json.dumps(row) + "\n")

    report = import_file(anna, UTC_ORG, "leads", path)

    line = 2 if suffix == "csv" else 1
    assert problems(report) == [(line, "company", "North\x00wind", "contains a NUL character")]
    assert leads(anna) == {}


def test_a_lone_surrogate_from_a_json_escape_is_a_bad_row(anna, tmp_path):
    path = write(
        tmp_path / "leads.jsonl",
        '{"lead_id": "l-1", "created_at": "2026-03-02T10:00:00", "owner_id": "u-anna", "company": "A\\ud800"}\n',
    )

    report = import_file(anna, UTC_ORG, "leads", path)

    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (1, "company", "not valid Unicode text (a lone surrogate)")
    ]
    assert leads(anna) == {}


@pytest.mark.parametrize(
    "amount, reason",
    [
        (
            "1e400",
            "not a number",
        ),  # a JSON number is read as a number, and is far too large; as text, not one
        ("123456789012345678901234567890", "too large"),
        ("0.0000000000000000000000000000001", None),  # rounds to 0.00
    ],
)
def test_huge_amounts_are_too_large_not_a_traceback(anna, tmp_path, amount, reason):
    path = tmp_path / "deals.jsonl"
    path.write_text(
        '{"deal_id": "d-1", "owner_id": "u-anna", "created_at": "2026-03-02T10:00:00", "status": "open", '
        f'"amount": {amount}}}\n'
        '{"deal_id": "d-2", "owner_id": "u-anna", "created_at": "2026-03-02T10:00:00", "status": "open", '
        f'"amount": "{amount}"}}\n'
    )

    report = import_file(anna, UTC_ORG, "deals", path)

    if reason is None:
        assert (report.errors, report.written) == ([], 2)
        return
    assert [(e.line, e.column, e.reason[: len(reason)]) for e in report.errors] == [
        (1, "amount", "too large"),
        (2, "amount", reason),
    ]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00"])
def test_a_moment_that_falls_outside_the_calendar_in_utc_is_a_bad_row(anna, tmp_path, moment):
    path = write(tmp_path / "leads.csv", f"lead_id,created_at,owner_id\nl-1,{moment},u-anna\n")

    report = import_file(anna, UTC_ORG, "leads", path)

    assert problems(report) == [(2, "created_at", moment, EDGE)]


def test_a_moment_at_the_calendars_edge_in_the_org_zone_is_a_bad_row(engine, tmp_path):
    moscow = Settings.model_validate({"org": {"timezone": "Europe/Moscow", "currency": "USD"}})
    path = write(tmp_path / "users.csv", "user_id,name\nu-1,Anna\n")
    assert import_file(engine, moscow, "users", path).written == 1
    path = write(
        tmp_path / "deals.csv",
        "deal_id,owner_id,created_at,status,closed_at,amount,currency\n"
        "d-1,u-1,0001-01-01T01:00:00,open,,10,\n"
        "d-2,u-1,9999-12-31T23:00:00Z,open,,10,EUR\n",
    )

    report = import_file(engine, moscow, "deals", path)

    # 01:00 in Moscow on 1 January of year 1 was still the year before in UTC; the last hour of 9999 in UTC is
    # already the year 10000 in Moscow.
    assert problems(report) == [
        (2, "created_at", "0001-01-01T01:00:00", EDGE),
        (3, "created_at", "9999-12-31T23:00:00Z", EDGE),
    ]


def workbook_cut_short(path: Path, rows: int) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["lead_id", "created_at", "owner_id", "source"])
    for i in range(rows):
        sheet.append([f"l-{i}", "2026-03-02T10:00:00", "u-anna", "email"])
    whole = path.with_suffix(".whole.xlsx")
    book.save(whole)
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(path, "w") as cut:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3]  # the sheet's XML breaks off two thirds of the way in
            cut.writestr(item, data)
    return path


def test_a_workbook_whose_sheet_breaks_off_is_refused_with_the_row_reached(anna, tmp_path):
    path = workbook_cut_short(tmp_path / "leads.xlsx", rows=300)

    report = import_file(anna, UTC_ORG, "leads", path, skip_invalid=True)

    assert report.refused and report.written == 0
    error = report.errors[-1]
    assert 2 < error.line <= 301
    assert error.reason.startswith(f"the workbook's sheet breaks off after row {error.line - 1}")
    assert leads(anna) == {}


def test_lone_surrogates_reach_the_screen_and_the_rejects_file_as_escapes(anna, db_url, tmp_path, capsys):
    path = write(
        tmp_path / "leads.jsonl",
        '{"lead_id": "l-1", "created_at": "2026-03-02T10:00:00", "owner_id": "u-anna", "company": "A\\ud800"}\n'
        '{"lead_id": "l-2", "created_at": "2026-03-02T10:00:00", "\\udfff": 1, "\\udfff": 2}\n'
        '{"lead_id": "l-3", "created_at": "2026-03-02T10:00:00", "owner_id": "u-anna"}\n',
    )

    assert main(["--db", db_url, "import", "leads", str(path), "--skip-invalid"]) == 0

    err = capsys.readouterr().err
    assert "leads.jsonl:1: company='A\\ud800': not valid Unicode text (a lone surrogate)" in err
    assert """leads.jsonl:2: \\udfff='': the key "\\udfff" is given twice""" in err
    rejects = (tmp_path / "leads.jsonl.rejects.csv").read_text(encoding="utf-8")
    assert "A\\ud800" in rejects and 'the key ""\\udfff"" is given twice"' in rejects
    assert set(leads(anna)) == {"l-3"}
