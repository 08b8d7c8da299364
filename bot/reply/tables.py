"""A table as lines of monospaced text, the one layout every platform shows (in a code block where it has one)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from metrics.result import Table

__all__ = ["cell_text", "table_lines"]

# A formatted number in either locale: "1,234", "1 234,5 $", "23.8%", "-$5", "12.0 d", "3,5 д", "n/a".
_NUMBER = re.compile(r"[-+−]?\s?[$€£₽]?\s?\d[\d\s.,\u00a0\u202f]*\s?(%|[$€£₽]|d|д|pp|п\.п\.)?|—|n/a|н/д|")


def cell_text(value: Any) -> str:
    """A raw cell as text; reply tables arrive already formatted for the reader's locale and pass through."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value != value.to_integral_value() else str(value.to_integral_value())
    return str(value)


def _numeric(cells: list[str]) -> bool:
    return any(cells) and all(_NUMBER.fullmatch(cell.strip()) for cell in cells)


def table_lines(table: Table, *, rule: bool = False) -> list[str]:
    """Header and rows padded to line up: text to the left, numbers to the right (so digits line up);
    `rule` adds a line of dashes under the header."""
    header = tuple(str(column) for column in table.columns)
    width = len(header)
    rows = [tuple(cell_text(value) for value in row) for row in table.rows]
    widths = [max([len(header[i])] + [len(row[i]) for row in rows if i < len(row)]) for i in range(width)]
    right = [i > 0 and _numeric([row[i] for row in rows if i < len(row)]) for i in range(width)]

    def line(cells: tuple[str, ...]) -> str:
        padded = [
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(cells[:width])
        ]
        return "  ".join(padded).rstrip()

    lines = [line(header)]
    if rule:
        lines.append("  ".join("-" * w for w in widths))
    return lines + [line(row) for row in rows]
