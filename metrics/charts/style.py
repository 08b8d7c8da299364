"""The one look every chart shares: sizes, palette, fonts, titles, number formatting and the "no data" card.

Charts are drawn with matplotlib's object API only (one `Figure` per chart on an Agg canvas, never `pyplot`), so
rendering holds no global state and is safe from several threads of a server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

from babel.numbers import format_decimal, format_percent
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from metrics.result import Number, Unit

__all__ = [
    "ChartFormatters",
    "ChartContext",
    "locale_formatters",
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
    "LABEL_SIZE",
    "TICK_SIZE",
    "new_figure",
    "add_axes",
    "style_axes",
    "put_titles",
    "format_value",
    "value_axis_formatter",
    "text_width",
    "shorten",
    "no_data_figure",
    "to_png",
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

TITLE_SIZE = 19
SUBTITLE_SIZE = 13
LABEL_SIZE = 13
TICK_SIZE = 13

# Space above the plot for the title and subtitle, in inches.
_HEADER_IN = 1.05


@dataclass(frozen=True)
class ChartFormatters:
    """How numbers read on a chart: `number(value, decimals)` ("1,234.5"), `percent(fraction, decimals)` ("23.8%").

    The bot passes locale-aware ones (see `locale_formatters`); anything with these two callables will do.
    """

    number: Callable[[float, int], str]
    percent: Callable[[float, int], str]


def locale_formatters(locale: str = "en") -> ChartFormatters:
    """Formatters following the locale's conventions (Babel): plain English for "en", "1 234,5" and "23,8%" for "ru"."""

    def number(value: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
        return format_decimal(value, format=pattern, locale=locale)

    def percent(fraction: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + "%"
        return format_percent(fraction, format=pattern, locale=locale)

    return ChartFormatters(number=number, percent=percent)


@dataclass(frozen=True)
class ChartContext:
    """What every drawing function needs besides the result: words, number formats and the header lines."""

    formatters: ChartFormatters
    translate: Callable[[str], str]
    locale: str
    title: str
    subtitle: str


def format_value(fmt: ChartFormatters, value: Number | None, unit: Unit, na: str = "n/a") -> str:
    """A value as a label: percentages with one decimal, durations and ratios with one, counts and money whole."""
    if value is None:
        return na
    if unit == "percent":
        return fmt.percent(float(value), 1)
    if unit in ("count", "money"):
        return fmt.number(round(float(value)), 0)
    return fmt.number(float(value), 1)


def value_axis_formatter(fmt: ChartFormatters, unit: Unit) -> FuncFormatter:
    """Tick labels for a value axis: whole percentages, and decimals only where the tick needs them."""

    def tick(value: float, _pos: int | None) -> str:
        if unit == "percent":
            return fmt.percent(value, 0 if abs(value * 100 - round(value * 100)) < 1e-9 else 1)
        return fmt.number(value, 0 if abs(value - round(value)) < 1e-9 else 1)

    return FuncFormatter(tick)


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


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, at exactly its pixel size."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()
