"""Charts drawn from a result's own measures: MRR movements, email list growth, LTV against CAC, what a customer
costs, campaign ROI and the customer-success rates.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Annotation

from metrics.charts.bars import has_values, hbar_figure
from metrics.charts.context import ChartContext, format_value
from metrics.charts.style import (
    ACCENT,
    DOWN,
    GREY,
    GREY_LIGHT,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    TICK_SIZE,
    UP,
    WIDE,
    add_axes,
    mark_full,
    new_figure,
    put_titles,
    row_label,
    shorten,
    style_axes,
    text_width,
)
from metrics.result import Measure, MetricResult, Number, Unit

__all__ = ["draw_mrr_bridge", "draw_email", "draw_ltv", "draw_cac", "draw_roi", "draw_cs", "movements_figure"]


def _measure(result: MetricResult, key: str) -> Measure | None:
    return next((m for m in result.measures if m.key == key), None)


def _value(result: MetricResult, key: str) -> float | None:
    measure = _measure(result, key)
    return None if measure is None or measure.value is None else float(measure.value)


def _signed(ctx: ChartContext, value: float, unit: Unit) -> str:
    text = format_value(ctx.formatters, abs(value), unit)
    return ("+" if value > 0 else "−" if value < 0 else "") + text


def movements_figure(
    ctx: ChartContext,
    title: str,
    steps: Sequence[tuple[str, float]],
    unit: Unit,
    *,
    net_label: str,
    net: float | None = None,
) -> Figure:
    """What moved a level between two dates, as columns from zero: gains up in green, losses down in red, and the
    net change last in the accent colour (`net`, the level's own change, else the steps' sum), each with its signed
    value."""
    values = [v for _, v in steps]
    net = sum(values) if net is None else net
    labels = [name for name, _ in steps] + [net_label]
    values = [*values, net]
    colors = [UP if v >= 0 else DOWN for v in values[:-1]] + [ACCENT]
    fig = new_figure(WIDE)
    put_titles(fig, title, ctx.subtitle)
    texts = [_signed(ctx, v, unit) for v in values]
    ticks = (
        [ctx.formatters.money_tick(v) for v in values]
        if unit == "money" and ctx.formatters.money_tick
        else texts
    )
    ax = add_axes(fig, left=0.4 + text_width(ticks), bottom=0.9, right=0.4)
    xs = list(range(len(values)))
    ax.bar(xs, values, width=0.6, color=colors)
    ax.axhline(0, color=GREY, linewidth=1)
    style_axes(ax, grid="y", unit=unit, fmt=ctx.formatters)
    low, high = min([*values, 0.0]), max([*values, 0.0])
    span = (high - low) or 1.0
    ax.set_ylim(low - span * 0.14 if low < 0 else 0, high + span * 0.14 if high > 0 else span * 0.05)
    for x, value, text in zip(xs, values, texts, strict=True):
        ax.annotate(
            text,
            (x, value),
            xytext=(0, 5 if value >= 0 else -5),
            textcoords="offset points",
            ha="center",
            va="bottom" if value >= 0 else "top",
            fontsize=LABEL_SIZE,
            color=INK,
            fontweight="bold" if x == len(xs) - 1 else "normal",
        )
    # Names longer than a column wrap onto a second line instead of running into their neighbours.
    column_chars = max(6, int(ax.get_position().width * WIDE[0] / len(xs) * 0.85 / (TICK_SIZE * 0.7 / 72)))
    ax.set_xticks(xs, [textwrap.fill(label, column_chars) for label in labels])
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.spines["bottom"].set_visible(False)
    return fig


def draw_mrr_bridge(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """From MRR at the start to MRR at the end: new, expansion, contraction and churned MRR, and the net change."""
    start, end = _value(result, "mrr_start"), _value(result, "mrr_end")
    steps = []
    for key, sign in (("new_mrr", 1), ("expansion_mrr", 1), ("contraction_mrr", -1), ("churned_mrr", -1)):
        value = _value(result, key)
        if value is not None:
            measure = _measure(result, key)
            steps.append((ctx.label(key, measure.label if measure else key), sign * abs(value)))
    if start is None or end is None or not has_values([v for _, v in steps]):
        return None
    money = ctx.formatters.money_tick or (lambda v: format_value(ctx.formatters, v, "money"))
    title = f"{ctx.title} · {money(start)} → {money(end)}"
    return movements_figure(
        ctx, title, steps, "money", net_label=ctx.word("chart.net change", "net change"), net=end - start
    )


def draw_email(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The list from its size at the start to its size at the end: who subscribed, who left, the net change."""
    start, end = _value(result, "size_start"), _value(result, "size_end")
    subscribed, unsubscribed = _value(result, "subscribed"), _value(result, "unsubscribed")
    if start is None or end is None or not has_values([subscribed, unsubscribed]):
        return None
    steps = [
        (ctx.label("subscribed", "Subscribed"), subscribed or 0.0),
        (ctx.label("unsubscribed", "Unsubscribed"), -(unsubscribed or 0.0)),
    ]
    fmt = ctx.formatters
    title = f"{ctx.title} · {fmt.number(start, 0)} → {fmt.number(end, 0)}"
    return movements_figure(
        ctx, title, steps, "count", net_label=ctx.word("chart.net change", "net change"), net=end - start
    )


