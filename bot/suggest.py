"""What to offer when a message names no command: the commands a mistyped name is close to (`/funel` → /funnel,
`/вронка` → /воронка), and the three commands closest to a question the bot could not read — only ever among the
commands the asker may use (`offered`).

Distances and similarities come from rapidfuzz: a name is close to a command's name or alias within one edit for a
short name and two for a longer one (a swap of two letters is one edit), never more than a third of the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA

from bot.reply.command import Command
from bot.reply.i18n import Translator
from bot.reply.messages import Action, Reply, Span
from metrics.catalogue import get_metric
from metrics.scope import Viewer, sees_org
from storage.config.settings import Settings

__all__ = ["close_commands", "closest_commands", "did_you_mean", "offered"]


def offered(commands: Iterable[Command], viewer: Viewer | None, settings: Settings) -> list[Command]:
    """The commands a suggestion may name to `viewer`: those they may use — while unlinked only the ones for
    unlinked users, a command for admins only to an admin, an organisation-wide metric only to someone who may see
    the organisation's numbers (metrics.scope.sees_org)."""

    def usable(command: Command) -> bool:
        if viewer is None:
            return command.allowed_for_unlinked
        if command.admin_only and not viewer.is_admin:
            return False
        return command.metric is None or not get_metric(command.metric).org_wide or sees_org(viewer, settings)

    return [command for command in commands if usable(command)]


def _allowed_edits(name: str) -> int:
    return 1 if len(name) <= 5 else 2


def close_commands(name: str, commands: Iterable[Command]) -> list[tuple[Command, str]]:
    """The commands whose name or alias `name` is a typo of, with that name, closest first."""
    name = name.lower().lstrip("/")
    found: dict[str, tuple[int, Command, str]] = {}
    for command in commands:
        for candidate in command.names:
            edits = _allowed_edits(candidate)
            distance = OSA.distance(name, candidate, score_cutoff=edits)
            if distance > edits or distance * 3 > len(candidate) or not name:
                continue
            if command.name not in found or distance < found[command.name][0]:
                found[command.name] = (distance, command, candidate)
    ranked = sorted(found.values(), key=lambda item: item[0])
    return [(command, candidate) for _, command, candidate in ranked]


def closest_commands(
    text: str,
    commands: Sequence[Command],
    describe: dict[str, str],
    *,
    first: str | None = None,
    limit: int = 3,
) -> list[Command]:
    """The `limit` commands whose names and descriptions (`describe`: name → words about it) are most like
    `text`; `first` (a command the question seemed to name) leads."""
    choices = {
        command.name: f"{' '.join(command.names)} {describe.get(command.name, '')}" for command in commands
    }
    scored = process.extract(
        text, choices, scorer=fuzz.token_set_ratio, processor=utils.default_process, limit=None
    )
    order = {command.name: i for i, command in enumerate(commands)}
    # Ties keep the order of /help, so the same question always gets the same three.
    ranked = sorted(scored, key=lambda item: (-item[1], order[item[2]]))
    names = [name for _, _, name in ranked]
    if first in order:
        names = [first, *(name for name in names if name != first)]
    by_name = {command.name: command for command in commands}
    return [by_name[name] for name in names[:limit]]


def did_you_mean(
    t: Translator, close: Sequence[tuple[Command, str]], words: str, viewer: Viewer | None
) -> Reply:
    """ "Did you mean /lang ru?" for a mistyped name, with a button running each command it is close to (with the
    same words), and nothing else done. A command that changes something the asker may not change is offered bare,
    where it only shows (`/alerts`: the list)."""
    buttons = []
    for command, typed in close:
        with_words = bool(words) and command.changes_allowed(viewer)
        shown, run = (
            (f"/{typed} {words}", f"/{command.name} {words}")
            if with_words
            else (f"/{typed}", f"/{command.name}")
        )
        buttons.append((f"/{typed}", shown, run))
    if len(buttons) == 1:
        _, shown, run = buttons[0]
        line = t("typo.one", "Did you mean /{name}?", name=shown.removeprefix("/"))
        actions = (Action(shown, run),)
    else:
        names = t("typo.or", " or ").join(name for name, _, _ in buttons)
        line = t("typo.several", "Did you mean {names}?", names=names)
        actions = tuple(Action(name, run) for name, _, run in buttons)
    return Reply(lines=((Span(line),),), actions=actions, kind="user_error")
