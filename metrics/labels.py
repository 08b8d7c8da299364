"""Breakdown rows and categories in words: the catalogue keys that name them and a key made readable.

Replies and charts both name a lead source `organic_search` as "Organic search" and the row of leads without a
source as "No source"; the words themselves are in the message catalogue, this module only says which keys to try.
"""

from __future__ import annotations

import re

__all__ = ["CODED_BREAKDOWNS", "humanize", "category_keys", "none_keys"]

CODED_BREAKDOWNS = ("source", "segment", "product")
"""Breakdowns whose row labels are codes (lead sources, segments, products) rather than names of people or teams."""

_ACRONYMS = {
    "mql",
    "sal",
    "sql",
    "mrr",
    "nrr",
    "grr",
    "cac",
    "ltv",
    "cltv",
    "roi",
    "crm",
    "seo",
    "ppc",
    "b2b",
    "b2c",
}


def humanize(key: str) -> str:
    """A key as words: `organic_search` → "Organic search", `mql` → "MQL"; anything else with a capital stays."""
    if not key or any(ch.isupper() for ch in key) or " " in key:
        return key
    words = [w.upper() if w in _ACRONYMS else w for w in re.split(r"[_\-]+", key) if w]
    if not words:
        return key
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def category_keys(key: str, kind: str | None = None) -> list[str]:
    """The catalogue keys that may name a category, most specific first (`chart.source.organic_search`, …)."""
    keys = [f"chart.{kind}.{key.lower()}"] if kind else []
    return keys + [f"measure.{key.lower()}", f"chart.{key}", f"chart.{key.lower()}"]


def none_keys(by: str | None) -> list[str]:
    """The catalogue keys naming the row of everything without a value ("No campaign"), most specific first."""
    return [f"chart.{by}.(none)", "chart.(none)"] if by else ["chart.(none)"]
