"""A table as lines of monospaced text, the one layout every platform shows (in a code block where it has one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from metrics.result import Table

__all__ = ["cell_text", "table_lines"]


def cell_text(value: Any) -> str:
    """A raw cell as text; reply tables arrive already formatted for the reader's locale and pass through."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value != value.to_integral_value() else str(value.to_integral_value())
    return str(value)


def table_lines(table: Table, *, rule: bool = False) -> list[str]:
    """Header and rows padded to line up: the first column (names) to the left, the numbers to the right;
    `rule` adds a line of dashes under the header."""
    header = tuple(str(column) for column in table.columns)
    width = len(header)
    rows = [tuple(cell_text(value) for value in row) for row in table.rows]
    widths = [max([len(header[i])] + [len(row[i]) for row in rows if i < len(row)]) for i in range(width)]

    def line(cells: tuple[str, ...]) -> str:
        padded = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells[:width])
        ]
        return "  ".join(padded).rstrip()

    lines = [line(header)]
    if rule:
        lines.append("  ".join("-" * w for w in widths))
    return lines + [line(row) for row in rows]
