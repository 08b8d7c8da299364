"""Messages whose words change with a number ("on 1 deal", "on 11 deals"; "по 1 сделке", "по 5 сделкам").

The catalogue holds one entry per CLDR plural category — `<key>.one`, `<key>.few`, `<key>.many`, `<key>.other` —
in both languages (English uses `one` and `other`, Russian all four); Babel says which category a number falls in
for the reader's locale.
"""

from __future__ import annotations

from functools import cache

from babel import Locale

from bot.reply.formatting import Formatter

__all__ = ["plural_form", "plural"]


@cache
def _locale(locale: str) -> Locale:
    return Locale.parse(locale)


def plural_form(locale: str, count: int | float) -> str:
    """The CLDR plural category of `count` in `locale`: one, few, many or other."""
    return str(_locale(locale).plural_form(abs(count)))


def plural(fmt: Formatter, key: str, count: int | float, default: str, /, **params: object) -> str:
    """The message `<key>.<category>` for `count`, filled with `count` (formatted for the locale) and `params`."""
    form = plural_form(fmt.locale, count)
    return fmt.t(f"{key}.{form}", default, count=fmt.count(count), **params)
