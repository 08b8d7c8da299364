"""`/bind team NAME`: an admin binds a group chat to a team, so the bot answers there at team level.

The binding is kept per platform and chat id (`chat_bindings`), so the same command works for a Slack channel.
In a bound group a bare `/funnel` is the team's funnel; asking for one rep still needs the asker's right to see
that rep, checked by the metrics core as everywhere else.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, or_, select

from bot.reply.command import Command, CommandContext
from bot.reply.messages import Reply, Span
from storage.errors import UserError
from storage.schema import ChatBinding, Team
from storage.times import naive_utc

__all__ = ["bound_team", "bind_command", "BIND_COMMAND"]

_TEAM_WORDS = ("team", "команда", "команду")
_OFF_WORDS = ("off", "none", "выкл")


def bound_team(conn: Connection, platform: str, chat_id: str) -> str | None:
    """The team a group chat is bound to, or None."""
    return conn.execute(
        select(ChatBinding.team_id).where(ChatBinding.platform == platform, ChatBinding.chat_id == chat_id)
    ).scalar()


def _reply(text: str) -> Reply:
    return Reply(lines=((Span(text),),), kind="info")


def bind_command(ctx: CommandContext) -> Reply:
    """Bind this group to a team (`/bind team Alpha`), show the binding (`/bind`), or remove it (`/bind off`)."""
    request, t = ctx.request, ctx.t
    if request.chat_type != "group":
        raise UserError("bind.group_only", "Send /bind in the group chat you want to bind to a team.")
    assert ctx.viewer is not None  # admin_only: the conversation lets only admins through
    words = list(ctx.words)
    if words and words[0].lower() in _TEAM_WORDS:
        words = words[1:]
    with ctx.engine.begin() as conn:
        if not words:
            team_id = bound_team(conn, request.platform, request.chat_id)
            if team_id is None:
                return _reply(t("bind.none", "This chat is not bound to a team. Try: /bind team NAME"))
            name = conn.execute(select(Team.name).where(Team.team_id == team_id)).scalar() or team_id
            return _reply(t("bind.current", "This chat is bound to team {team}.", team=name))
        this_chat = (ChatBinding.platform == request.platform) & (ChatBinding.chat_id == request.chat_id)
        if len(words) == 1 and words[0].lower() in _OFF_WORDS:
            conn.execute(delete(ChatBinding).where(this_chat))
            return _reply(t("bind.removed", "This chat is no longer bound to a team."))
        ref = " ".join(words)
        teams = conn.execute(
            select(Team.team_id, Team.name).where(
                or_(Team.team_id == ref, func.lower(Team.name) == ref.lower())
            )
        ).all()
        if len(teams) != 1:
            raise UserError("bind.unknown_team", "There is no team '{team}'.", team=ref)
        team_id, name = teams[0]
        conn.execute(delete(ChatBinding).where(this_chat))
        conn.execute(
            insert(ChatBinding).values(
                platform=request.platform,
                chat_id=request.chat_id,
                team_id=team_id,
                bound_by=ctx.viewer.user_id,
                bound_at=naive_utc(request.now),
            )
        )
    return _reply(
        t("bind.done", "This chat is now bound to team {team}: commands here answer for the team.", team=name)
    )


BIND_COMMAND = Command(
    "bind",
    "/bind team Alpha",
    "help.bind",
    aliases=("привязать",),
    handler=bind_command,
    admin_only=True,
    chart=False,
    help_text="Bind this group chat to a team (admins): /bind team NAME, /bind off.",
    group="team",
    changes=True,
    shows="/help bind",
)
