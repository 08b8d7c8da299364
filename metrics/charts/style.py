"""The one look every chart shares: sizes, palette, fonts, the figure and its axes, titles, the
100 % line, the "no data" card and the PNG.

Charts are drawn with matplotlib's object API only (one `Figure` per chart on an Agg canvas, never `pyplot`), so
rendering holds no global state and is safe from several threads of a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from metrics.charts.context import ChartContext, ChartFormatters, value_axis_formatter
from metrics.result import Unit

__all__ = [
    "PARTIAL_HATCH",
    "WIDE",
    "SQUARE",
    "DPI",
    "ACCENT",
    "ACCENT_LIGHT",
    "GREY",
    "GREY_LIGHT",
    "WEEKEND",
    "INK",
    "INK_SOFT",
    "UP",
    "DOWN",
    "LABEL_SIZE",
    "TICK_SIZE",
    "new_figure",
    "add_axes",
    "style_axes",
    "row_label",
    "mark_full",
    "put_titles",
    "text_width",
    "shorten",
    "no_data_figure",
    "to_png",
    "finish",
]

# 1000×600 px (800×800 for heat maps): a phone shows it full width and 12-pt text stays legible after scaling down.
DPI = 100
WIDE = (10.0, 6.0)
SQUARE = (8.0, 8.0)

ACCENT = "#2563eb"
ACCENT_LIGHT = "#93b4f5"
GREY = "#9ca3af"
GREY_LIGHT = "#d9dde3"
GRID = "#e8eaee"
WEEKEND = "#f3f4f6"
INK = "#1f2937"
INK_SOFT = "#6b7280"
UP = "#16a34a"
DOWN = "#dc2626"

# A bar or week still in progress at the time of asking: the accent colour, lighter and hatched.
PARTIAL_HATCH = "///"

TITLE_SIZE = 19
SUBTITLE_SIZE = 13
LABEL_SIZE = 13
TICK_SIZE = 13

# Space above the plot for the title and subtitle, in inches.
_HEADER_IN = 1.05


def text_width(labels: Sequence[str], size: float = TICK_SIZE) -> float:
    """Estimated width in inches of the widest label; DejaVu Sans averages about 0.6 em per character."""
    longest = max((len(label) for label in labels), default=0)
    return longest * size * 0.6 / 72


def shorten(label: str, limit: int = 28) -> str:
    """Long names (campaigns, sources) would squeeze the plot; keep their start."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def new_figure(size: tuple[float, float] = WIDE) -> Figure:
    """An empty white figure on its own Agg canvas."""
    fig = Figure(figsize=size, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def add_axes(
    fig: Figure, *, left: float = 0.8, right: float = 0.4, bottom: float = 0.7, top: float = _HEADER_IN
) -> Axes:
    """One plot area with fixed margins in inches (fixed margins are far cheaper than automatic layout)."""
    width, height = fig.get_size_inches()
    left = min(left, width * 0.45)
    rect = (left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height)
    return fig.add_axes(rect)


def style_axes(
    ax: Axes,
    *,
    grid: Literal["x", "y"] | None = "y",
    unit: Unit | None = None,
    fmt: ChartFormatters | None = None,
) -> None:
    """No top/right spines, a light grid along the value axis behind the data, large ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GREY)
    ax.tick_params(labelsize=TICK_SIZE, colors=INK, length=0, pad=6)
    ax.set_axisbelow(True)
    if grid is not None:
        ax.grid(axis=grid, color=GRID, linewidth=1)
        value_axis = ax.yaxis if grid == "y" else ax.xaxis
        value_axis.set_major_locator(MaxNLocator(nbins=5))
        if unit is not None and fmt is not None:
            value_axis.set_major_formatter(value_axis_formatter(fmt, unit))
        # The value axis is read from the grid; its spine would only add ink.
        ax.spines["left" if grid == "y" else "bottom"].set_visible(False)


def row_label(ax: Axes, text: str, y: float) -> None:
    """A row's name left of the axes, as plain text: tick objects cost several times more to build and draw."""
    ax.annotate(
        text,
        (0, y),
        xycoords=("axes fraction", "data"),
        xytext=(-8, 0),
        textcoords="offset points",
        ha="right",
        va="center",
        fontsize=TICK_SIZE,
        color=INK,
    )


def mark_full(ax: Axes, ctx: ChartContext, *, across: Literal["x", "y"]) -> None:
    """The dashed 100 % line behind the bars and its label: a vertical line labelled at its top (bars along x),
    or a horizontal one labelled right of the plot (bars along y)."""
    dashes = (0, (5, 3))
    if across == "x":
        ax.axvline(1.0, color=INK_SOFT, linewidth=1.5, linestyle=dashes, zorder=0.5)
        where, coords, offset, ha, va = (1.0, 1.0), ("data", "axes fraction"), (0, 2), "center", "bottom"
    else:
        ax.axhline(1.0, color=INK_SOFT, linewidth=1.5, linestyle=dashes)
        where, coords, offset, ha, va = (1.0, 1.0), ("axes fraction", "data"), (4, 0), "left", "center"
    ax.annotate(
        ctx.formatters.percent(1.0, 0),
        where,
        xycoords=coords,
        xytext=offset,
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=TICK_SIZE,
        color=INK_SOFT,
    )


def put_titles(fig: Figure, title: str, subtitle: str) -> None:
    """Title and subtitle (scope · period), left-aligned at the top."""
    height = fig.get_size_inches()[1]
    fig.text(
        0.25 / fig.get_size_inches()[0],
        1 - 0.22 / height,
        title,
        fontsize=TITLE_SIZE,
        fontweight="bold",
        color=INK,
        va="top",
        ha="left",
    )
    if subtitle:
        fig.text(
            0.25 / fig.get_size_inches()[0],
            1 - 0.6 / height,
            subtitle,
            fontsize=SUBTITLE_SIZE,
            color=INK_SOFT,
            va="top",
            ha="left",
        )


def no_data_figure(ctx: ChartContext, size: tuple[float, float] = WIDE) -> Figure:
    """The card shown instead of an empty plot."""
    fig = new_figure(size)
    put_titles(fig, ctx.title, ctx.subtitle)
    fig.text(
        0.5,
        0.45,
        ctx.translate("no data for this period"),
        fontsize=16,
        color=INK_SOFT,
        ha="center",
        va="center",
    )
    return fig


def finish(fig: Figure) -> Figure:
    """Texts are read as written: "$249,817 → $300,000" is money, not a formula between two dollar signs."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, at exactly its pixel size."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()
