"""The movers of a week as one chart: a horizontal bar per key metric that moved, its length the change against
the week before (green up, red down), each bar labelled with the two values and the change as the digest's text
says it ("60.0% → 33.3% (−26.7 pts)", "12 → 7 (−41.7%)").

A count's or amount's bar is its change in percent of the week before; a rate's bar is its change in percentage
points, as the sentence about it says, so one unit of the axis is a percent or a point (the axis reads plain
numbers, the caller's axis title says so). The caller passes every word in the reader's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from metrics.charts.context import ChartFormatters
from metrics.charts.style import (
    DOWN,
    GREY,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    TICK_SIZE,
    UP,
    WIDE,
    add_axes,
    finish,
    new_figure,
    put_titles,
    row_label,
    shorten,
    style_axes,
    text_width,
)

__all__ = ["ChangeBar", "draw_changes"]


@dataclass(frozen=True)
class ChangeBar:
    """One mover: its name, the change as a fraction (0.25 is +25 % of the week before, or +25 points for a rate;
    None for a count from 0, drawn as a full-width bar), and the label beside the bar."""

    label: str
    change: float | None
    text: str


def draw_changes(
    bars: Sequence[ChangeBar], formatters: ChartFormatters, *, title: str, subtitle: str, xlabel: str
) -> Figure | None:
    """The chart of the movers, largest change on top; None when nothing moved."""
    if not bars:
        return None
    known = [abs(b.change) for b in bars if b.change is not None]
    widest = max(known, default=1.0) or 1.0
    # A change from 0 has no percentage: it is drawn as wide as the widest one, in its direction.
    lengths = [b.change if b.change is not None else widest for b in bars]
    order = sorted(range(len(bars)), key=lambda i: abs(lengths[i]))
    fig = new_figure(WIDE)
    put_titles(fig, title, subtitle)
    right = 0.3 + text_width([b.text for b in bars], TICK_SIZE - 1)
    ax = add_axes(fig, left=0.45 + text_width([shorten(b.label) for b in bars]), right=right, bottom=0.8)
    style_axes(ax, grid="x")
    ys = list(range(len(order)))
    values = [lengths[i] for i in order]
    colors = [UP if v > 0 else DOWN for v in values]
    ax.barh(ys, values, color=colors, height=0.6)
    ax.axvline(0, color=GREY, linewidth=1)
    ax.set_yticks([])
    ax.set_ylim(-0.6, len(order) - 0.4)
    # The zero line is the axis: the plot spans from the largest fall to the largest rise, a little beyond.
    low, high = min(0.0, *values), max(0.0, *values)
    pad = (high - low) * 0.08 or 0.1
    ax.set_xlim(low - pad if low < 0 else 0.0, high + pad if high > 0 else 0.0)
    ax.spines["left"].set_visible(False)
    ax.xaxis.set_major_formatter(lambda x, _pos: formatters.number(x * 100, 0))
    for y, i in zip(ys, order, strict=True):
        row_label(ax, shorten(bars[i].label), y)
        ax.annotate(
            bars[i].text,
            (1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(8, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=TICK_SIZE - 1,
            color=INK,
        )
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE, color=INK_SOFT)
    return finish(fig)
