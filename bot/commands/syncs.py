"""`/syncs [N]`: an admin's view of the last CRM syncs — when each started (in the asker's zone), how it ended, what
it read, wrote, rejected and deleted, and why it failed — from the `sync_runs` log (storage/crm/runs.py), the
same runs `kpibot syncs` lists."""

from __future__ import annotations

from datetime import datetime

from bot.reply.command import Command, CommandContext
from bot.reply.messages import Line, Reply, Span
from storage.config.secrets import Redactor
from storage.crm.runs import RunRow, recent_runs
from storage.errors import UserError

__all__ = ["syncs_command", "SYNCS_COMMAND"]

DEFAULT_RUNS = 10
MAX_RUNS = 30
_ERROR_CHARS = 200


def _when(ctx: CommandContext, moment: datetime) -> str:
    local = moment.astimezone(ctx.tz)
    return f"{ctx.fmt.date(local.date())} {local:%H:%M}"


def _run_lines(ctx: CommandContext, run: RunRow, redact: Redactor) -> list[Line]:
    t = ctx.t
    status = t(f"syncs.status.{run.status}", run.status)
    head = f"#{run.id} {run.crm} · {_when(ctx, run.started_at)} · {status}"
    if run.full:
        head += f" ({t('syncs.full', 'full')})"
    if run.finished_at is not None:
        head += " · " + t("syncs.took", "{seconds} s", seconds=ctx.fmt.count(
            round((run.finished_at - run.started_at).total_seconds())))  # fmt: skip
    counts = t(
        "syncs.counts",
        "read {read} · written {written} · rejected {rejected} · deleted {deleted}",
        read=ctx.fmt.count(run.read),
        written=ctx.fmt.count(run.written),
        rejected=ctx.fmt.count(run.rejected),
        deleted=ctx.fmt.count(run.deleted),
    )
    lines: list[Line] = [(Span(head, bold=True),), (Span(counts),)]
    if run.error:
        error = " ".join(redact(run.error).split())
        if len(error) > _ERROR_CHARS:
            error = error[: _ERROR_CHARS - 1] + "…"
        lines.append((Span(t("syncs.error", "error: {error}", error=error), italic=True),))
    return lines


def syncs_command(ctx: CommandContext) -> Reply:
    """`/syncs`: the last 10 CRM syncs; `/syncs 3`: the last 3 (admins)."""
    limit = DEFAULT_RUNS
    if ctx.words:
        word = ctx.words[0]
        if not word.isdigit() or not 1 <= int(word) <= MAX_RUNS:
            raise UserError("syncs.limit", "Try: /syncs or /syncs N, N from 1 to {max}.", max=MAX_RUNS)
        limit = int(word)
    with ctx.engine.connect() as conn:
        runs = recent_runs(conn, limit)
    t = ctx.t
    title = t("syncs.title", "CRM syncs ({zone})", zone=str(ctx.tz))
    if not runs:
        text = t("syncs.none", "No CRM sync has run yet (the data comes from file imports).")
        return Reply(title=title, lines=((Span(text),),), kind="info")
    redact = Redactor.from_settings(ctx.settings)
    lines: list[Line] = []
    for run in runs:
        lines.extend(_run_lines(ctx, run, redact))
    return Reply(title=title, lines=tuple(lines), kind="info")


SYNCS_COMMAND = Command(
    "syncs",
    "/syncs 5",
    "help.syncs",
    aliases=("синхронизации",),
    handler=syncs_command,
    admin_only=True,
    chart=False,
    help_text="The last CRM syncs: when, how they ended, what they read and wrote (admins).",
    group="team",
)
