"""What a metric command's words asked for (`Arguments`), and the same arguments written back as words — the
follow-up buttons under a reply (`to_words`). bot/grammar.py reads the words into Arguments."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from metrics.periods import Period
from metrics.scope import Scope

__all__ = ["Arguments", "Compare", "to_words"]

Compare = Literal["prev", "year"]


@dataclass(frozen=True)
class Arguments:
    """What the words asked for; None/empty means "the default"."""

    period: Period | None = None
    compare: Compare | None = None
    scope: Scope | None = None
    filters: tuple[tuple[str, str], ...] = ()
    by: str | None = None
    mode: Literal["cohort", "flow"] | None = None
    rest: tuple[str, ...] = ()

    @property
    def scope_explicit(self) -> bool:
        return self.scope is not None


def _quoted(word: str) -> str:
    # Quoted whenever split_words would not read it back as one word, unchanged: spaces, quotes, backslashes.
    return shlex.quote(word) if any(ch.isspace() or ch in "'\"\\" for ch in word) else word


def to_words(args: Arguments, *, scope_ref: str | None = None) -> list[str]:
    """The arguments written back as command words (for follow-up buttons): `2026-10 vs prev team Alpha by rep`.

    Periods are written by their dates so a button pressed next month still means the same period.
    `scope_ref` replaces a rep reference with its id.
    """
    words: list[str] = []
    period = args.period
    if period is not None:
        if period.grain == "week":
            words.append(f"{period.start_date.isoformat()}..{period.last_date.isoformat()}")
        else:
            words.append(period.key)
    if args.compare:
        words += ["vs", args.compare]
    if args.scope is not None:
        if args.scope.kind == "me":
            words.append("me")
        elif args.scope.kind == "org":
            words.append("org")
        elif args.scope.kind == "team":
            words += ["team", _quoted(args.scope.ref)] if args.scope.ref else ["team"]
        else:
            words.append("@" + (scope_ref or args.scope.ref or ""))
    words += [f"{name}={_quoted(value)}" for name, value in args.filters]
    if args.by:
        words += ["by", args.by]
    if args.mode:
        words.append(args.mode)
    return words
