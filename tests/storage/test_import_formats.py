"""The same CRM data arrives as CSV, JSON, JSON lines or an Excel workbook, in the org's own time zone."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from storage.config.settings import Settings
from storage.db import table_counts
from storage.importing.importer import import_file
from storage.schema import CRM_TABLES, Lead, User

DATA = Path(__file__).parent / "data"
MOSCOW = Settings.model_validate({"org": {"timezone": "Europe/Moscow", "currency": "USD"}})  # UTC+3

LEADS = [
    {"lead_id": "l-1", "created_at": "2026-03-05T10:24:00", "owner_id": "u-anna", "source": "email"},
    {"lead_id": "l-2", "created_at": "2026-03-05T10:24:00+01:00", "owner_id": "u-anna", "source": "referral"},
    {"lead_id": "l-3", "created_at": "2026-03-06", "owner_id": "", "source": "organic_search"},
]
# What the store keeps, in UTC: 10:24 in Moscow is 07:24; 10:24 at +01:00 is 09:24; 6 March starts at 21:00 UTC.
STORED = [
    ("l-1", datetime(2026, 3, 5, 7, 24), "u-anna", "email"),
    ("l-2", datetime(2026, 3, 5, 9, 24), "u-anna", "referral"),
    ("l-3", datetime(2026, 3, 5, 21, 0), None, "organic_search"),
]


@pytest.fixture
def anna(engine):
    with engine.begin() as conn:
        conn.execute(
            User.__table__.insert(), [{"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True}]
        )
    return engine


def stored_leads(engine) -> list[tuple]:
    with engine.connect() as conn:
        query = select(Lead.lead_id, Lead.created_at, Lead.owner_id, Lead.source).order_by(Lead.lead_id)
        return [tuple(row) for row in conn.execute(query)]


def as_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def as_json_array(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


def as_json_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def as_xlsx(path: Path, rows: list[dict]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        # Excel hands over real datetimes for date cells that carry no offset.
        cells = [
            datetime.fromisoformat(value) if key == "created_at" and "+" not in value else value
            for key, value in row.items()
        ]
        sheet.append([None if cell == "" else cell for cell in cells])
    book.save(path)
    return path


@pytest.mark.parametrize(
    "name, writer",
    [
        ("leads.csv", as_csv),
        ("leads.json", as_json_array),
        ("leads.jsonl", as_json_lines),
        ("leads.xlsx", as_xlsx),
    ],
)
def test_every_format_reads_the_same_and_a_bare_time_is_moscow_time(anna, tmp_path, name, writer):
    path = writer(tmp_path / name, LEADS)

    report = import_file(anna, MOSCOW, "leads", path)

    assert (report.read, report.written, report.rejected, report.errors) == (3, 3, 0, [])
    assert stored_leads(anna) == STORED


def test_json_lines_report_a_broken_line_and_carry_on(anna, tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text(
        json.dumps(LEADS[0]) + "\n\n" + '{"lead_id": "l-2", "created_at": \n' + json.dumps(LEADS[2]) + "\n",
        encoding="utf-8",
    )

    report = import_file(anna, MOSCOW, "leads", path, skip_invalid=True)

    assert (report.read, report.written, report.rejected) == (3, 2, 1)
    assert report.errors[0].line == 3 and report.errors[0].reason.startswith("not valid JSON")


def test_json_objects_that_name_different_columns_each_update_only_their_own(anna, tmp_path):
    first = tmp_path / "leads.csv"
    first.write_text(
        "lead_id,created_at,owner_id,source,company\n"
        "l-1,2026-03-05T10:00:00,u-anna,email,Northwind\n"
        "l-2,2026-03-05T11:00:00,u-anna,referral,Contoso\n",
        encoding="utf-8",
    )
    import_file(anna, MOSCOW, "leads", first)
    path = tmp_path / "leads.jsonl"
    objects = [
        {"lead_id": "l-2", "created_at": "2026-03-05T11:00:00", "source": "ads"},
        {"lead_id": "l-1", "created_at": "2026-03-05T10:00:00", "company": "Northwind Ltd"},
        {"lead_id": "l-3", "created_at": "2026-03-06T09:00:00", "source": "web", "company": "Fabrikam"},
        {"lead_id": "l-4", "created_at": "2026-03-06T10:00:00", "source": "event"},
    ]
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")

    report = import_file(anna, MOSCOW, "leads", path)

    assert (report.read, report.written, report.refused) == (4, 4, False)
    with anna.connect() as conn:
        query = select(Lead.lead_id, Lead.owner_id, Lead.source, Lead.company).order_by(Lead.lead_id)
        stored = [tuple(row) for row in conn.execute(query)]
    assert stored == [
        ("l-1", "u-anna", "email", "Northwind Ltd"),  # only its company changed
        ("l-2", "u-anna", "ads", "Contoso"),  # only its source
        ("l-3", None, "web", "Fabrikam"),
        ("l-4", None, "event", None),
    ]


def test_a_json_array_reports_objects_by_position(anna, tmp_path):
    rows = [LEADS[0], {**LEADS[1], "owner_id": "u-nobody"}, LEADS[2]]

    report = import_file(anna, MOSCOW, "leads", as_json_array(tmp_path / "leads.json", rows))

    assert report.refused
    assert [(e.line, e.column, e.value) for e in report.errors] == [(2, "owner_id", "u-nobody")]


def test_a_json_object_with_an_unknown_key_refuses_the_file(anna, tmp_path):
    rows = [LEADS[0], {**LEADS[1], "score": 87}]

    report = import_file(
        anna, MOSCOW, "leads", as_json_lines(tmp_path / "leads.jsonl", rows), skip_invalid=True
    )

    assert report.refused and report.written == 0
    assert [(e.line, e.column) for e in report.errors] == [(2, "score")]
    assert stored_leads(anna) == []


def test_a_semicolon_separated_export_with_a_byte_order_mark_reads_too(anna, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "\ufefflead_id;created_at;owner_id;source\nl-1;2026-03-05T10:24:00;u-anna;email\n", "utf-8"
    )

    assert import_file(anna, MOSCOW, "leads", path).written == 1
    assert stored_leads(anna) == [STORED[0]]


def test_a_broken_json_array_is_refused_whole(anna, tmp_path):
    path = tmp_path / "leads.json"
    path.write_text(json.dumps(LEADS[:2])[:-30], encoding="utf-8")

    report = import_file(anna, MOSCOW, "leads", path, skip_invalid=True)

    assert report.refused and report.written == 0
    assert "not valid JSON after item 1" in report.errors[-1].reason
    assert stored_leads(anna) == []
    assert not (tmp_path / "leads.json.rejects.csv").exists()


def test_a_manager_defined_earlier_in_the_same_users_file_is_a_known_user(engine, tmp_path):
    path = as_csv(
        tmp_path / "users.csv",
        [
            {"user_id": "u-boss", "name": "Maria", "role": "manager", "manager_id": ""},
            {"user_id": "u-rep", "name": "Daniel", "role": "rep", "manager_id": "u-boss"},
            {"user_id": "u-new", "name": "Eve", "role": "rep", "manager_id": "u-later"},
            {"user_id": "u-later", "name": "Lena", "role": "manager", "manager_id": ""},
        ],
    )

    report = import_file(engine, MOSCOW, "users", path)

    # Only a manager listed above the rep counts; u-later comes two lines too late.
    assert [(e.line, e.column, e.value) for e in report.errors] == [(4, "manager_id", "u-later")]


def test_every_table_imports_its_example_file(engine, tmp_path):
    """The files shown in the README's data model section, in an order in which their references resolve."""
    # Teams name their manager before the users are in; the users then name their team.
    for table in CRM_TABLES:
        report = import_file(engine, MOSCOW, table, DATA / f"{table}.csv")
        assert report.errors == [], table
        assert report.written >= 1

    counts = table_counts(engine, list(CRM_TABLES))
    assert counts == {table: 2 if table == "users" else 1 for table in CRM_TABLES}
    with engine.connect() as conn:
        # 2026-03-05T10:24:00+03:00 in the leads example is 07:24 UTC.
        assert conn.execute(select(Lead.created_at)).scalar_one() == datetime(2026, 3, 5, 7, 24)


def test_a_row_saved_in_another_encoding_is_named_by_its_line_and_kept_byte_for_byte(anna, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(
        b"lead_id,created_at,owner_id,company\n"
        b"l-1,2026-03-05T10:24:00,u-anna,Northwind\n"
        b"l-2,2026-03-05T11:00:00,u-anna,\xce\xee\xee \xd0\xee\xec\xe0\xf8\xea\xe0\n"  # cp1251, not UTF-8
    )

    report = import_file(anna, MOSCOW, "leads", path, skip_invalid=True)

    assert (report.written, report.rejected) == (1, 1)
    assert (report.errors[0].line, report.errors[0].reason) == (
        3,
        "not UTF-8 text; save the file as UTF-8 (Excel: CSV UTF-8)",
    )
    assert b"\xce\xee\xee \xd0\xee\xec\xe0\xf8\xea\xe0" in (tmp_path / "leads.csv.rejects.csv").read_bytes()
