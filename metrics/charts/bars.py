"""What several charts are built of: a result's series points, whether there is anything to plot, labelled
horizontal bars (an n/a row reads "n/a" with no bar) as a whole chart or inside one, and category labels along x
thinned so they never overlap."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from metrics.charts.context import ChartContext, format_value
from metrics.charts.style import (
    ACCENT,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    WIDE,
    add_axes,
    new_figure,
    put_titles,
    row_label,
    shorten,
    style_axes,
    text_width,
)
from metrics.result import MetricResult, Number, Unit

__all__ = ["series_points", "has_values", "hbars", "hbar_figure", "category_ticks"]

_BAR = 0.62


def series_points(result: MetricResult, key: str) -> tuple[tuple[str, Number | None], ...]:
    """The points of a series, or () when the result has no such series."""
    for series in result.series:
        if series.key == key:
            return series.points
    return ()


def has_values(values: Sequence[Number | None]) -> bool:
    """Whether anything is worth plotting: at least one value that is neither n/a nor zero."""
    return any(v is not None and float(v) != 0 for v in values)


def hbars(
    ax: Axes,
    ctx: ChartContext,
    labels: Sequence[str],
    values: Sequence[Number | None],
    unit: Unit,
    colors: Sequence[str] | str = ACCENT,
) -> None:
    """Horizontal bars, first label on top, each labelled with its value at its end; an n/a row has no bar at all,
    only its name and "n/a" (a bar of zero would read as a value of zero).

    Every bar carries its value, so there is no value axis; names are plain text rather than ticks, which are
    several times slower to build and draw.
    """
    numbers = [0.0 if v is None else float(v) for v in values]
    drawn = [i for i, v in enumerate(values) if v is not None]
    ax.barh(
        drawn,
        [numbers[i] for i in drawn],
        height=_BAR,
        color=colors if isinstance(colors, str) else [colors[i] for i in drawn],
    )
    ax.set_ylim(len(labels) - 0.5, -0.5)
    top = max([*numbers, 0.0])
    ax.set_xlim(min([*numbers, 0.0]) * 1.18, top * 1.18 if top > 0 else 1)
    style_axes(ax, grid=None)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines["bottom"].set_visible(False)
    na = ctx.word("chart.n/a", "n/a")
    for y, (label, raw, number) in enumerate(zip(labels, values, numbers, strict=True)):
        row_label(ax, shorten(label), y)
        ax.annotate(
            format_value(ctx.formatters, raw, unit, na),
            (max(number, 0.0), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=LABEL_SIZE,
            color=INK,
        )


def hbar_figure(
    ctx: ChartContext,
    labels: Sequence[str],
    values: Sequence[Number | None],
    unit: Unit,
    colors: Sequence[str] | str = ACCENT,
    xlabel: str | None = None,
) -> Figure:
    """A whole chart of labelled horizontal bars, the left margin sized to the longest name."""
    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    ax = add_axes(
        fig, left=0.45 + text_width([shorten(label) for label in labels]), bottom=0.75 if xlabel else 0.5
    )
    hbars(ax, ctx, labels, values, unit, colors)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE, color=INK_SOFT)
    return fig


def category_ticks(ax: Axes, labels: Sequence[str], *, width_in: float) -> None:
    """Category labels along x, thinned to every k-th so they never overlap."""
    needed = text_width(labels) + 0.25
    step = max(1, math.ceil(needed * len(labels) / max(width_in, 1.0)))
    shown = list(range(0, len(labels), step))
    ax.set_xticks(shown, [labels[i] for i in shown])
