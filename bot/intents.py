"""Plain questions read as commands: "what's our win rate this quarter by rep?" is `/winrate this quarter by rep`,
"сколько звонков вчера у Анны?" is `/активность вчера "Anna Rogers"`.

Deterministic, so every number stays exact: one phrase of the question names the command (a synonym in
bot/phrases.py, or a command's name, alias or catalogue title in either language); the words it leaves, without the
small words of a question (how, many, our, какая, сколько …), must all be read by the command grammar
(bot/grammar.py: period, comparison, scope, breakdown) or name a person the asker may see. A word left over means the question is not
understood — it is never guessed at. The reading is then written back as the command it stands for, in the asker's
language, and that very command is what gets answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.grammar import BREAKDOWN_WORDS, parse_arguments
from bot.phrases import OWN_WORDS, SYNONYMS
from bot.reply.arguments import Arguments, to_words
from bot.reply.command import Command
from storage.errors import UserError

__all__ = ["Reading", "read_question", "reading_words"]


def _word_set(*texts: str) -> frozenset[str]:
    return frozenset(word for text in texts for word in text.split())


# The small words of a question, which name nothing the grammar reads. `we`/`our` leave the asker's default scope.
_SMALL_WORDS = _word_set(
    "how what which who whom is are am was were be been do does did doing done has have had get got make made "
    "many much number total count the a an of for in on at to from so far now currently right there it its "
    "we us our ours you your they their please pls show tell give let see look and or with about any",
    "какая какой какое какие каков какова как сколько что кто кого кому чей чьи у нас нам мы наш наша наше наши "
    "нашей нашего был была было были есть ли в во за на от до и а же ну покажи покажите скажи скажите дай дайте "
    "пожалуйста сейчас всего итого число количество сделали сделал сделала провели провел провела по",
)
_SHOW_ME = _word_set("show tell give покажи покажите скажи скажите дай дайте")
_ME_WORDS = {"i": "me", "me": "me", "my": "me", "mine": "me"}
# A unit without `this` or `last` (`за квартал`, `for the quarter`) is the current one.
_BARE_UNITS = {
    **{unit: unit for unit in ("week", "month", "quarter", "year")},
    **{"неделю": "week", "месяц": "month", "квартал": "quarter", "год": "year"},
}
_BEFORE_UNIT = _word_set("this last previous current by per vs по к")
# A word after these, or with `'s`, is meant as a person's name (`for Rog`, `у Анны`, `Anna's`).
_FOR_PERSON = frozenset({"for", "у"})
_GAP = 2


@dataclass(frozen=True)
class Reading:
    """What a question asks: the command, the grammar's reading of its words, and words left to name a person."""

    command: str
    args: Arguments
    names: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # other commands a shorter phrase of the question names ("deals" in revenue)
    own: tuple[str, ...] = ()  # the command's own word (`calls` in `/leaderboard calls`)
    named: bool = False  # a name came after `for`/`у` or with `'s`: meant as a person's, however it is spelt


def _low(word: str) -> str:
    return word.lower().replace("ё", "е")


def _tokens(text: str) -> tuple[list[str], set[str]]:
    """The question's words as typed (a filter value keeps its case: `product=P-ENT`), without punctuation and
    `'s`; and the words marked as a person's (after `for`/`у`, or with `'s`), in lower case."""
    words: list[str] = []
    marked: set[str] = set()
    for raw in text.replace("’", "'").split():
        word = raw.strip('.,;:!?()"«»')
        owner = word[-2:].lower() == "'s"
        for suffix in ("'s", "'re", "'m"):
            if word[-len(suffix) :].lower() == suffix:
                word = word[: -len(suffix)]
                break
        if not word or word == "/":
            continue
        if owner or (words and _low(words[-1]) in _FOR_PERSON):
            marked.add(_low(word))
        words.append(word.lstrip("/") if not words else word)
    return words, marked


