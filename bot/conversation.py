"""The conversation: one Request in, one Reply out, for every platform.

It finds the command, works out who asks and in which language and zone, checks the two rules that belong to the
chat (unlinked users; admin-only commands) and hands the command its words: a metric command is answered by
bot/commands/metric.py (grammar → metrics core, which enforces every other permission). A message that names no command is read as a plain question or a typo
(bot/understand.py) and answered as the command it reads as, under a line saying so. A UserError becomes a
one-line reply with the command's usage; anything else an apology with an incident id, the traceback going to the
log only.
"""

from __future__ import annotations

import logging
import time
import unicodedata
import uuid
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.commands.metric import answer_metric_command
from bot.grammar import split_words
from bot.people import WhichPerson
from bot.ratelimit import RateLimiter
from bot.registry import Registry
from bot.reply.command import Command, CommandContext
from bot.reply.formatting import Formatter
from bot.reply.i18n import Translator, normalize_locale, translator
from bot.reply.messages import Action, Line, Reply, Request, Span
from bot.understand import understand
from metrics.catalogue import catalogue
from metrics.scope import Viewer, load_viewer
from storage.config.settings import Settings
from storage.errors import PermissionDenied, UserError
from storage.log_context import bind_log_context, reset_log_context
from storage.telemetry import telemetry

__all__ = ["Conversation", "localize_error", "readable_text"]

log = logging.getLogger(__name__)


def _split_command(text: str) -> tuple[str, str]:
    """(`funnel`, `last month by rep`) from `/funnel@kpibot last month by rep` or `kpi funnel last month`."""
    text = text.strip()
    head, _, rest = text.partition(" ")
    name = head.lstrip("/").split("@", 1)[0].lower()
    if name == "kpi" and rest.strip():  # Slack's single `/kpi <command> …`
        return _split_command(rest)
    return name, rest.strip()


# Line breaks and tabs separate words like spaces do (a message pasted from elsewhere, a Slack text with a newline).
_AS_SPACE = str.maketrans(dict.fromkeys("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85", " "))


def readable_text(text: str) -> str:
    """The message with its line breaks and tabs as spaces; a UserError for any other control character (NUL, an
    escape sequence) or a lone surrogate (a broken emoji from a platform's JSON).

    Checked before the words reach the grammar or any query: PostgreSQL's driver refuses NUL in a text parameter,
    and a lone surrogate can be neither stored nor sent back in a reply.
    """
    text = text.translate(_AS_SPACE)
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise UserError("message.unreadable", "The message contains a character I can't read; please type it "
                        "again without it.")  # fmt: skip
    return text


def _permission_text(t: Translator, exc: PermissionDenied, viewer: Viewer | None, settings: Settings) -> str:
    if exc.key != "scope.denied":
        return localize_error(t, exc)
    denied = exc.params.get("denied")
    if denied == "person":
        what_text = t("denied.what.person", ref=exc.params.get("ref", ""))
    elif denied == "team":
        what_text = t("denied.what.team")
    elif denied == "org":
        what_text = t("denied.what.org")
    elif denied == "org_breakdown":
        what_text = t("denied.what.org_breakdown")
    else:
        what_text = str(exc.params.get("what", ""))
    if viewer is not None and viewer.role == "manager" and viewer.managed_team_ids:
        allowed = t("denied.allowed.manager")
    elif settings.org.reps_see_org_totals:
        allowed = t("denied.allowed.rep_org")
    else:
        allowed = t("denied.allowed.rep")
    return t("scope.denied", exc.text, what=what_text, allowed=allowed)


def _metric_titles(t: Translator) -> dict[str, str]:
    """English catalogue titles → the asker's wording (the core names metrics by title in its errors)."""
    try:
        return {metric.title: t(f"title.{metric.name}", metric.title) for metric in catalogue()}
    except Exception:  # a metric module that fails to import must not hide the user's mistake
        return {}


