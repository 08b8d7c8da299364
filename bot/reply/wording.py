"""What things are called in the reader's language: a metric's title, a measure's label (composed for steps,
stages and plan lines), a breakdown row's name, a result's note with its numbers, a definition cut to its first
clause."""

from __future__ import annotations

from bot.reply.formatting import Formatter
from metrics.labels import CODED_BREAKDOWNS, category_keys, humanize, none_keys
from metrics.result import BreakdownRow, Note

__all__ = ["metric_title", "measure_label", "note_text", "row_label", "short_definition"]

_MAX_DEFINITION = 140


def metric_title(fmt: Formatter, metric: str, fallback: str) -> str:
    return fmt.t(f"title.{metric}", fallback)


def measure_label(fmt: Formatter, key: str, fallback: str) -> str:
    """A measure's label in the asker's language; a step `mql_to_sal` is composed from its two stages, a stage's
    `deal:Demo:median_days` from the CRM's stage name and the statistic."""
    if key == "slowest_deal_stage_days" and fmt.t.has(f"measure.{key}"):
        # "Slowest deal stage: Negotiation": the stage is the CRM's own name, after the label's colon.
        stage = fallback.partition(": ")[2]
        return f"{fmt.t(f'measure.{key}')}: {stage}" if stage else fmt.t(f"measure.{key}")
    if fmt.t.has(f"measure.{key}"):
        return fmt.t(f"measure.{key}")
    kind, colon, rest = key.partition(":")
    stage, _, stat = rest.rpartition(":")
    if colon and kind in ("deal", "lead") and stage and fmt.t.has(f"measure.stage.{stat}"):
        name = measure_label(fmt, stage, stage) if kind == "lead" else stage
        return f"{name}: {fmt.t(f'measure.stage.{stat}')}"
    for part in ("attainment", "pace"):  # an activity plan's `calls_attainment`, `calls_pace`
        line = key.removesuffix(f"_{part}")
        if line != key and fmt.t.has(f"measure.{line}") and fmt.t.has(f"measure.{part}"):
            return f"{fmt.t(f'measure.{line}')}: {fmt.t(f'measure.{part}').lower()}"
    line, dot, part = key.partition(".")
    if dot and fmt.t.has(f"measure.{line}"):
        # Plan lines: `revenue.actual` is "Revenue", `revenue.attainment` "Revenue: attainment".
        if part == "actual":
            return fmt.t(f"measure.{line}")
        if fmt.t.has(f"measure.{part}"):
            return f"{fmt.t(f'measure.{line}')}: {fmt.t(f'measure.{part}').lower()}"
    before, sep, after = key.partition("_to_")
    if sep and fmt.t.has(f"measure.{before}") and fmt.t.has(f"measure.{after}"):
        return f"{fmt.t(f'measure.{before}')} → {fmt.t(f'measure.{after}')}"
    return fallback


def note_text(fmt: Formatter, note: str | Note) -> str:
    """A result's note in the reader's language, its numbers formatted for their locale."""
    if isinstance(note, str):
        return note
    params = {name: fmt.value(value, unit) if unit else str(value) for name, value, unit in note.params}
    return fmt.t(f"note.{note.key}", note.text, **params)


def row_label(fmt: Formatter, by: str | None, row: BreakdownRow) -> str:
    """A breakdown row's name in words, as its chart writes it: the row without a value as "No source", a lead
    source, segment or product code (`organic_search`) as the catalogue names it or as words ("Organic search")."""
    if row.key == "":
        return next((fmt.t(key) for key in none_keys(by) if fmt.t.has(key)), row.label)
    if by in CODED_BREAKDOWNS:
        for key in category_keys(row.label, by):
            if fmt.t.has(key):
                text = fmt.t(key)
                return text[:1].upper() + text[1:]
        return humanize(row.label)
    return row.label


def short_definition(text: str) -> str:
    """The definition's first clause: the footer stays one short line, /help <command> has the whole text."""
    for stop in (". ", "; ", ": "):
        text = text.split(stop, 1)[0]
    if len(text) > _MAX_DEFINITION:
        text = text[:_MAX_DEFINITION].rsplit(" ", 1)[0].rstrip(",;(") + " …"
        return text
    return text.rstrip(".") + "."
