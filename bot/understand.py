"""A message that names no command: read as a plain question (bot/intents.py), else as a mistyped command
(bot/suggest.py), else answered with the three commands closest to it — never with a guess.

A reading comes back as the command and its words, with one line saying how it was read; the conversation then
answers exactly that command, so "what's our win rate this quarter by rep?" and `/winrate this quarter by rep`
give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.intents import Reading, read_question, reading_words
from bot.people import TYPO, WhichPerson, match_people, person_choices
from bot.phrases import SYNONYMS
from bot.registry import Registry
from bot.reply.arguments import Arguments
from bot.reply.command import Command
from bot.reply.i18n import LOCALES, Translator, translator
from bot.reply.messages import Action, Line, Reply, Span
from bot.suggest import close_commands, closest_commands, did_you_mean, offered
from metrics.catalogue import get_metric
from metrics.scope import Scope, Viewer, visible_people
from storage.config.settings import Settings
from storage.errors import UserError

__all__ = ["Understood", "understand", "metric_titles"]


@dataclass(frozen=True)
class Understood:
    """The command a message was read as, its words (as the conversation runs them), the line saying so and a
    follow-up offering the next closest reading."""

    command: Command
    words: str
    lead: Line
    actions: tuple[Action, ...] = ()


@cache
def _titles(metric: str) -> tuple[str, ...]:
    try:
        english = get_metric(metric).title
    except UserError:
        return ()
    return tuple(
        dict.fromkeys([english, *(translator(locale)(f"title.{metric}", english) for locale in LOCALES)])
    )


def metric_titles(commands: list[Command]) -> dict[str, tuple[str, ...]]:
    """Each metric command's catalogue title in every language (`winrate`: Win rate, Доля выигранных)."""
    return {c.name: _titles(c.metric) for c in commands if c.metric is not None}


def _describe(t: Translator, commands: list[Command]) -> dict[str, str]:
    """Words about each command for finding the closest: its help, its titles and its synonyms."""
    titles = metric_titles(commands)
    english = translator("en")
    words = {}
    for command in commands:
        synonyms = [phrase.replace("*", "") for phrase, name, _ in SYNONYMS if name == command.name]
        help_texts = {t(command.help_key, command.help_text), english(command.help_key, command.help_text)}
        words[command.name] = " ".join([*help_texts, *titles.get(command.name, ()), *synonyms])
    return words


def _shown_name(command: Command, locale: str) -> str:
    """The command's name as the asker would type it: its first Russian alias for a Russian reader."""
    if locale == "ru":
        return next((alias for alias in command.aliases if not alias.isascii()), command.name)
    return command.name


def _not_sure(t: Translator, text: str, commands: list[Command], *, first: str | None = None) -> Reply:
    closest = closest_commands(text, commands, _describe(t, commands), first=first)
    head = t("understand.not_sure", "I'm not sure what you mean. The closest commands:")
    name = text.split(maxsplit=1)[0] if text.startswith("/") else ""
    if name and first is None:  # typed as a command, which exists nowhere
        head = t(
            "understand.unknown_command",
            "I don't know the command '{name}'. The closest commands:",
            name=name,
        )
    lines: list[Line] = [(Span(head),)]
    for command in closest:
        help_text = t(command.help_key, command.help_text or command.usage)
        lines.append((Span(f"/{_shown_name(command, t.locale)}", code=True), Span(f" — {help_text}")))
    # A button runs what it says: a command that changes something only as its read-only form.
    actions = tuple(
        Action(f"/{c.name}", c.read_only_usage if c.changes else t(f"usage.{c.name}", c.usage))
        for c in closest
    )
    return Reply(lines=tuple(lines), actions=actions, kind="user_error")


def _usable(registry: Registry, viewer: Viewer | None) -> list[Command]:
    return [c for c in registry if not (c.admin_only and (viewer is None or not viewer.is_admin))]


def understand(
    engine: Engine,
    registry: Registry,
    t: Translator,
    *,
    text: str,
    name: str,
    rest: str,
    viewer: Viewer | None,
    settings: Settings,
    now: datetime,
    tz: ZoneInfo,
) -> Understood | Reply:
    """How to answer a message whose first word names no command (`name`, then `rest`): see the module docstring.

    Raises WhichPerson when the question names someone several people the asker may see could be."""
    usable = _usable(registry, viewer)
    # What it reads as may still be refused, with the reason; what it offers unasked is the asker's to use.
    suggested = offered(registry, viewer, settings)
    reading = read_question(text, commands=usable, titles=metric_titles(usable), now=now, tz=tz)
    if reading is not None:
        return _answer_reading(engine, registry, t, reading, text=text, usable=suggested, viewer=viewer)
    close = close_commands(name, usable) if name else []
    if len(close) == 1 and not close[0][0].changes:  # only a command that merely reads is run on a guess
        command, typed = close[0]
        return Understood(command, rest, (Span(t("typo.one", "Did you mean /{name}?", name=typed)),))
    if close:
        return did_you_mean(t, close, rest, viewer)
    return _not_sure(t, text, suggested)


def _answer_reading(
    engine: Engine,
    registry: Registry,
    t: Translator,
    reading: Reading,
    *,
    text: str,
    usable: list[Command],
    viewer: Viewer | None,
) -> Understood | Reply:
    command = registry.get(reading.command)
    assert command is not None
    args, person = reading.args, None
    if reading.names:
        # A name is looked for only among the people the asker may see; a word that names nobody is not guessed.
        if viewer is None or args.scope is not None:
            return _not_sure(t, text, usable, first=command.name)
        # A leftover word is a person by a whole name (`Anna`, `Анны`), or by any spelling after `for`, `у` or
        # with `'s`; else the start of a name is none (`in nov` is not Новиков) and a typo of one is asked about.
        found = match_people(engine, reading.names, visible_people(viewer), prefixes=reading.named)
        if not found:
            return _not_sure(t, text, usable, first=command.name)
        choices = person_choices(command.name, args, found, locale=t.locale, own=reading.own)
        if found[0].fit == TYPO and not reading.named:
            names = t("typo.or", " or ").join(candidate.name for candidate in found)
            line = (Span(t("person.did_you_mean", "Did you mean {names}?", names=names)),)
            return Reply(lines=(line,), actions=choices, kind="user_error")
        if len(found) > 1:
            raise WhichPerson(" ".join(reading.names), choices)
        args, person = replace(args, scope=Scope("rep", found[0].user_id)), found[0].name
    words = " ".join(reading_words(args, t.locale, person, reading.own))
    shown = f"/{_shown_name(command, t.locale)} {words}".strip()
    lead: Line = (
        Span(t("read.as", "Read as") + " "),
        Span(shown, code=True),
        Span(" · " + t("read.refine", "change any word and send it to ask otherwise"), italic=True),
    )
    return Understood(command, words, lead, _next_reading(registry, t, reading, args, words))


def _next_reading(
    registry: Registry, t: Translator, reading: Reading, args: Arguments, words: str
) -> tuple[Action, ...]:
    """The next command the question's words name (`deals` in "how many deals did we win?" names /revenue too),
    with the same words, as a follow-up: a reading the asker may have meant instead."""
    for name in reading.others:
        command = registry.get(name)
        if command is None or command.metric is None:
            continue
        try:
            breakdowns = get_metric(command.metric).breakdowns
        except UserError:
            continue
        if args.by is None or args.by in breakdowns:
            return (
                Action(
                    t("read.instead", "Or /{name}", name=command.name), f"/{command.name} {words}".strip()
                ),
            )
    return ()
