"""The retention chart: cohorts (first-order month) × months since, the share still ordering in each cell, with its
colour legend; cells of a month still in progress hatched.

`draw_cohorts` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import re

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from metrics.charts.buckets import bucket_name, bucket_period
from metrics.charts.context import ChartContext, value_axis_formatter
from metrics.charts.style import (
    INK,
    INK_SOFT,
    LABEL_SIZE,
    PARTIAL_HATCH,
    SQUARE,
    TICK_SIZE,
    add_axes,
    new_figure,
    put_titles,
    row_label,
    text_width,
)
from metrics.result import MetricResult

__all__ = ["draw_cohorts"]

_MONTH_COLUMN = re.compile(r"m(\d+)$")


def _em_width(text: str) -> float:
    """Width of a number label in ems of DejaVu Sans: digits are 0.64 em, "%" 0.95, separators about 0.32."""
    return sum(0.64 if ch.isdigit() else 0.95 if ch == "%" else 0.32 for ch in text)


def draw_cohorts(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Cohorts (first-order month) × months since, the share still ordering in each cell; n/a cells blank."""
    table = next((t for t in result.tables if t.key == "cohorts"), None)
    if table is None or not table.rows:
        return None
    columns = list(table.columns)
    months = [(i, int(m.group(1))) for i, c in enumerate(columns) if (m := _MONTH_COLUMN.match(c))]
    cohort_at = columns.index("cohort") if "cohort" in columns else 0
    size_at = columns.index("customers") if "customers" in columns else None
    # Cohorts with nothing observable (months still ahead, months without new customers) are left out.
    shown = [row for row in table.rows if any(row[i] is not None for i, _ in months)]
    if not months or not shown:
        return None
    # Month 0 is 100 % for every cohort (a first order is an order): a column that says nothing, and a dozen
    # labels fewer to draw. The youngest cohort keeps its row (name and size) with nothing observable yet.
    later = [(i, k) for i, k in months if k > 0]
    if later and all(row[i] in (None, 1.0) for i, k in months if k == 0 for row in shown):
        months = later
    grid = np.array([[np.nan if row[i] is None else float(row[i]) for i, _ in months] for row in shown])
    tz = result.period.tz
    row_labels = [
        f"{bucket_name(str(row[cohort_at]), ctx, tz)} · {ctx.formatters.number(row[size_at], 0)}"
        if size_at is not None
        else bucket_name(str(row[cohort_at]), ctx, tz)
        for row in shown
    ]
    fig = new_figure(SQUARE)
    put_titles(fig, ctx.title, ctx.subtitle)
    ax = add_axes(fig, left=0.4 + text_width(row_labels), bottom=0.85, right=1.25, top=1.05)
    cmap = colormaps["Blues"]
    # A mesh of cells draws much faster than an image resampled to the axes; masked (n/a) cells stay blank.
    rows, cols = grid.shape
    mesh = ax.pcolormesh(
        np.arange(cols + 1) - 0.5,
        np.arange(rows + 1) - 0.5,
        np.ma.masked_invalid(grid),
        cmap=cmap,
        vmin=0,
        vmax=1,
        edgecolors="white",
        linewidth=1.5,
    )
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    for side in ax.spines.values():
        side.set_visible(False)
    # The colour legend: what share a shade means, right of the grid.
    box = ax.get_position()
    width_in, height_in = fig.get_size_inches()
    cax = fig.add_axes((box.x1 + 0.2 / width_in, box.y0, 0.22 / width_in, box.height))
    bar = fig.colorbar(mesh, cax=cax, ticks=[0, 0.25, 0.5, 0.75, 1.0])
    bar.outline.set_visible(False)
    cax.yaxis.set_major_formatter(value_axis_formatter(ctx.formatters, "percent"))
    cax.tick_params(labelsize=TICK_SIZE - 2, colors=INK, length=0, pad=4)
    bar.set_label(
        ctx.word("chart.share still ordering", "share still ordering"), fontsize=TICK_SIZE - 2, color=INK_SOFT
    )
    # Row and column names as plain text: tick objects cost several times more to build and draw.
    ax.set_xticks([])
    ax.set_yticks([])
    for r, label in enumerate(row_labels):
        row_label(ax, label, r)
    for c, (_, k) in enumerate(months):
        ax.annotate(
            str(k),
            (c, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -6),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=TICK_SIZE,
            color=INK,
        )
    ax.set_xlabel(
        ctx.word("chart.months since first order", "months since first order"),
        fontsize=LABEL_SIZE,
        color=INK_SOFT,
        labelpad=26,
    )
    # Fit the cell text to the cell: one decimal as everywhere while "100.0%" fits at 11 pt or more, else whole
    # percents, which stay legible on a phone where a tiny "37.5%" would not.
    box = ax.get_position()
    cell_w_pt = box.width * fig.get_size_inches()[0] * 72 / len(months) - 6
    cell_h_pt = box.height * fig.get_size_inches()[1] * 72 / len(row_labels)
    decimals = 1
    size = min(LABEL_SIZE, cell_w_pt / _em_width(ctx.formatters.percent(1.0, 1)), cell_h_pt * 0.5)
    if size < 11:
        decimals = 0
        size = min(LABEL_SIZE, cell_w_pt / _em_width(ctx.formatters.percent(1.0, 0)), cell_h_pt * 0.5)
    for r, c in np.argwhere(~np.isnan(grid)):
        value = grid[r, c]
        ax.text(
            c,
            r,
            ctx.formatters.percent(value, decimals),
            ha="center",
            va="center",
            fontsize=size,
            color="white" if value > 0.55 else INK,
        )
    # A cell whose calendar month is not over yet (cohort month + months since = now's month) is hatched.
    partial_cells = []
    for r, row in enumerate(shown):
        cohort = bucket_period(str(row[cohort_at]), tz)
        if cohort is None or cohort.grain != "month":
            continue
        for c, (_, k) in enumerate(months):
            month = cohort.start_date.month - 1 + k
            when = bucket_period(f"{cohort.start_date.year + month // 12}-{month % 12 + 1:02d}", tz)
            if when is not None and ctx.is_partial(when) and not np.isnan(grid[r, c]):
                partial_cells.append((r, c))
    for r, c in partial_cells:
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5), 1, 1, fill=False, hatch=PARTIAL_HATCH, edgecolor="white", linewidth=0
            )
        )
    if partial_cells:
        ax.set_xlabel(
            ax.get_xlabel() + " · " + ctx.word("chart.hatched: month to date", "hatched: month to date"),
            fontsize=LABEL_SIZE,
            color=INK_SOFT,
            labelpad=26,
        )
    return fig
