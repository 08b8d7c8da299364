"""The one look every chart shares: sizes, palette, fonts, titles, number formatting and the "no data" card.

Charts are drawn with matplotlib's object API only (one `Figure` per chart on an Agg canvas, never `pyplot`), so
rendering holds no global state and is safe from several threads of a server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_interval
from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MaxNLocator

from metrics.calendar import day_period, month_period, quarter_period, week_period, year_period
from metrics.labels import category_keys, humanize
from metrics.result import Number, Unit

if TYPE_CHECKING:
    from metrics.calendar import Period

__all__ = [
    "ChartFormatters",
    "ChartContext",
    "Words",
    "locale_formatters",
    "english_words",
    "humanize",
    "period_name",
    "unit_label",
    "PARTIAL_HATCH",
    "bucket_period",
    "bucket_name",
    "bucket_is_partial",
    "bucket_is_ahead",
    "day_name",
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
    "mark_full",
    "put_titles",
    "format_value",
    "value_axis_formatter",
    "text_width",
    "shorten",
    "no_data_figure",
    "to_png",
    "finish",
    "overlapping_texts",
    "texts_outside",
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


@dataclass(frozen=True)
class ChartFormatters:
    """How numbers read on a chart: `number(value, decimals)` ("1,234.5"), `percent(fraction, decimals)` ("23.8%"),
    `money(value)` ("$1,235", "$4.50") and `money_tick(value)` for an axis ("$1.5M").

    The bot passes locale-aware ones (see `locale_formatters`); anything with these callables will do. Without
    `money`, amounts read as plain numbers.
    """

    number: Callable[[float, int], str]
    percent: Callable[[float, int], str]
    money: Callable[[float], str] | None = None
    money_tick: Callable[[float], str] | None = None


def locale_formatters(locale: str = "en", currency: str = "USD") -> ChartFormatters:
    """Formatters following the locale's conventions (Babel): plain English for "en", "1 234,5" and "23,8%" for "ru";
    money in `currency` the way the replies write it ("$249,817" / "249 817 $"), cents only below 100."""

    def number(value: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
        return format_decimal(value, format=pattern, locale=locale)

    babel = Locale.parse(locale)
    # The locale's own percent pattern ("23.8%", "23,8 %"), as the replies write it, with the decimals asked for.
    percent_pattern = babel.percent_formats[None].pattern.split(";")[0]

    def percent(fraction: float, decimals: int) -> str:
        pattern = percent_pattern.replace("0%", "0" + ("." + "0" * decimals if decimals > 0 else "") + "%", 1)
        pattern = pattern.replace("0\xa0%", "0" + ("." + "0" * decimals if decimals > 0 else "") + "\xa0%", 1)
        return format_percent(fraction, format=pattern, locale=locale)

    whole = babel.currency_formats["standard"].pattern.split(";")[0].replace(".00", "")

    def money(value: float) -> str:
        amount = Decimal(str(value))
        if abs(amount) >= 100 or amount == amount.to_integral_value():
            return format_currency(round(amount), currency, whole, locale=locale, currency_digits=False)
        return format_currency(amount, currency, locale=locale)

    def money_tick(value: float) -> str:
        if abs(value) < 10_000:
            return money(round(value) if abs(value) >= 10 else value)
        return format_compact_currency(value, currency, locale=locale, fraction_digits=1)

    return ChartFormatters(number=number, percent=percent, money=money, money_tick=money_tick)


Words = Callable[[str, str], str]
"""A catalogue lookup: `(key, English text)` → the text in the reader's language (the English one when missing)."""


def english_words(_key: str, english: str) -> str:
    return english


