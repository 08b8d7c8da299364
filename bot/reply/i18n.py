"""The message catalogue: every user-facing string by key, in English and Russian.

The catalogues are the `.po` files under `bot/reply/locales`; they are read and compiled in memory the first time a
language is asked for, so editing a `.po` file needs no build step. A key missing from a catalogue falls back to the
English text the caller passes (a UserError's own wording, a command declared outside bot/commands/), never to the key.
"""

from __future__ import annotations

import io
import logging
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["LOCALES", "DEFAULT_LOCALE", "Translator", "translator", "normalize_locale"]

log = logging.getLogger(__name__)

LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
_LOCALE_DIR = Path(__file__).parent / "locales"


def normalize_locale(value: str | None) -> str | None:
    """`ru_RU`, `ru-RU`, `RU` → `ru`; None for a language kpibot does not speak."""
    if not value:
        return None
    language = value.replace("-", "_").split("_")[0].lower()
    return language if language in LOCALES else None


@cache
def _catalogue(locale: str) -> Translations:
    path = _LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


class Translator:
    """Messages of one language: `t("help.title")`, `t("period.unknown", text="blorp")`."""

    def __init__(self, locale: str) -> None:
        self.locale = normalize_locale(locale) or DEFAULT_LOCALE
        self._own = _catalogue(self.locale)
        self._english = _catalogue(DEFAULT_LOCALE)

    def has(self, key: str) -> bool:
        """Whether the key is in this language's catalogue."""
        return self._own.gettext(key) != key

    def t(self, key: str, default: str | None = None, /, **params: Any) -> str:
        """The message `key` filled with `params`; `default` (English) where the catalogue lacks the key."""
        template = self._own.gettext(key)
        if template == key:
            english = self._english.gettext(key)
            template = default if default is not None else (english if english != key else key)
        if not params:
            return template
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            # A catalogue entry that names a parameter the caller did not pass must not turn into a failure.
            log.warning("message %r does not fit its parameters %s", key, sorted(params))
            return template

    def plural(self, key: str, count: float, /, **params: Any) -> str:
        """The message `key.<one|few|many|other>` chosen by this language's plural rule for `count` (Babel's CLDR
        rules: 1 звонок, 3 звонка, 5 звонков, 1,5 звонка), filled with `params`."""
        form = Locale.parse(self.locale).plural_form(abs(count))
        return self.t(f"{key}.{form}", **params)

    __call__ = t


@cache
def translator(locale: str | None) -> Translator:
    """The (shared) translator of a locale; unknown locales speak English."""
    return Translator(normalize_locale(locale) or DEFAULT_LOCALE)
