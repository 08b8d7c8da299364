"""The chart of a week's movers: a bar per movement, largest change on top, green up and red down, each labelled
with its two values and its change, a rate's in points as the digest's sentence says it, and nothing overlapping
or cut off."""

from __future__ import annotations

from matplotlib.patches import Rectangle
from matplotlib.text import Text

from metrics.charts.changes import ChangeBar, draw_changes
from metrics.charts.context import locale_formatters
from metrics.charts.legibility import overlapping_texts, texts_outside
from metrics.charts.style import DOWN, UP

# Pipeline 4 → 12 is +200 %, win rate 60.0 % → 33.3 % is −26.7 points (a bar of 0.267), activities 40 → 50 +25 %.
BARS = [
    ChangeBar("Win rate", 1 / 3 - 0.6, "60.0% → 33.3% (−26.7 pts)"),
    ChangeBar("Activities done", 0.25, "40 → 50 (+25%)"),
    ChangeBar("New opportunities", 2.0, "4 → 12 (+200%)"),
]


def _draw(bars=BARS, locale="en"):
    return draw_changes(
        bars, locale_formatters(locale), title="What changed", subtitle="Enterprise", xlabel="Change"
    )


def test_a_bar_per_mover_largest_on_top_in_its_direction():
    fig = _draw()
    assert fig is not None
    ax = fig.axes[0]
    bars = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda p: p.get_y())
    # Bottom to top: the smallest change (+25 %), then −26.7 points, then +200 %.
    assert [round(p.get_width(), 3) for p in bars] == [0.25, -0.267, 2.0]
    assert [p.get_facecolor()[:3] for p in bars] == [_rgb(UP), _rgb(DOWN), _rgb(UP)]
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
    assert {"60.0% → 33.3% (−26.7 pts)", "40 → 50 (+25%)", "Win rate", "What changed", "Change"} <= set(texts)
    # The axis reads plain numbers (percent or points, as its title says): no "%" on a tick.
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and not any("%" in tick for tick in ticks)
    assert overlapping_texts(fig) == [] and texts_outside(fig) == []


def test_a_change_from_nothing_is_drawn_as_wide_as_the_widest():
    fig = _draw([ChangeBar("Deals won", 0.5, "2 → 3"), ChangeBar("New opportunities", None, "0 → 6")])
    assert fig is not None
    widths = sorted(p.get_width() for p in fig.axes[0].patches if isinstance(p, Rectangle))
    assert widths == [0.5, 0.5]


def test_nothing_moved_no_chart():
    assert _draw([]) is None


def _rgb(color: str) -> tuple[float, float, float]:
    return tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]
