"""Generated import files of leads and deals: whatever they hold, every data row is either written exactly as the
file had it or reported with its line, column, value and reason, and the counts add up.

Each cell is drawn together with what the store must make of it (`BAD` when it cannot be stored), so the test
also knows which rows must be written: a file of good rows is never refused. The text is any Unicode a file can
hold, with quotes, separators, line breaks, NULs and byte-order marks among it; files are UTF-8 with or without a
byte-order mark, or cp1251 (every row with a Cyrillic letter is then not UTF-8); CSV with a comma, a semicolon or
a tab, and JSON lines. The org is in Moscow (UTC+3 all year since 2014), so a bare time is three hours ahead.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from storage.config.settings import Settings
from storage.importing.importer import import_file
from storage.schema import Campaign, Deal, Lead, User

MOSCOW = Settings.model_validate({"org": {"timezone": "Europe/Moscow", "currency": "USD"}})
NOT_UTF8 = "not UTF-8 text; save the file as UTF-8 (Excel: CSV UTF-8)"

BAD = object()  # the cell cannot be stored: its row must be reported
MISSING = object()  # empty: the column's default


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- cells ---------------------------------------------------------------------------------------------------------

SPECIAL = [
    '"',
    ",",
    ";",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    " ",
    "'",
    "=",
    "\\",
    "\ufeff",
    "\u2028",
    "\x85",
    '""',
]
CP1251_SPECIAL = [c for c in SPECIAL if c.isascii()]
CYRILLIC = "АБВГДЖЗИЯабвгджзия"


def free_text(cp1251: bool, surrogates: bool) -> st.SearchStrategy[str]:
    """Any text a file can carry: every code point (cp1251: ASCII and Cyrillic), with the awkward ones often."""
    if cp1251:
        letters = st.one_of(st.characters(max_codepoint=127), st.sampled_from(CYRILLIC))
        specials = CP1251_SPECIAL
    else:
        letters = st.characters(blacklist_categories=("Cs",))
        specials = [*SPECIAL, "\ud800"] if surrogates else SPECIAL
    piece = st.one_of(st.text(letters, max_size=12), st.sampled_from(specials))
    short = st.lists(piece, max_size=8).map("".join)
    long = st.integers(180, 220).map(lambda n: "x" * n)  # around the 200 of a company name
    return st.one_of(short, short, short, long)


def text_expected(cell: str, limit: int, *, required: bool = False) -> Any:
    value = cell.strip()
    if not value:
        return BAD if required else None
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value) or len(value) > limit:
        return BAD
    return value


def text_cell(cp1251: bool, surrogates: bool, limit: int, required: bool = False) -> st.SearchStrategy:
    return free_text(cp1251, surrogates).map(
        lambda cell: (cell, text_expected(cell, limit, required=required))
    )


def padded(cell: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    """The same cell, sometimes with spaces around it: those are stripped."""
    return st.tuples(cell, st.sampled_from(["", " ", "  "])).map(lambda p: (p[1] + p[0][0] + p[1], p[0][1]))


OFFSETS = [
    ("Z", timedelta(0)),
    ("+00:00", timedelta(0)),
    ("+01:00", timedelta(hours=1)),
    ("-05:30", -timedelta(hours=5, minutes=30)),
]
TRICKY_MOMENTS = [
    ("2026-02-30", BAD),
    ("05.03.2026", BAD),
    ("٢٠٢٦-03-05", BAD),
    ("0001-01-01T00:00:00+01:00", BAD),
    ("9999-12-31T23:59:59-12:00", BAD),
    ("2026-03-05T10:24:00\x00", BAD),
    ("", MISSING),
]


def tricky(cells: list[tuple[str, Any]], cp1251: bool) -> st.SearchStrategy[tuple[str, Any]]:
    """One of `cells`; in a cp1251 file only those that it can spell (not ١٢٣ or １００)."""
    return st.sampled_from([cell for cell in cells if not cp1251 or cell[0].isascii()])


@st.composite
def moment_cell(draw, cp1251: bool, clean: bool = False) -> tuple[str, Any]:
    if not clean and draw(st.integers(0, 2)) == 0:
        return draw(tricky(TRICKY_MOMENTS, cp1251))
    when = draw(
        st.datetimes(datetime(2015, 1, 1), datetime(2030, 12, 31)).map(lambda d: d.replace(microsecond=0))
    )
    form = draw(st.sampled_from(["bare", "space", "offset", "day"]))
    if form == "bare":
        return when.isoformat(), when - timedelta(hours=3)
    if form == "space":
        return when.strftime("%Y-%m-%d %H:%M"), when.replace(second=0) - timedelta(hours=3)
    if form == "day":
        return when.strftime("%Y-%m-%d"), datetime(when.year, when.month, when.day) - timedelta(hours=3)
    suffix, offset = draw(st.sampled_from(OFFSETS))
    return when.isoformat() + suffix, when - offset


TRICKY_AMOUNTS = [
    ("1_000", BAD),
    ("١٢٣", BAD),
    ("１００", BAD),
    ("1e3", BAD),
    ("1e400", BAD),
    ("123456789012345678901234567890", BAD),
    ("-5", BAD),
    ("1,200.00", BAD),
    ("12.345", Decimal("12.35")),
    ("12.344", Decimal("12.34")),
    (".5", Decimal("0.50")),
    ("", MISSING),
]


@st.composite
def amount_cell(draw, json_numbers: bool, cp1251: bool, clean: bool) -> tuple[Any, Any]:
    if not clean and draw(st.integers(0, 1)) == 0:
        return draw(tricky(TRICKY_AMOUNTS, cp1251))
    cents = draw(st.integers(0, 10**12))
    value = Decimal(cents).scaleb(-2)
    if json_numbers and draw(st.booleans()):
        return cents, Decimal(cents)  # a JSON number stays a number
    return str(value), value


def one_of_cells(*cells: tuple[str, Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from(cells)


# --- tables --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    model: Any
    columns: tuple[str, ...]

    def stored(self, engine) -> dict[str, tuple]:
        """Every row but the lead the deals refer to, which the store had before."""
        key = getattr(self.model, self.key)
        with engine.connect() as conn:
            rows = conn.execute(
                select(*(getattr(self.model, c) for c in self.columns)).where(key != "l-1")
            ).all()
        return {row[0]: tuple(row) for row in rows}


LEADS = Table(
    "leads",
    "lead_id",
    Lead,
    ("lead_id", "created_at", "owner_id", "source", "campaign_id", "segment", "company"),
)
DEALS = Table(
    "deals",
    "deal_id",
    Deal,
    ("deal_id", "owner_id", "created_at", "status", "closed_at", "amount", "lead_id", "lost_reason"),
)


def id_cell(cp1251: bool, surrogates: bool, prefix: str, clean: bool) -> st.SearchStrategy[tuple[str, Any]]:
    """Ids from a pool, so that rows now and then repeat one; in a hostile row sometimes any text at all."""
    pooled = padded(
        st.integers(1, 12).map(lambda n: (f"{prefix}-{n}", f"{prefix}-{n}"))
    )  # never l-1: see org
    return pooled if clean else st.one_of(pooled, text_cell(cp1251, surrogates, 64, required=True))


def good_text(cp1251: bool, limit: int) -> st.SearchStrategy[tuple[str, Any]]:
    """Text that can be stored: quotes, separators and line breaks, but no NUL and not past the column's size."""
    cut = free_text(cp1251, surrogates=False).map(lambda t: t.replace("\x00", "")[:limit])
    return cut.map(lambda cell: (cell, text_expected(cell, limit)))