def _fits(pattern: str, word: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def _find(pattern: Sequence[str], words: Sequence[str]) -> list[int] | None:
    """The positions of the pattern's words in order, each within `_GAP` words of the one before; or None."""
    for start, word in enumerate(words):
        if not _fits(pattern[0], word):
            continue
        found = [start]
        for part in pattern[1:]:
            after = found[-1] + 1
            nxt = next(
                (i for i in range(after, min(after + _GAP + 1, len(words))) if _fits(part, words[i])), None
            )
            if nxt is None:
                break
            found.append(nxt)
        else:
            return found
    return None


def _phrases(
    commands: Iterable[Command], titles: dict[str, tuple[str, ...]]
) -> list[tuple[list[str], str, str]]:
    phrases = [(phrase.split(), command, extra) for phrase, command, extra in SYNONYMS]
    for command in commands:
        for name in (*command.names, *titles.get(command.name, ())):
            phrases.append((name.lower().replace("ё", "е").replace("_", " ").split(), command.name, ""))
    return phrases


def read_question(
    text: str,
    *,
    commands: Iterable[Command],
    titles: dict[str, tuple[str, ...]],
    now: datetime,
    tz: ZoneInfo,
) -> Reading | None:
    """The reading of a plain question, or None when no phrase names a command or a word is left unread.

    `titles` are the catalogue titles of each metric command, in every language (`winrate`: Win rate, Доля
    выигранных)."""
    commands = [c for c in commands if c.metric is not None or c.name == "leaderboard"]
    typed, marked = _tokens(text)
    words = [_low(word) for word in typed]  # what the phrases match; the grammar reads the words as typed
    found_by: dict[str, tuple[int, int, list[int], str]] = {}
    for pattern, command, extra in _phrases(commands, titles):
        found = _find(pattern, words) if pattern else None
        if found is None:
            continue
        key = (len(found), -found[0])
        if command not in found_by or key > found_by[command][:2]:
            found_by[command] = (*key, found, extra)
    if not found_by:
        return None
    # The longest phrase wins, the earliest of equally long ones; the order of SYNONYMS breaks the last ties.
    ranked = sorted(found_by, key=lambda name: found_by[name][:2], reverse=True)
    if "leaderboard" in ranked and ranked[0] in OWN_WORDS["leaderboard"]:
        # "who is best at win rate": a ranking of the measure another phrase names, however long that phrase.
        ranked = ["leaderboard", *(name for name in ranked if name != "leaderboard")]
    command = ranked[0]
    _, _, used, extra = found_by[command]
    # Other words naming the same command are read too ("кто отстаёт от плана": `отстаёт` and `плана`).
    singles = [p[0] for p, name, _ in _phrases(commands, titles) if name == command and len(p) == 1]
    used = [i for i, word in enumerate(words) if i in used or any(_fits(p, word) for p in singles)]
    own: tuple[str, ...] = ()
    for other in ranked[1:2]:
        by_start = OWN_WORDS.get(command, {}).get(other)
        if by_start is not None:
            named = words[found_by[other][2][0]]
            own = (next(word for start, word in by_start.items() if named.startswith(start)),)
            used = sorted({*used, *found_by[other][2]})
    left = [word for i, word in enumerate(typed) if i not in used]
    grammar_words = _grammar_words(left) + extra.split()
    try:
        args = parse_arguments(grammar_words, now=now, tz=tz)
    except UserError:
        return None
    names = tuple(word for word in args.rest if _low(word) not in _SMALL_WORDS)
    others = tuple(name for name in ranked[1:] if not own or name != ranked[1])
    named = any(_low(word) in marked for word in names)
    return Reading(command, replace(args, rest=()), names, others, own, named)


def _grammar_words(words: list[str]) -> list[str]:
    """The words the command grammar should read: small words out (but `по` before a breakdown), `show me` out,
    `I` as `me`, a bare unit as this one."""
    low = [_low(word) for word in words]
    out: list[str] = []
    for i, word in enumerate(low):
        before, after = low[i - 1] if i else "", low[i + 1] if i + 1 < len(low) else ""
        if word in ("me", "мне") and before in _SHOW_ME:
            continue
        if (
            word in _BARE_UNITS
            and before not in _BEFORE_UNIT
            and not before.startswith(("прошл", "эт", "текущ"))
        ):
            out += ["this", _BARE_UNITS[word]]
        elif word in _ME_WORDS:
            out.append(_ME_WORDS[word])
        elif word not in _SMALL_WORDS or (word == "по" and after in BREAKDOWN_WORDS):
            out.append(words[i])
    return out


def reading_words(
    args: Arguments, locale: str, person: str | None = None, own: Sequence[str] = ()
) -> list[str]:
    """The reading written back as command words in the asker's language (`этот квартал по менеджерам`): what the
    reply says it read, and what the conversation then runs. A period is written as it was named (`last month`),
    a person by `person`, their name."""
    return [*own, *to_words(args, locale=locale, relative=True, person=person)]
