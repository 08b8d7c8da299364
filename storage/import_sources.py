"""Streaming readers of import files: CSV, JSON (an array, or one object per line) and Excel .xlsx.

Each reader yields one `Record` at a time with its line number, so a file of any size is read in constant memory.
A record keeps the cells as the file gave them (text from CSV, numbers and dates from JSON or Excel); cells under a
column without a header go under the key "" so that a stray value is reported rather than dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import ijson
from openpyxl import load_workbook

from metrics.errors import UserError

__all__ = ["Record", "Source", "SourceError", "open_source", "FORMATS"]

FORMATS = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".xlsx")


class Record(NamedTuple):
    """One row of the file: where it starts (line; for a JSON array, the object's position) and its cells."""

    line: int
    values: dict[str, Any]
    problem: str | None = None  # the row could not even be read as a row


class SourceError(Exception):
    """The file cannot be read past `line`: broken JSON, bytes that are not UTF-8, a damaged workbook."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class Source:
    """An open import file. `header` is None where every record names its own columns (JSON)."""

    header: tuple[str, ...] | None = None
    header_line = 1
    unit = "B"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.size = path.stat().st_size

    def position(self) -> int:
        """How far reading has got, in `unit`s of `size`."""
        return self.size if self._raw.closed else self._raw.tell()

    def records(self) -> Iterator[Record]:
        raise NotImplementedError

    def close(self) -> None:
        self._raw.close()

    def _text(self) -> io.TextIOWrapper:
        # Bytes that are not UTF-8 are kept as escapes, so the row that holds them is named by its line.
        return io.TextIOWrapper(
            io.BufferedReader(self._raw), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )


NOT_UTF8 = "not UTF-8 text; save the file as UTF-8 (Excel: CSV UTF-8)"


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _named(header: tuple[str, ...], cells: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=False):
        if name:
            values[name] = cell
        elif cell not in (None, "") and not values.get(""):
            values[""] = cell
    return values


class CsvSource(Source):
    """Comma-, semicolon- or tab-separated text with a header row, UTF-8 (with or without a byte-order mark)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._stream = self._text()
        first = self._stream.readline()
        if not _is_utf8(first):
            raise SourceError(1, NOT_UTF8)
        self._delimiter = max(",;\t", key=first.count)
        self.header = tuple(name.strip() for name in next(csv.reader([first], delimiter=self._delimiter), []))

    def records(self) -> Iterator[Record]:
        reader = csv.reader(self._stream, delimiter=self._delimiter)
        header, width = self.header or (), len(self.header or ())
        all_named = all(header)
        ended = 0  # physical lines consumed after the header
        try:
            for cells in reader:
                line, ended = ended + 2, reader.line_num
                if not any(cells):
                    continue
                if not _is_utf8("".join(cells)):
                    yield Record(line, _named(header, cells), NOT_UTF8)
                elif len(cells) > width and any(cells[width:]):
                    yield Record(
                        line, _named(header, cells), f"{len(cells)} fields but the header has {width}"
                    )
                elif all_named:
                    yield Record(line, dict(zip(header, cells, strict=False)))
                else:
                    yield Record(line, _named(header, cells))
        except csv.Error as exc:
            raise SourceError(reader.line_num + 1, f"broken CSV: {exc}") from None


class JsonLinesSource(Source):
    """One JSON object per line."""

    def records(self) -> Iterator[Record]:
        self._stream = self._text()  # held: the wrapper closes the file when it is collected
        for line, text in enumerate(self._stream, start=1):
            if not text.strip():
                continue
            if not _is_utf8(text):
                yield Record(line, {}, NOT_UTF8)
                continue
            try:
                item = json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                yield Record(line, {}, f"not valid JSON: {exc}")
                continue
            if isinstance(item, dict):
                yield Record(line, item)
            else:
                yield Record(line, {}, "expected a JSON object {...}")


class JsonArraySource(Source):
    """A JSON array of objects, read item by item; `line` is the object's position in the array (1 = first)."""

    def records(self) -> Iterator[Record]:
        position = 0
        try:
            for position, item in enumerate(ijson.items(self._raw, "item", use_float=False), start=1):
                if isinstance(item, dict):
                    yield Record(position, item)
                else:
                    yield Record(position, {}, "expected a JSON object {...}")
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise SourceError(position + 1, f"not valid JSON after item {position}: {exc}") from None


class XlsxSource(Source):
    """The sheet named like the table (else the first sheet) of an Excel workbook; `line` is the sheet's row."""

    unit = "rows"

    def __init__(self, path: Path, table: str) -> None:
        super().__init__(path)
        try:
            self._book = load_workbook(self._raw, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zip, XML and key errors alike for a damaged file
            self._raw.close()
            raise SourceError(1, f"not a readable .xlsx workbook ({exc.__class__.__name__})") from None
        sheet = self._book[table] if table in self._book.sheetnames else self._book.worksheets[0]
        self._rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        self.size = sheet.max_row or 0
        self._at = 0
        for at, cells in self._rows:
            self._at = at
            if any(cell not in (None, "") for cell in cells):
                self.header_line = at
                self.header = tuple("" if c is None else str(c).strip() for c in cells)
                break
        else:
            self.header = ()

    def position(self) -> int:
        return self._at

    def records(self) -> Iterator[Record]:
        header = self.header or ()
        width = len(header)
        for at, cells in self._rows:
            self._at = at
            if all(cell in (None, "") for cell in cells):
                continue
            if any(cell not in (None, "") for cell in cells[width:]):
                yield Record(at, _named(header, cells), "a value to the right of the last header column")
            else:
                yield Record(at, _named(header, cells))

    def close(self) -> None:
        self._book.close()
        super().close()


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


def open_source(path: Path, table: str) -> Source:
    """Open `path` with the reader its extension calls for (a .json file may hold an array or JSON lines)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UserError("import.no_file", "{path}: no such file", path=str(path))
    if suffix in (".csv", ".tsv", ".txt"):
        return CsvSource(path)
    if suffix in (".jsonl", ".ndjson"):
        return JsonLinesSource(path)
    if suffix == ".json":
        return JsonArraySource(path) if _first_byte(path) == b"[" else JsonLinesSource(path)
    if suffix == ".xlsx":
        return XlsxSource(path, table)
    raise UserError(
        "import.format",
        "{path}: unsupported file type; use one of {formats}",
        path=str(path),
        formats=", ".join(FORMATS),
    )