def required(cell: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    return cell.map(lambda c: (c[0], BAD if c[1] is MISSING else c[1]))


@st.composite
def lead_row(draw, cp1251: bool, surrogates: bool, clean: bool) -> dict[str, tuple[Any, Any]]:
    def text(limit: int) -> st.SearchStrategy[tuple[str, Any]]:
        return good_text(cp1251, limit) if clean else text_cell(cp1251, surrogates, limit)

    owners = [("u-anna", "u-anna"), ("", None)] + ([] if clean else [("u-ghost", BAD)])
    campaigns = [("c-1", "c-1"), ("", None)] + ([] if clean else [("c-ghost", BAD)])
    return {
        "lead_id": draw(id_cell(cp1251, surrogates, "new", clean)),
        "created_at": draw(padded(required(moment_cell(cp1251, clean)))),
        "owner_id": draw(padded(st.sampled_from(owners))),
        "source": draw(text(64)),
        "campaign_id": draw(st.sampled_from(campaigns)),
        "segment": draw(text(64)),
        "company": draw(text(200)),
    }


STATUSES = [
    ("open", "open"),
    ("won", "won"),
    ("lost", "lost"),
    ("WON", "won"),
    ("", "open"),
    ("pending", BAD),
]


@st.composite
def deal_row(
    draw, cp1251: bool, surrogates: bool, json_numbers: bool, clean: bool
) -> dict[str, tuple[Any, Any]]:
    created = draw(required(moment_cell(cp1251, clean)))
    status = draw(padded(st.sampled_from(STATUSES[:-1] if clean else STATUSES)))
    if clean and status[1] == "open":
        closed: tuple[str, Any] = ("", None)
    elif clean:  # closed some days after it was created, given in UTC
        delay = timedelta(seconds=draw(st.integers(0, 90 * 24 * 3600)))
        closed = ((created[1] + delay).isoformat() + "Z", created[1] + delay)
    else:
        closed = draw(st.one_of(st.just(("", None)), moment_cell(cp1251, clean)))
        closed = (closed[0], None if closed[1] is MISSING else closed[1])
    amount = draw(amount_cell(json_numbers, cp1251, clean))
    owners = [("u-anna", "u-anna")] + ([] if clean else [("", BAD), ("u-ghost", BAD)])
    leads = [("l-1", "l-1"), ("", None)] + ([] if clean else [("l-ghost", BAD)])
    return {
        "deal_id": draw(id_cell(cp1251, surrogates, "d", clean)),
        "owner_id": draw(padded(st.sampled_from(owners))),
        "created_at": created,
        "status": status,
        "closed_at": closed,
        "amount": (amount[0], None if amount[1] is MISSING else amount[1]),
        "lead_id": draw(st.sampled_from(leads)),
        "lost_reason": draw(good_text(cp1251, 200) if clean else text_cell(cp1251, surrogates, 200)),
    }


def deal_rule(values: dict[str, Any]) -> bool:
    """Whether a deal whose cells are all good passes the deal rules: status and closed_at agree, closed after created."""
    status, closed, created = values["status"], values["closed_at"], values["created_at"]
    if status in ("won", "lost") and closed is None:
        return False
    if status == "open" and closed is not None:
        return False
    return closed is None or closed >= created


# --- files ---------------------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One generated data row: where it is, its cells as written and what the store must hold for it."""

    number: int
    cells: dict[str, Any]
    expected: dict[str, Any]
    record_problem: bool  # unreadable as a row (too few fields, not UTF-8): no cell is even looked at
    skipped: bool = False  # a CSV line of empty cells is no row at all
    not_utf8: bool = False  # written in cp1251 with a Cyrillic letter: the reason must say so


def has_cyrillic(cells: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and any(c in CYRILLIC for c in v) for v in cells.values())


@st.composite
def import_file_case(draw, table: Table, tmp_path_factory) -> tuple[Any, list[Line], bool]:
    kind = draw(st.sampled_from(["csv", "csv", "jsonl"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]))
    cp1251 = encoding == "cp1251"
    surrogates = kind == "jsonl" and not cp1251
    # Some files are all good rows, some mostly, some mostly hostile ones.
    hostile_share = draw(st.sampled_from([0, 25, 60]))
    flags = draw(st.lists(st.integers(0, 99).map(lambda n: n >= hostile_share), min_size=1, max_size=8))
    rows = [
        draw(
            lead_row(cp1251, surrogates, clean)
            if table is LEADS
            else deal_row(cp1251, surrogates, kind == "jsonl", clean)
        )
        for clean in flags
    ]
    columns = list(table.columns)
    lines: list[Line] = []
    body: list[str] = []
    if kind == "csv":
        delimiter = draw(st.sampled_from([",", ";", "\t"]))
        ending = draw(st.sampled_from(["\n", "\r\n"]))
        buffer = _Buffer()
        # Python's writer quotes a cell with a line break only when the break is part of its line ending: with
        # "\n" alone, a bare "\r" would go out unquoted and end the row, so those files quote every cell.
        quoting = csv.QUOTE_MINIMAL if ending == "\r\n" else csv.QUOTE_ALL
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending, quoting=quoting)
        writer.writerow(columns)
        number = 2
        for row, clean in zip(rows, flags, strict=True):
            cells = [str(row[c][0]) for c in columns]
            short = not clean and draw(st.integers(0, 5)) == 0
            if short:
                cells = cells[: draw(st.integers(1, len(cells) - 1))]
            buffer.text = ""
            writer.writerow(cells)
            written = dict(zip(columns, cells, strict=False))
            lines.append(
                Line(
                    number,
                    written,
                    {c: row[c][1] for c in columns},
                    record_problem=short or (cp1251 and has_cyrillic(written)),
                    skipped=not any(cells),
                    not_utf8=cp1251 and has_cyrillic(written),
                )
            )
            body.append(buffer.text)
            # A quoted cell's line breaks are lines of the file too.
            number += buffer.text.count("\n") + buffer.text.replace("\r\n", "\n").count("\r")
        header = delimiter.join(columns) + ending
        text = header + "".join(body)
        suffix = draw(st.sampled_from([".csv", ".txt"]))
    else:
        ascii_only = draw(st.booleans())
        for number, (row, clean) in enumerate(zip(rows, flags, strict=True), start=1):
            optional = [c for c in columns if DEFAULTS[table.name].get(c) is not BAD]
            present = [c for c in columns if (clean and c not in optional) or draw(st.integers(0, 7)) > 0]
            cells = {c: row[c][0] if row[c][0] != "" or draw(st.booleans()) else None for c in present}
            has_surrogate = any(
                isinstance(v, str) and any("\ud800" <= ch <= "\udfff" for ch in v) for v in cells.values()
            )
            body.append(json.dumps(cells, ensure_ascii=ascii_only or has_surrogate) + "\n")
            expected = {c: (row[c][1] if c in present else DEFAULTS[table.name].get(c)) for c in columns}
            not_utf8 = cp1251 and not ascii_only and has_cyrillic(cells)
            lines.append(Line(number, cells, expected, record_problem=not_utf8, not_utf8=not_utf8))
        text = "".join(body)
        suffix = ".jsonl"
    path = tmp_path_factory.mktemp("generated") / f"{table.name}{suffix}"
    path.write_bytes(text.encode(encoding))
    return path, lines, draw(st.booleans())


