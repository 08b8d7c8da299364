"""Mapped CRM records as an import source, so every synced row goes through `kpibot import`'s checks and upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from storage.importing.sources import Record, Source

__all__ = ["RowsSource"]


class RowsSource(Source):
    """Rows already in canonical columns (one dict each), numbered from 1 in the order the CRM returned them."""

    header = None  # every row names its own columns
    unit = "rec"

    def __init__(self, label: str, rows: Iterable[dict[str, Any]], *, size: int | None = None) -> None:
        self.path = Path(label)
        self.size = size  # type: ignore[assignment]
        self._rows = rows
        self._count = 0

    def position(self) -> int:
        return self._count

    def records(self) -> Iterator[Record]:
        for row in self._rows:
            self._count += 1
            yield Record(row.pop("_line", None) or self._count, row)  # an export row's own line in its file

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()