@dataclass(frozen=True)
class ChartContext:
    """What every drawing function needs besides the result: words, number formats and the header lines.

    `translate` gives the chart's own words (the `chart.<English text>` entries of the catalogue); `words` looks up
    any catalogue key (`measure.mql`, `title.plan`) with its English fallback; `today`, the day in progress while
    the period runs, tells a bar, week or cell still in progress (partial, "to date") from a whole one.
    """

    formatters: ChartFormatters
    translate: Callable[[str], str]
    locale: str
    title: str
    subtitle: str
    words: Words = field(default=english_words)
    today: date | None = None  # the local day in progress while the result's period runs, else None
    measure: str | None = None  # the measure a leaderboard ranks by

    def word(self, key: str, english: str) -> str:
        """A catalogue entry; `chart.*` keys go through `translate` as well, so either way of passing words works."""
        text = self.words(key, english)
        if text == english and key.startswith("chart."):
            return self.translate(english)
        return text

    def known(self, key: str) -> str | None:
        """The entry `key` in the reader's language, or None when the catalogue lacks it."""
        missing = "\x00"
        text = self.words(key, missing)
        return None if text == missing else text

    def label(self, key: str, english: str) -> str:
        """A measure's label the way the replies write it: `measure.<key>`; a plan line's part ("revenue.attainment")
        as "Revenue: attainment"; a step (`mql_to_sal`) as "MQL → SAL"."""
        own = self.known(f"measure.{key}")
        if own is not None:
            return own
        if "." in key:
            line, part = key.split(".", 1)
            head = self.known(f"measure.{line}")
            tail = self.known(f"measure.{part}")
            if head is not None and part == "actual":
                return head
            if head is not None and tail is not None:
                return f"{head}: {tail.lower()}"
        if "_to_" in key:
            before, after = key.split("_to_", 1)
            first, second = self.known(f"measure.{before}"), self.known(f"measure.{after}")
            if first is not None and second is not None:
                return f"{first} → {second}"
        return self.word(f"chart.{english}", english)

    def category(self, key: str, kind: str | None = None) -> str:
        """A category on an axis (a funnel stage, a lead source of `kind` "source") in words: its measure label
        ("MQL", "Leads"), its chart entry, else the key made readable (`organic_search` → "Organic search")."""
        for candidate in category_keys(key, kind):
            text = self.known(candidate)
            if text is not None:
                # An axis of names starts each with a capital, as the stage names from the CRM do.
                return text[:1].upper() + text[1:]
        translated = self.word(f"chart.{key}", key)
        return translated if translated != key else humanize(key)

    def is_partial(self, period: Period) -> bool:
        """Whether `period` (a bar's month, week or day) is still in progress: it holds `today`."""
        return self.today is not None and period.start_date <= self.today < period.end_date


def period_name(period: Period, ctx: ChartContext) -> str:
    """What people call the period, as the replies do: "December 2026", "Q4 2026", "2026", "Dec 2, 2026", days."""
    first = period.start_date
    if period.grain == "day":
        return format_date(first, "medium", locale=ctx.locale)
    if period.grain == "month":
        return format_date(first, "LLLL yyyy", locale=ctx.locale)
    if period.grain == "quarter":
        return ctx.words("period.quarter", "Q{quarter} {year}").format(
            quarter=(first.month - 1) // 3 + 1, year=first.year
        )
    if period.grain == "year":
        return str(first.year)
    if period.grain == "week":
        return ctx.words("period.week", "week of {start}").format(
            start=format_date(first, "medium", locale=ctx.locale)
        )
    if first == period.last_date:
        return format_date(first, "medium", locale=ctx.locale)
    return format_interval(first, period.last_date, "yMMMd", locale=ctx.locale)


def day_name(day: date, ctx: ChartContext) -> str:
    """A day the short way: "2 Dec" / "2 дек."."""
    return format_date(day, "d MMM", locale=ctx.locale)


def unit_label(unit: Unit, ctx: ChartContext) -> str | None:
    """The words a value axis needs for its unit, when tick labels do not carry it: "days" / "дней"."""
    if unit == "days":
        return ctx.word("chart.days", "days")
    return None


def format_value(fmt: ChartFormatters, value: Number | None, unit: Unit, na: str = "n/a") -> str:
    """A value as a label: percentages with one decimal, durations and ratios with one, counts and money whole."""
    if value is None:
        return na
    if unit == "percent":
        return fmt.percent(float(value), 1)
    if unit == "money" and fmt.money is not None:
        return fmt.money(float(value))
    if unit in ("count", "money"):
        return fmt.number(round(float(value)), 0)
    return fmt.number(float(value), 1)


