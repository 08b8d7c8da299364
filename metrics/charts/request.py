"""What a caller asks of the charts of one result: the reader's language (its locale and words), the money's
currency, the time of asking, and for a leaderboard the measure it ranks by — one small frozen value handed to
`build_chart`, `build_charts`, `render_chart` and `render_charts` alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metrics.charts.context import ChartFormatters, Words

__all__ = ["ChartRequest", "as_written", "chart_request"]


def as_written(text: str) -> str:
    """The chart's own words as they are (English): what `translate` does when no catalogue is given."""
    return text


@dataclass(frozen=True)
class ChartRequest:
    """How the charts are to read.

    `translate` gives the chart's own words (English text → the reader's); `words` any catalogue entry by key
    (`measure.mql`) with its English text; `formatters` default to the locale's number conventions and
    `currency`; `now`, the time of asking, marks what is still in progress ("to date"); `measure` asks for the
    leaderboard of that measure, rep by rep.
    """

    locale: str = "en"
    translate: Callable[[str], str] = as_written
    words: Words | None = None
    formatters: ChartFormatters | None = None
    currency: str = "USD"
    now: datetime | None = None
    measure: str | None = None


def chart_request(request: ChartRequest | None, fields: dict[str, Any]) -> ChartRequest:
    """The request given, or one made of its fields passed as keywords (`locale=…, now=…`) by a caller written
    before there was one; both at once is a mistake, and so is a keyword that is no field (TypeError)."""
    if request is not None and fields:
        raise TypeError(f"pass a ChartRequest or its fields, not both: {', '.join(fields)}")
    return request if request is not None else ChartRequest(**fields)