DEFAULTS = {
    "leads": {"created_at": BAD, "lead_id": BAD},
    "deals": {"deal_id": BAD, "status": "open", "owner_id": BAD, "created_at": BAD},
}


class _Buffer:
    text = ""

    def write(self, part: str) -> None:
        self.text += part


# --- the property --------------------------------------------------------------------------------------------------


def expected_outcome(table: Table, lines: list[Line]) -> tuple[dict[int, tuple], set[int]]:
    """(line -> the stored row, for rows that must be written; the lines that must be reported)."""
    good: dict[int, tuple] = {}
    bad: set[int] = set()
    seen: set[str] = set()
    for line in lines:
        if line.skipped:
            continue
        if line.record_problem:
            bad.add(line.number)
            continue
        values = line.expected
        key = values[table.key]
        duplicate = key is not BAD and key in seen
        if key is not BAD:
            seen.add(key)
        cells_good = all(v is not BAD for v in values.values())
        if duplicate or not cells_good or (table is DEALS and not deal_rule(values)):
            bad.add(line.number)
        else:
            good[line.number] = tuple(values[c] for c in table.columns)
    return good, bad


def check_import(engine, table: Table, path, lines: list[Line], skip_invalid: bool) -> None:
    report = import_file(engine, MOSCOW, table.name, path, skip_invalid=skip_invalid)

    good, bad = expected_outcome(table, lines)
    # Shown with --hypothesis-show-statistics: what kinds of files the run tried.
    event(f"{path.suffix} {'skip-invalid' if skip_invalid else 'all or nothing'}")
    event(f"rows written: {min(len(good), 3)}+, rows reported: {min(len(bad), 3)}+")
    data = {line.number: line for line in lines if not line.skipped}
    # The counts add up.
    assert report.read == len(data)
    assert report.read == report.written + report.rejected + (len(good) if report.refused else 0)
    # Every reported problem names a data row, a column of the table (or none), the value as given, and why.
    for error in report.errors:
        assert error.line in data, error
        assert error.reason, error
        assert error.column in (*table.columns, ""), error
        cell = data[error.line].cells.get(error.column)
        if error.column and cell is not None:
            assert error.value.strip() == str(cell).strip(), error
    reported = {error.line for error in report.errors}
    assert reported == bad
    assert report.rejected == len(bad)
    for line in lines:
        # A short row of a UTF-8 file with a Cyrillic letter is only short; one of a cp1251 file is not UTF-8.
        if line.not_utf8 and line.number in bad:
            assert NOT_UTF8 in {e.reason for e in report.errors if e.line == line.number}
    # The rows written are exactly those of the file, as the store keeps them.
    assert report.refused == bool(bad and not skip_invalid)
    stored = table.stored(engine)
    if report.refused:
        assert (report.written, stored) == (0, {})
    else:
        assert report.written == len(good)
        assert stored == {row[0]: row for row in good.values()}
        if report.rejected:
            assert report.rejects_path is not None and report.rejects_path.exists()


@pytest.fixture
def org(engine):
    with engine.begin() as conn:
        conn.execute(insert(User), [{"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True}])
        conn.execute(insert(Campaign), [{"campaign_id": "c-1", "name": "Spring", "channel": "email"}])
        conn.execute(
            insert(Lead), [{"lead_id": "l-1", "created_at": datetime(2026, 3, 1), "owner_id": "u-anna"}]
        )
    return engine


PROFILE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same files on every run: CI's verdict does not depend on luck
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.parametrize("table", [LEADS, DEALS], ids=["leads", "deals"])
def test_every_row_of_a_generated_file_is_written_exactly_or_reported(org, tmp_path_factory, table):
    @PROFILE
    @given(case=import_file_case(table, tmp_path_factory))
    def imports(case) -> None:
        path, lines, skip_invalid = case
        try:
            check_import(org, table, path, lines, skip_invalid)
        finally:
            with org.begin() as conn:
                conn.execute(delete(table.model).where(getattr(table.model, table.key) != "l-1"))

    imports()
