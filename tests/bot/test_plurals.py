"""Words that follow a number take the form the reader's language asks for: "on 1 deal" / "on 11 deals",
"по 1 сделке" / "по 3 сделкам" / "по 21 сделке"."""

from __future__ import annotations

import pytest

from bot.reply.formatting import Formatter
from bot.reply.plurals import plural, plural_form


@pytest.mark.parametrize(
    ("locale", "count", "text"),
    [
        ("en", 1, "on 1 deal"),
        ("en", 11, "on 11 deals"),
        ("ru", 1, "по 1 сделке"),
        ("ru", 3, "по 3 сделкам"),
        ("ru", 11, "по 11 сделкам"),
        ("ru", 21, "по 21 сделке"),
        ("ru", 1000, "по 1\xa0000 сделкам"),
    ],
)
def test_on_n_deals(locale, count, text):
    assert plural(Formatter(locale), "weekly.on.deals", count, "on {count} deals") == text


def test_the_categories_come_from_babel():
    assert [plural_form("ru", n) for n in (1, 2, 5, 21, 22, 25)] == [
        "one",
        "few",
        "many",
        "one",
        "few",
        "many",
    ]
    assert [plural_form("en", n) for n in (1, 2, 5)] == ["one", "other", "other"]