def value_axis_formatter(fmt: ChartFormatters, unit: Unit) -> FuncFormatter:
    """Tick labels for a value axis: whole percentages, and decimals only where the tick needs them."""

    def tick(value: float, _pos: int | None) -> str:
        if unit == "percent":
            return fmt.percent(value, 0 if abs(value * 100 - round(value * 100)) < 1e-9 else 1)
        if unit == "money" and fmt.money_tick is not None:
            return fmt.money_tick(value)
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


def _shown_texts(fig: Figure) -> list[Text]:
    """Every visible, non-empty text of a drawn figure: its own, each axes' annotations, the tick labels drawn,
    axis labels, titles and legend entries."""
    texts: list[Text] = list(fig.texts)
    for fig_legend in fig.legends:
        texts += fig_legend.get_texts()
    for ax in fig.axes:
        texts += list(ax.texts)
        # Only the ticks drawn: a locator also returns ticks beyond the view, which are never shown.
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # type: ignore[union-attr]
                texts += [tick.label1, tick.label2]
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title]  # type: ignore[attr-defined]
        legend = ax.get_legend()
        if legend is not None:
            texts += legend.get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig: Figure, *, pad_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap when drawn (the Agg renderer's window extents), `pad_px` of touching
    allowed: what a reader would see as one label running into another."""
    fig.canvas.draw()  # tick labels exist and are placed only once the figure is drawn
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [(t.get_text(), t.get_window_extent(renderer).padded(-pad_px)) for t in _shown_texts(fig)]
    found = []
    for i, (text_a, a) in enumerate(boxes):
        for text_b, b in boxes[i + 1 :]:
            if a.overlaps(b):
                found.append((text_a, text_b))
    return found


def texts_outside(fig: Figure) -> list[str]:
    """Texts that reach beyond the picture's edges, so the reader sees them cut off."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = fig.canvas.get_width_height()
    found = []
    for text in _shown_texts(fig):
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            found.append(text.get_text())
    return found


_BUCKET = re.compile(r"^(\d{4})(?:-(?:(\d{2})(?:-(\d{2}))?|W(\d{2})|Q([1-4])))?$")


def bucket_period(key: str, tz: ZoneInfo) -> Period | None:
    """The local period a bucket code names: 2026-10-05 (a day), 2026-W44, 2026-10, 2026-Q4, 2026; None else."""
    found = _BUCKET.match(key.strip())
    if found is None:
        return None
    year, month, day, week, quarter = found.groups()
    try:
        if day:
            return day_period(date(int(year), int(month), int(day)), tz)
        if month:
            return month_period(date(int(year), int(month), 1), tz)
        if week:
            return week_period(date.fromisocalendar(int(year), int(week), 1), tz)
        if quarter:
            return quarter_period(date(int(year), 3 * int(quarter) - 2, 1), tz)
        return year_period(int(year), tz)
    except ValueError:
        return None


def bucket_name(key: str, ctx: ChartContext, tz: ZoneInfo, within: Period | None = None) -> str:
    """A bucket code in words: 2026-10 → "Oct 2026", 2026-W44 → "26 Oct", 2026-Q4 → "Q4 2026"; else as it is.
    A week is named by its first day `within` the result's period (Dec 1, not Mon Nov 30, for December's first)."""
    period = bucket_period(key, tz)
    if period is None:
        return key
    if period.grain == "month":
        return format_date(period.start_date, "LLL yyyy", locale=ctx.locale)
    if period.grain in ("week", "day"):
        first = max(period.start_date, within.start_date) if within is not None else period.start_date
        return day_name(first, ctx)
    return period_name(period, ctx)


def bucket_is_ahead(key: str, ctx: ChartContext, tz: ZoneInfo) -> bool:
    """Whether the bucket `key` starts after the day in progress: nothing has happened in it yet."""
    period = bucket_period(key, tz)
    return period is not None and ctx.today is not None and period.start_date > ctx.today


def bucket_is_partial(key: str, ctx: ChartContext, tz: ZoneInfo) -> bool:
    """Whether the bucket `key` is still in progress at the time of asking."""
    period = bucket_period(key, tz)
    return period is not None and ctx.is_partial(period)