def localize_error(t: Translator, exc: UserError) -> str:
    """A UserError in the asker's language, ending with a full stop."""
    params = dict(exc.params)
    if isinstance(params.get("metric"), str) and t.locale != "en":
        params["metric"] = _metric_titles(t).get(params["metric"], params["metric"])
    if params.get("reason_key") and isinstance(
        params.get("reason"), str
    ):  # metrics.sql.customers.require_org
        params["reason"] = t(f"reason.{params['reason_key']}", params["reason"])
    message = t(exc.key, exc.text, **params).rstrip()
    return message if message.endswith((".", "!", "?")) else message + "."


def _suggests(message: str, command: Command) -> bool:
    return any(f"/{name}" in message for name in command.names)


def _sender_key(request: Request) -> str:
    if request.user_id:
        return f"user:{request.user_id}"
    return f"{request.platform}:{request.platform_user_id or request.chat_id}"


@dataclass
class _Asked:
    """The command a message was read as, for its count in `/metrics` ("unknown" until it is known)."""

    command: str = "unknown"


class Conversation:
    """Answers chat messages: `Conversation(engine, settings, registry).handle(request) -> Reply`, with the commands
    of `registry` (run_bot.py builds the one every platform serves)."""

    def __init__(
        self, engine: Engine, settings: Settings, registry: Registry, *, rate_limited: bool = True
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        # The console's one local user (bot/cli.py) is the person running the bot: nobody to share the bot with.
        self.rate_limiter = RateLimiter(settings.chat.rate_limit_per_minute if rate_limited else 0)

    def _viewer(self, request: Request) -> Viewer | None:
        if request.user_id is None:
            return None
        with self.engine.connect() as conn:
            try:
                return load_viewer(conn, request.user_id)
            except UserError:  # deactivated or deleted since the account was linked: treat as unlinked
                return None

    def locale_for(self, request: Request, viewer: Viewer | None) -> str:
        """The request's locale, else the user's stored one, else the organisation's."""
        return (
            normalize_locale(request.locale)
            or normalize_locale(viewer.locale if viewer else None)
            or self.settings.org.locale
        )

    def _zone(self, request: Request, viewer: Viewer | None) -> ZoneInfo:
        name = request.timezone or (viewer.timezone if viewer else None)
        try:
            return ZoneInfo(name) if name else self.settings.org.tz
        except (KeyError, ValueError):
            return self.settings.org.tz

    def handle(self, request: Request) -> Reply:
        """Answer one message; never raises. Counted and timed for `/metrics` by the command it was read as."""
        started = time.perf_counter()
        asked = _Asked()
        token = bind_log_context(platform=request.platform, user_id=request.user_id)
        try:
            reply = self._answer(request, asked)
        finally:
            reset_log_context(token)
        outcome = "answer" if reply.kind == "info" else reply.kind
        metrics = telemetry()
        metrics.commands.labels(asked.command, request.platform, outcome).inc()
        metrics.reply_seconds.labels(request.platform).observe(time.perf_counter() - started)
        return reply

    def _answer(self, request: Request, asked_as: _Asked) -> Reply:
        t = translator(self.settings.org.locale)
        command: Command | None = None
        viewer: Viewer | None = None
        asked = request.text
        lead: Line = ()  # how a plain question or a typo was read, said above the answer
        more: tuple[Action, ...] = ()  # and the next closest reading, as a follow-up
        try:
            # The limit comes first, before any database work, so a flood costs next to nothing.
            wait = self.rate_limiter.check(_sender_key(request), request.now)
            if wait > 0:
                t = translator(normalize_locale(request.locale) or self.settings.org.locale)
                return Reply(
                    lines=((Span(t("rate_limited", seconds=max(1, round(wait)))),),),
                    kind="user_error",
                    extra={"locale": t.locale},
                )
            viewer = self._viewer(request)  # by the linked id alone: the text has reached no query yet
            locale = self.locale_for(request, viewer)
            t = translator(locale)
            try:
                text = readable_text(request.text)
            except UserError as exc:
                return self._user_error(t, localize_error(t, exc), None, try_usage=False)
            name, rest = _split_command(text)
            command = self.registry.get(name or "help")
            if command is None:
                found = understand(
                    self.engine,
                    self.registry,
                    t,
                    text=text,
                    name=name,
                    rest=rest,
                    viewer=viewer,
                    settings=self.settings,
                    now=request.now,
                    tz=self._zone(request, viewer),
                )
                if isinstance(found, Reply):
                    return replace(found, extra={"locale": locale, **found.extra})
                command, rest, lead, more = found.command, found.words, found.lead, found.actions
                asked = f"/{command.name} {rest}"
            asked_as.command = command.name
            bind_log_context(command=command.name)
            if viewer is None and not command.allowed_for_unlinked:
                return Reply(lines=((Span(t("link.needed")),),), kind="info", extra={"locale": locale})
            if command.admin_only and (viewer is None or not viewer.is_admin):
                return self._user_error(t, t("command.admin_only", name=command.name), None, try_usage=False)
            fmt = Formatter(locale, self.settings.org.currency)
            ctx = CommandContext(
                engine=self.engine,
                settings=self.settings,
                request=request,
                command=command,
                viewer=viewer,
                locale=locale,
                tz=self._zone(request, viewer),
                words=tuple(split_words(rest)),
                t=t,
                fmt=fmt,
                commands=self.registry,
            )
            reply = command.handler(ctx) if command.handler else answer_metric_command(ctx)
            return replace(
                reply,
                lines=(lead, *reply.lines) if lead else reply.lines,
                actions=(*reply.actions, *more) if reply.kind == "answer" else reply.actions,
                extra={"locale": ctx.locale, **reply.extra},
            )
        except PermissionDenied as exc:
            message = _permission_text(t, exc, viewer, self.settings)
            return self._user_error(t, message, None, try_usage=False, lead=lead)
        except WhichPerson as exc:
            reply = self._user_error(t, localize_error(t, exc), None, try_usage=False, lead=lead)
            return replace(reply, actions=exc.choices)
        except UserError as exc:
            return self._user_error(t, localize_error(t, exc), command, lead=lead, asked=asked, viewer=viewer)
        except Exception:
            incident = uuid.uuid4().hex[:8]
            bind_log_context(incident=incident)
            # The command's name, never the message: what a user typed may hold what no log should.
            log.exception(
                "incident %s: failed to answer /%s from %s", incident, asked_as.command, request.user_id
            )
            return Reply(
                lines=((Span(t("failure", incident=incident)),),),
                kind="failure",
                incident_id=incident,
                extra={"locale": t.locale},
            )

    def _user_error(
        self,
        t: Translator,
        message: str,
        command: Command | None,
        *,
        try_usage: bool = True,
        lead: Line = (),
        asked: str = "",
        viewer: Viewer | None = None,
    ) -> Reply:
        """One line; "Try: <usage>" after it unless that would suggest again what was just asked (or the message
        already suggests a command of its own), so a hint never sends the asker round in a loop. The usage of a
        command whose changes the asker may not make is its read-only form."""
        if command is not None and not command.changes_allowed(viewer):
            usage = command.read_only_usage
        else:
            usage = t(f"usage.{command.name}", command.usage) if command else "/help"
        if command is not None and (self._repeats(usage, asked) or _suggests(message, command)):
            try_usage = False
        line: Line = (Span(f"{message} {t('try', usage=usage)}" if try_usage else message),)
        lines = (lead, line) if lead else (line,)
        return Reply(lines=lines, kind="user_error", extra={"locale": t.locale})

    def _repeats(self, usage: str, asked: str) -> bool:
        """Whether the usage example is the command just asked (one's words a prefix of the other's)."""

        def words(text: str) -> list[str]:
            name, rest = _split_command(text)
            command = self.registry.get(name)
            return [command.name if command else name, *(word.lower() for word in rest.split())]

        usage_words, asked_words = words(usage), words(asked)
        shorter = min(len(usage_words), len(asked_words))
        return bool(asked.strip()) and usage_words[:shorter] == asked_words[:shorter]