def draw_ltv(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """What a customer brings (historical and predictive CLTV) beside what one costs (CAC); LTV:CAC in the title."""
    keys = [("cltv_historical", ACCENT), ("cltv_predictive", ACCENT), ("cac", GREY)]
    shown = [(m, color) for key, color in keys if (m := _measure(result, key)) is not None]
    if not has_values([m.value for m, _ in shown]):
        return None
    ratio = _value(result, "ltv_cac")
    title = ctx.title
    if ratio is not None:
        title += f" · LTV:CAC {ctx.formatters.number(ratio, 1)}"
    labels = [ctx.label(m.key, m.label) for m, _ in shown]
    return hbar_figure(
        _titled(ctx, title), labels, [m.value for m, _ in shown], "money", [color for _, color in shown]
    )


def draw_cac(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The spend as one bar cut into one piece per new customer: each piece is what a customer cost (CAC)."""
    spend, customers, cac = _value(result, "spend"), _value(result, "new_customers"), _value(result, "cac")
    if not spend:
        return None
    fmt = ctx.formatters
    money = fmt.money or (lambda v: format_value(fmt, v, "money"))
    fig = new_figure(WIDE)
    title = ctx.title if cac is None else f"{ctx.title} · {money(cac)}"
    put_titles(fig, title, ctx.subtitle)
    ax = add_axes(fig, left=0.5, right=0.5, bottom=1.6, top=2.0)
    n = int(customers or 0)
    if 0 < n <= 40:
        piece = spend / n
        for i in range(n):
            ax.barh(0, piece, left=i * piece, height=0.6, color=ACCENT, edgecolor="white", linewidth=2)
    else:
        ax.barh(0, spend, height=0.6, color=ACCENT if n else GREY_LIGHT)
    ax.set_xlim(0, spend)
    ax.set_ylim(-0.6, 0.9)
    ax.set_axis_off()
    spend_label = ctx.label("spend", "Spend")
    ax.annotate(
        f"{spend_label}: {money(spend)}",
        (0, 0.3),
        xytext=(0, 6),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=LABEL_SIZE + 1,
        color=INK,
        fontweight="bold",
    )
    if n:
        text = ctx.word(
            "chart.{customers} new customers · {cac} each", "{customers} new customers · {cac} each"
        )
        words = text.format(
            customers=fmt.number(n, 0), cac=money(cac) if cac is not None else ctx.translate("n/a")
        )
    else:
        words = ctx.word("chart.no new customers: CAC is n/a", "no new customers: CAC is n/a")
    ax.annotate(
        words,
        (0, -0.3),
        xytext=(0, -6),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=LABEL_SIZE,
        color=INK_SOFT,
    )
    return fig


def draw_roi(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Spend against the revenue it brought, campaign by campaign (or all campaigns), ROI at each pair's end."""
    groups: list[tuple[str, Number | None, Number | None, Number | None]] = []
    if result.rows:
        for row in result.rows:
            values = {m.key: m.value for m in row.measures}
            groups.append((row.label, values.get("spend"), values.get("revenue"), values.get("roi")))
        groups.sort(key=lambda g: -float(g[2] or 0))
        groups = groups[:8]
    else:
        groups.append(
            (
                ctx.word("chart.all campaigns", "all campaigns"),
                _value(result, "spend"),
                _value(result, "revenue"),
                _value(result, "roi"),
            )
        )
    if not has_values([v for g in groups for v in g[1:3]]):
        return None
    fmt = ctx.formatters
    roi = _value(result, "roi")
    title = ctx.title if roi is None else f"{ctx.title} · {fmt.percent(roi, 1)}"
    fig = new_figure(WIDE)
    put_titles(fig, title, ctx.subtitle)
    # Each campaign's name and, under it, its ROI.
    labels = [
        f"{shorten(g[0])}\nROI "
        + (fmt.percent(float(g[3]), 1) if g[3] is not None else ctx.word("chart.n/a", "n/a"))
        for g in groups
    ]
    ax = add_axes(fig, left=0.45 + text_width([shorten(g[0]) for g in groups]), bottom=0.75, right=1.3)
    bar = 0.36
    top = max(float(v or 0) for g in groups for v in g[1:3])
    for y, (label, (_name, spend, revenue, _roi)) in enumerate(zip(labels, groups, strict=True)):
        row_label(ax, label, y)
        for offset, value, color in ((-bar / 2, spend, GREY), (bar / 2, revenue, ACCENT)):
            number = float(value or 0)
            ax.barh(y + offset, number, height=bar * 0.95, color=color)
            ax.annotate(
                format_value(fmt, value, "money", ctx.translate("n/a")),
                (number, y + offset),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                ha="left",
                fontsize=TICK_SIZE - 1,
                color=INK,
            )
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.set_xlim(0, top * 1.05 if top > 0 else 1)
    style_axes(ax, grid=None)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines["bottom"].set_visible(False)
    fig.legend(
        handles=[
            Patch(color=GREY, label=ctx.label("spend", "Spend")),
            Patch(color=ACCENT, label=ctx.label("revenue", "Revenue")),
        ],
        loc="lower left",
        bbox_to_anchor=(0.02, 0.01),
        ncols=2,
        frameon=False,
        fontsize=TICK_SIZE,
    )
    return fig


def draw_cs(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """What the portfolio kept: account retention and net revenue retention, against the 100 % line."""
    shown = [m for key in ("account_retention", "nrr") if (m := _measure(result, key))]
    if not has_values([m.value for m in shown]):
        return None
    labels = [ctx.label(m.key, m.label) for m in shown]
    fig = hbar_figure(ctx, labels, [m.value for m in shown], "percent")
    ax = fig.axes[0]
    # Behind the bars: the line shows where a bar falls short of 100 %, never crossing a number.
    values = list(ax.texts)
    mark_full(ax, ctx, across="x")
    # Rates near 100 % would put their numbers on the dashed line: they go inside the bars, in white.
    for text in values:
        # The value labels (at the bars' ends), not the names left of the axes (at 0).
        if isinstance(text, Annotation) and float(text.xy[0]) > 0.25:
            text.set_position((-8, 0))
            text.set_horizontalalignment("right")
            text.set_color("white")
            text.set_fontweight("bold")
    return fig


def _titled(ctx: ChartContext, title: str) -> ChartContext:
    from dataclasses import replace

    return replace(ctx, title=title)
