"""The digest's freshness lines.

Every digest says when the data was last brought up to date (storage/freshness.py) — "data as of 09:45", the finish
of the last successful CRM sync in the recipient's zone, or "data as of 09:45 (last import)" when imports are what
counts — and, when that is older than `data.stale_after`, opens with a warning that the data is stale since then
(for an import, the warning is the "data as of …" line itself, at the top). With no sync or import on record (the
demo organisation, data loaded before imports were logged) it gets neither line.
"""

from __future__ import annotations

from datetime import date, datetime

from alerts.digests.numbers import DigestNumbers
from bot.reply.formatting import Formatter
from bot.reply.messages import Line, Span

__all__ = ["moment_text", "with_freshness"]


def moment_text(fmt: Formatter, moment: datetime, today: date | None) -> str:
    """`09:45` on the day the digest is read, else `Nov 16, 2026 09:45`."""
    if moment.date() == today:
        return f"{moment:%H:%M}"
    return f"{fmt.date(moment.date())} {moment:%H:%M}"


def with_freshness(fmt: Formatter, numbers: DigestNumbers, lines: list[Line]) -> tuple[Line, ...]:
    """The digest's lines with the data's freshness (see the module docstring): a warning first when the data is
    stale, "data as of …" last."""
    fresh = numbers.freshness
    if fresh is None:
        return tuple(lines)
    t = fmt.t
    now = numbers.now
    today = now.astimezone(numbers.tz).date() if now is not None else None
    if fresh.as_of is None:
        warning = t("digest.never_synced", "⚠ No CRM sync has completed yet: the data may be incomplete.")
        return ((Span(warning, bold=True),), *lines)
    since = moment_text(fmt, fresh.as_of.astimezone(numbers.tz), today)
    stale = now is not None and fresh.stale(now, numbers.settings.stale_after)
    imported = fresh.source == "import"
    if imported:
        as_of_text = t("digest.data_as_of_import", "Data as of {time} (last import)", time=since)
    else:
        as_of_text = t("digest.data_as_of", "Data as of {time}", time=since)
    as_of = (Span(as_of_text, italic=True),)
    if not stale:
        return (*lines, as_of)
    if imported:  # the "data as of …" line itself is the warning, at the top
        warning = t("digest.stale_import", "⚠ Data as of {since} (last import): nothing newer has come in.",
                    since=since)  # fmt: skip
        return ((Span(warning, bold=True),), *lines)
    warning = t("digest.stale", "⚠ The data is stale: not updated from the CRM since {since}.", since=since)
    return ((Span(warning, bold=True),), *lines, as_of)
