"""The commands that are not one metric: /help, /start, /whoami, /lang and /leaderboard."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select, update

from bot.commands.metric import effective_query
from bot.grammar import parse_arguments
from bot.identity import PLATFORMS
from bot.invites import redeem_invite
from bot.reply.arguments import command_words
from bot.reply.charts import render_charts_safely
from bot.reply.command import Command, CommandContext
from bot.reply.i18n import LOCALES, normalize_locale, translator
from bot.reply.messages import Line, Reply, Span
from bot.reply.render import leaderboard_reply
from metrics.catalogue import get_metric, query
from storage.errors import UserError
from storage.schema import Team, User

__all__ = ["BUILTIN_COMMANDS", "LEADERBOARD_MEASURES", "DEFAULT_LEADERBOARD"]

# `/leaderboard <word>` → (metric, measure key); None ranks by the metric's headline.
LEADERBOARD_MEASURES: dict[str, tuple[str, str | None]] = {
    "revenue": ("revenue", None),
    "win_rate": ("win_rate", "win_rate"),
    "winrate": ("win_rate", "win_rate"),
    "calls": ("activity", "calls"),
    "meetings": ("activity", "meetings"),
    "activities": ("activity", "activities"),
    "leads": ("funnel", None),
    "plan": ("plan", "attainment"),
    "cycle": ("cycle", None),
    "звонки": ("activity", "calls"),
    "встречи": ("activity", "meetings"),
    "выручка": ("revenue", None),
}
DEFAULT_LEADERBOARD = "revenue"


def _text(*lines: str, bold_first: bool = False) -> tuple[Line, ...]:
    return tuple((Span(line, bold=bold_first and i == 0),) for i, line in enumerate(lines))


def _help_line(ctx: CommandContext, command: Command) -> str:
    names = " ".join(f"/{name}" for name in command.names)
    return f"{names} — {ctx.t(command.help_key, command.help_text or command.usage)}"


def help_command(ctx: CommandContext) -> Reply:
    """`/help`: every command the asker may use; `/help funnel`: one command, its usage and definition."""
    t = ctx.t
    if ctx.words:
        command = ctx.commands.get(ctx.words[0])
        if command is None:
            raise UserError(
                "command.unknown", "I don't know the command '/{name}'.", name=ctx.words[0].lstrip("/")
            )
        lines = [t(command.help_key, command.help_text or command.usage)]
        lines.append(t("help.usage", usage=t(f"usage.{command.name}", command.usage)))
        if command.aliases:
            lines.append(t("help.aliases", aliases=", ".join(f"/{a}" for a in command.aliases)))
        if command.metric:
            try:
                metric = get_metric(command.metric)
            except UserError:
                metric = None
            if metric is not None:
                lines.append(t(f"definition.{metric.name}", metric.description))
                if metric.defines:
                    lines.append(t("help.measures"))
                    lines += [f"• {t(f'define.{metric.name}.{key}')}" for key in metric.defines]
                # As the asker would type them: `by rep` / `по менеджерам`, `source=…` / `источник=…`.
                by = " ".join(command_words("by", t.locale))
                if metric.breakdowns:
                    words = [
                        f"{by} {' '.join(command_words(f'by.{key}', t.locale))}" for key in metric.breakdowns
                    ]
                    lines.append(t("help.breakdowns", allowed=", ".join(words)))
                if metric.filters:
                    words = [f"{command_words(f'filter.{key}', t.locale)[0]}=…" for key in metric.filters]
                    lines.append(t("help.filters", allowed=", ".join(words)))
            lines.append(t("help.grammar"))
        return Reply(title=f"/{command.name}", lines=_text(*lines), kind="info")
    visible = [
        c
        for c in ctx.commands
        if (ctx.viewer is not None or c.allowed_for_unlinked)
        and not (c.admin_only and (ctx.viewer is None or not ctx.viewer.is_admin))
    ]
    lines = [_help_line(ctx, c) for c in visible]
    lines += ["", t("help.grammar"), t("help.more")]
    return Reply(title=t("help.title"), lines=_text(*lines), kind="info")


def start_command(ctx: CommandContext) -> Reply:
    """`/start`: a greeting for a linked user; how to get linked otherwise. `/start CODE` on Telegram or Slack
    redeems a one-time invite code (bot/invites.py) and links the account it was sent from."""
    if ctx.words and ctx.request.platform in PLATFORMS:
        user_id = redeem_invite(
            ctx.engine,
            ctx.words[0],
            platform=ctx.request.platform,
            platform_user_id=ctx.request.platform_user_id,
            now=ctx.request.now,
        )
        with ctx.engine.connect() as conn:
            name = conn.execute(select(User.name).where(User.user_id == user_id)).scalar() or user_id
        return _welcome(ctx, name)
    if ctx.viewer is None:
        if ctx.words:
            return Reply(lines=_text(ctx.t("start.code_unknown")), kind="user_error")
        return Reply(lines=_text(ctx.t("start.unlinked")), kind="info")
    return _welcome(ctx, ctx.viewer.name)


def _welcome(ctx: CommandContext, name: str) -> Reply:
    return Reply(
        title=ctx.t("start.title", name=name),
        lines=_text(ctx.t("start.linked"), ctx.t("help.more")),
        kind="info",
    )


def whoami_command(ctx: CommandContext) -> Reply:
    """`/whoami`: who the bot thinks you are, your role, team, language and zone."""
    t, viewer, request = ctx.t, ctx.viewer, ctx.request
    if viewer is None:
        account = (
            f"{request.platform}:{request.platform_user_id}" if request.platform_user_id else request.platform
        )
        return Reply(lines=_text(t("whoami.unlinked", account=account), t("start.unlinked")), kind="info")
    team_ids = viewer.managed_team_ids or ((viewer.team_id,) if viewer.team_id else ())
    with ctx.engine.connect() as conn:
        teams = list(
            conn.execute(select(Team.name).where(Team.team_id.in_(team_ids)).order_by(Team.name)).scalars()
        )
    lines = [
        t("whoami.role", role=t(f"role.{viewer.role}", viewer.role), id=viewer.user_id),
        t("whoami.team", team=", ".join(teams) or "—"),
        t("whoami.settings", locale=ctx.locale, timezone=str(ctx.tz)),
    ]
    return Reply(title=viewer.name, lines=_text(*lines), kind="info")


_LANGUAGE_WORDS = {"english": "en", "английский": "en", "russian": "ru", "русский": "ru", "рус": "ru"}


def lang_command(ctx: CommandContext) -> Reply:
    """`/lang ru`: store the language and answer in it; `/lang`: say which one is in use."""
    assert ctx.viewer is not None
    if not ctx.words:
        return Reply(
            lines=_text(ctx.t("lang.current", locale=ctx.locale, allowed=", ".join(LOCALES))), kind="info"
        )
    word = ctx.words[0].lower()
    locale = _LANGUAGE_WORDS.get(word) or normalize_locale(word)
    if locale is None or len(word) > 2 and word not in _LANGUAGE_WORDS:
        raise UserError(
            "lang.unknown", "I don't speak '{word}'; try: {allowed}.", word=ctx.words[0], allowed="en, ru"
        )
    with ctx.engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == ctx.viewer.user_id).values(locale=locale))
    t = translator(locale)
    return Reply(lines=_text(t("lang.set")), kind="info", extra={"locale": locale})


def leaderboard_command(ctx: CommandContext) -> Reply:
    """`/leaderboard calls last week`: the reps in the asker's scope ranked by one measure."""
    args = parse_arguments(ctx.words, now=ctx.request.now, tz=ctx.tz)
    rest = list(args.rest)
    word = rest.pop(0).lower() if rest else DEFAULT_LEADERBOARD
    if rest:
        raise UserError("args.unknown", "I don't understand '{text}'.", text=" ".join(rest))
    metric_name, measure_key = LEADERBOARD_MEASURES.get(word, (word, None))
    metric = get_metric(metric_name)
    if "rep" not in metric.breakdowns:
        raise UserError("leaderboard.unsupported", "{metric} can't be ranked by rep.", metric=metric.title)
    # Ranked by revenue, the board shows no new revenue: the summary leaves out the costly new-customer test.
    summary = (("detail", "summary"),) if metric.name == "revenue" else ()
    q, args = effective_query(ctx, args, metric.name, options=summary)
    q = replace(q, by="rep")
    result = query(ctx.engine, ctx.settings, q, viewer=ctx.viewer)
    key = measure_key if measure_key and any(m.key == measure_key for m in result.measures) else None
    key = key or (result.headline.key if result.measures else measure_key or word)
    command_text = " ".join(["/leaderboard", *ctx.words]) if ctx.words else f"/leaderboard {word}"
    return leaderboard_reply(
        result,
        fmt=ctx.fmt,
        measure_key=key,
        command_text=command_text,
        charts=render_charts_safely(result, ctx.fmt, now=ctx.request.now, measure=key)
        if ctx.command.chart
        else (),
    )


# The commands that are not one metric, in the order of /help (after the metric commands).
BUILTIN_COMMANDS: tuple[Command, ...] = (
    Command(
        "leaderboard",
        "/leaderboard win_rate last month",
        "help.leaderboard",
        aliases=("top", "рейтинг"),
        handler=leaderboard_command,
    ),
    Command(
        "help",
        "/help funnel",
        "help.help",
        aliases=("помощь",),
        handler=help_command,
        allowed_for_unlinked=True,
        group="account",
    ),
    Command(
        "start",
        "/start",
        "help.start",
        handler=start_command,
        allowed_for_unlinked=True,
        group="account",
        changes=True,
    ),
    Command(
        "whoami",
        "/whoami",
        "help.whoami",
        aliases=("ктоя",),
        handler=whoami_command,
        allowed_for_unlinked=True,
        group="account",
    ),
    Command(
        "lang",
        "/lang ru",
        "help.lang",
        aliases=("язык", "language"),
        handler=lang_command,
        group="account",
        changes=True,
    ),
)
