"""Which person a few typed words name: an id, a full name, a first or last name, a prefix, a small typo, a Russian
name in any case (`у Анны` → Anna Rogers, `Новиковой` → Никита Новиков … Анна Новикова), in either alphabet.

Only the active people the asker may see are candidates, so a name outside them reads exactly like a word that
names nobody. The closest fit wins: the whole name (or the id), then a first or last name, then a name in a Russian
case (`Анны`), then a prefix, then a typo (one edit in a short name, two in a long one, measured by rapidfuzz);
several people of the best fit are all returned, for the asker to choose — each a button (`person_choices`) that
names its person by id, so pressing it answers rather than asks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rapidfuzz.distance import OSA
from sqlalchemy import Connection, Engine, func, or_, select

from bot.reply.arguments import Arguments, to_words
from bot.reply.messages import Action
from metrics.scope import Scope
from storage.errors import UserError
from storage.schema import User

__all__ = [
    "Candidate",
    "WhichPerson",
    "match_people",
    "person_choices",
    "latin",
    "name_stems",
    "EXACT",
    "NAME",
    "FORM",
    "PREFIX",
    "TYPO",
]

_LATIN = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        (
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
        )
        + ("f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"),
        strict=True,
    )
)
# Case endings of Russian first and last names, longest first: `Анной` → `Анн`, `Новиковой` → `Новиков`.
_ENDINGS = ("ого", "ой", "ей", "ом", "ем", "ым", "им", "ы", "и", "е", "у", "ю", "а", "я")
_MAX_CANDIDATES = 5
_CONNECTORS = frozenset({"for", "of", "by", "у", "для", "про"})
# How closely typed words fit a person, closest first: the whole name or the id, a first or last name, a name in a
# Russian case (`Анны` for Анна), the start of a name, a typo of one.
EXACT, NAME, FORM, PREFIX, TYPO = range(5)
_NO_FIT = 9


@dataclass(frozen=True)
class Candidate:
    """A person the words may name, and how closely they fit (EXACT … TYPO)."""

    user_id: str
    name: str
    fit: int = EXACT


class WhichPerson(UserError):
    """Words that fit several people the asker may see: the reply names them, each a button that asks again."""

    def __init__(self, text: str, choices: tuple[Action, ...]) -> None:
        names = ", ".join(choice.label for choice in choices)
        super().__init__("person.which", "'{text}' could be: {names}. Which one?", text=text, names=names)
        self.choices = choices


def latin(text: str) -> str:
    """Lower-case Latin letters for comparing names across alphabets: `Анна` → `anna`, `Артём` → `artem`."""
    out = []
    for ch in text.lower():
        mapped = _LATIN.get(ch)
        out.append(ch if mapped is None else mapped)
    return "".join(out)


def name_stems(word: str) -> tuple[str, ...]:
    """The word and, for a Cyrillic word, its stem without a case ending (`анны` → `анны`, `анн`)."""
    word = word.lower().replace("ё", "е").strip(".,;:!?()\"'«»").removesuffix("'s").removesuffix("’s")
    stems = [word]
    if word and "а" <= word[-1] <= "я":
        for ending in _ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                stems.append(word[: -len(ending)])
                break
    return tuple(dict.fromkeys(stems))


def _tier(ref: Sequence[str], name: str, prefixes: bool) -> int | None:
    """How closely the typed words fit a name (EXACT … TYPO), or None."""
    parts = [latin(part) for part in name.replace("ё", "е").split()]
    typed = [[latin(stem) for stem in name_stems(word)] for word in ref]
    if not parts or not typed or len(typed) > len(parts):
        return None
    if [forms[0] for forms in typed] == parts:
        return EXACT
    # Each typed word fits a different part of the name, in order (`anna rog` fits Anna Rogers).
    best = min(
        max(_word_tier(forms, part, prefixes) for forms, part in zip(typed, parts[start:], strict=False))
        for start in range(len(parts) - len(typed) + 1)
    )
    return best if best < _NO_FIT else None


def _word_tier(forms: Sequence[str], part: str, prefixes: bool) -> int:
    if forms[0] == part:
        return NAME
    if any(len(form) >= 3 and part.startswith(form) and len(part) - len(form) <= 2 for form in forms[1:]):
        return FORM
    if prefixes and len(forms[0]) >= 3 and part.startswith(forms[0]):
        return PREFIX
    allowed = 1 if len(part) <= 6 else 2
    if len(forms[0]) >= 3 and any(
        OSA.distance(form, part, score_cutoff=allowed) <= allowed for form in forms
    ):
        return TYPO
    return _NO_FIT


def match_people(
    engine_or_conn: Engine | Connection,
    words: Sequence[str],
    among: Sequence[str] | None = None,
    *,
    prefixes: bool = True,
) -> list[Candidate]:
    """The people the words may name (see the module docstring), all of the best fit; [] for nobody.

    Without `prefixes` the start of a name is no fit of its own (`nov` is not Новиков), only a typo when it is
    one edit short (`Ann`)."""
    words = list(words)
    while len(words) > 1 and words[0].lower() in _CONNECTORS:  # `/funnel for Anna`, `/воронка у Анны`
        words.pop(0)
    ref = " ".join(words).strip().lstrip("@")
    if not ref:
        return []
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return _match(conn, ref, among, prefixes)
    return _match(engine_or_conn, ref, among, prefixes)


def _match(conn: Connection, ref: str, among: Sequence[str] | None, prefixes: bool) -> list[Candidate]:
    people = select(User.user_id, User.name).where(User.active.is_(True))
    if among is not None:
        people = people.where(User.user_id.in_(among))
    # The id or the whole name first: namesakes are all offered, and nobody who only resembles them.
    exact = people.where(or_(User.user_id == ref, func.lower(User.name) == ref.lower()))
    found = [Candidate(user_id, name) for user_id, name in conn.execute(exact.order_by(User.user_id))]
    if found:
        return found[:_MAX_CANDIDATES]
    scored: dict[int, list[Candidate]] = {}
    for user_id, name in conn.execute(people.order_by(User.name, User.user_id)):
        tier = _tier(ref.split(), name or "", prefixes)
        if tier is not None:
            scored.setdefault(tier, []).append(Candidate(user_id, name, tier))
    return scored[min(scored)][:_MAX_CANDIDATES] if scored else []


def person_choices(
    command: str, args: Arguments, people: Sequence[Candidate], *, locale: str, own: Sequence[str] = ()
) -> tuple[Action, ...]:
    """A button per person: the command with the same words for that person, named by id (`/funnel 2026-10
    @rep-4`), so pressing it answers even for namesakes."""
    return tuple(
        Action(
            person.name,
            " ".join(
                [
                    f"/{command}",
                    *own,
                    *to_words(replace(args, scope=Scope("rep", person.user_id), rest=()), locale=locale),
                ]
            ),
        )
        for person in people
    )
