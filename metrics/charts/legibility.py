"""Whether a drawn chart reads: labels running into one another, texts cut off at the picture's edges — what the
tests ask of every chart in both languages."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["overlapping_texts", "texts_outside"]


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
