"""Streaming readers of import files: CSV, JSON (an array, or one object per line) and Excel .xlsx.

Each reader yields one `Record` at a time with its line number, so a file of any size is read in constant memory.
A record keeps the cells as the file gave them (text from CSV, numbers and dates from JSON or Excel); cells under a
column without a header go under the key "" so that a stray value is reported rather than dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import ijson
from openpyxl import load_workbook

from storage.errors import UserError

__all__ = ["Record", "Source", "SourceError", "open_source", "FORMATS"]

FORMATS = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".xlsx")


class Record(NamedTuple):
    """One row of the file: where it starts (line; for a JSON array, the object's position) and its cells."""

    line: int
    values: dict[str, Any]
    problem: str | None = None  # the row could not even be read as a row
    problem_column: str = ""  # the column the problem is about, where there is one (a JSON key given twice)


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

    def __init__(self, path: Path, encoding: str = "utf-8-sig") -> None:
        self.path = path
        self._encoding = encoding
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
            io.BufferedReader(self._raw), encoding=self._encoding, errors="surrogateescape", newline=""
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


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _open_quote(lines: Iterable[tuple[int, str]], delimiter: str) -> int | None:
    """The number of the line where a quoted cell opens and never closes, among one row's numbered lines.

    By the csv module's own rules: a quote opens a cell only at the cell's start, and inside one `""` is a quote.
    """
    inside = quote_seen = False
    at_start, opened = True, None
    for number, line in lines:
        for char in line:
            if inside:
                if char == '"':
                    inside, quote_seen = False, True
                continue
            if quote_seen and char == '"':  # "" inside a quoted cell: still inside
                inside, quote_seen = True, False
                continue
            quote_seen = False
            if at_start and char == '"':
                inside, opened = True, number
            at_start = char in (delimiter, "\r", "\n")
    return opened if inside else None


_EXPLAINED = {
    "expected after": 'text after the closing quote of a cell (a quote inside a quoted cell is written twice: "")',
    "new-line character seen in unquoted field": "a line break inside a cell that is not quoted",
}


class CsvSource(Source):
    """Comma-, semicolon- or tab-separated text with a header row, UTF-8 (with or without a byte-order mark).

    Read strictly: a quote that never closes, or text after a closing quote, is a bad row on its line rather than
    a cell that quietly takes in the rows after it (the csv module's lenient default).
    """

    def __init__(
        self,
        path: Path,
        columns: tuple[str, ...] | None = None,
        delimiter: str = ",",
        encoding: str = "utf-8-sig",
    ) -> None:
        """`columns`: a file without a header row, its columns named elsewhere (a manifest beside it); `encoding`:
        another than UTF-8, where the file's maker is known to write one (Bitrix24's Windows-1251)."""
        super().__init__(path, encoding)
        self._stream = self._text()
        self._first = 1 if columns is not None else 2  # the line of the first row
        self._width = "the header has" if columns is None else "its columns are"
        if columns is not None:
            self._delimiter, self.header, self.header_line = delimiter, columns, 0
            return
        first = self._stream.readline()
        if not _is_utf8(first):
            raise SourceError(1, NOT_UTF8)
        self._delimiter = max(",;\t", key=first.count)
        self.header = tuple(name.strip() for name in next(csv.reader([first], delimiter=self._delimiter), []))

    def records(self) -> Iterator[Record]:
        reader = csv.reader(self._stream, delimiter=self._delimiter, strict=True)
        header, width = self.header or (), len(self.header or ())
        # Fewer fields than the header is as wrong as more: the row lost cells, and an update would keep the old
        # values of the columns it no longer names. Only unnamed columns at the header's end may be missing.
        needed = max((i + 1 for i, name in enumerate(header) if name), default=0)
        all_named = all(header)
        ended = 0  # physical lines consumed after the header
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line, ended = ended + self._first, reader.line_num
                yield Record(line, {}, self._broken(exc, line, ended + self._first - 1))
                continue
            line, ended = ended + self._first, reader.line_num
            if not any(cells):
                continue
            if not _is_utf8("".join(cells)):
                yield Record(line, _named(header, cells), NOT_UTF8)
            elif len(cells) > width and any(cells[width:]):
                yield Record(line, _named(header, cells), f"{_fields(len(cells))} but {self._width} {width}")
            elif len(cells) < needed:
                yield Record(line, _named(header, cells), f"{_fields(len(cells))} but {self._width} {needed}")
            elif all_named:
                yield Record(line, dict(zip(header, cells, strict=False)))
            else:
                yield Record(line, _named(header, cells))

    def _broken(self, exc: csv.Error, line: int, last: int) -> str:
        """Why the row on lines `line` to `last` cannot be read; a cell past the size limit ends the file."""
        opened = self._open_quote(line, last)
        message = str(exc)
        if "field larger than field limit" in message:
            # The reader cannot tell where the next row starts: whatever follows would be guesswork.
            limit = csv.field_size_limit()
            if opened is not None:
                raise SourceError(
                    opened, f"a quote opened on line {opened} is not closed within {limit:,} characters"
                )
            raise SourceError(line, f"a cell longer than {limit:,} characters")
        if opened is not None and "unexpected end of data" in message:
            return f"a quote opened on line {opened} is never closed (it would take in lines {opened}-{last} as one cell)"
        for clue, reason in _EXPLAINED.items():
            if clue in message:
                return reason
        return f"broken CSV: {message}"

    def _open_quote(self, line: int, last: int) -> int | None:
        """Read the broken row's lines again (only then: keeping every row's lines would slow every import). They
        are at most the csv module's field size limit long, or the reader would have stopped sooner."""
        with open(self.path, encoding=self._encoding, errors="surrogateescape", newline="") as again:
            return _open_quote(islice(enumerate(again, start=1), line - 1, last), self._delimiter)


class _KeyTwice(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: Python's json would silently keep the last of two."""
    item = dict(pairs)
    if len(item) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _KeyTwice(key)
            seen.add(key)
    return item


def _twice(key: str) -> str:
    return f'the key "{key}" is given twice'


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
                item = json.loads(text, parse_float=Decimal, object_pairs_hook=_object_once)
            except _KeyTwice as exc:
                yield Record(line, {}, _twice(exc.key), exc.key)
                continue
            except ValueError as exc:
                yield Record(line, {}, f"not valid JSON: {exc}")
                continue
            if isinstance(item, dict):
                yield Record(line, item)
            else:
                yield Record(line, {}, "expected a JSON object {...}")


class _ObjectOnce(dict):
    """An object as ijson builds it, noting the first key given twice (nested objects are bad cells anyway).

    Kept on the object itself: ijson builds objects ahead of the one it hands over.
    """

    twice = ""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self and not self.twice:
            self.twice = key
        super().__setitem__(key, value)


class JsonArraySource(Source):
    """A JSON array of objects, read item by item; `line` is the object's position in the array (1 = first)."""

    def records(self) -> Iterator[Record]:
        position = 0
        try:
            items = ijson.items(self._raw, "item", use_float=False, map_type=_ObjectOnce)
            for position, item in enumerate(items, start=1):
                if not isinstance(item, _ObjectOnce):
                    yield Record(position, {}, "expected a JSON object {...}")
                elif item.twice:
                    yield Record(position, {}, _twice(item.twice), item.twice)
                else:
                    yield Record(position, item)
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
        for at, cells in self._read_rows():
            if any(cell not in (None, "") for cell in cells):
                self.header_line = at
                self.header = tuple("" if c is None else str(c).strip() for c in cells)
                break
        else:
            self.header = ()

    def _read_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The sheet's rows; a sheet whose XML breaks off or is damaged ends the file at the row reached."""
        while True:
            try:
                at, cells = next(self._rows)
            except StopIteration:
                return
            except Exception as exc:  # the XML parser's, zip's and openpyxl's own errors alike
                raise SourceError(
                    self._at + 1,
                    f"the workbook's sheet breaks off after row {self._at} ({exc.__class__.__name__}); "
                    "save it again from Excel",
                ) from None
            self._at = at
            yield at, cells

    def position(self) -> int:
        return self._at

    def records(self) -> Iterator[Record]:
        header = self.header or ()
        width = len(header)
        for at, cells in self._read_rows():
            if all(cell in (None, "") for cell in cells):
                continue
            if any(cell not in (None, "") for cell in cells[width:]):
                yield Record(at, _named(header, cells), "a value to the right of the last header column")
            elif len(cells) < width:
                # A sheet stores no empty cells at a row's end: they are empty, not missing.
                yield Record(at, _named(header, (*cells, *(None,) * (width - len(cells)))))
            else:
                yield Record(at, _named(header, cells))

    def close(self) -> None:
        self._book.close()
        super().close()


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


def open_source(path: Path, table: str, encoding: str = "utf-8-sig") -> Source:
    """Open `path` with the reader its extension calls for (a .json file may hold an array or JSON lines);
    `encoding`: a CSV's, where its maker is known to write another than UTF-8 (JSON is UTF-8 by its standard)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UserError("import.no_file", "{path}: no such file", path=str(path))
    if suffix in (".csv", ".tsv", ".txt"):
        return CsvSource(path, encoding=encoding)
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
