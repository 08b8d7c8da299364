"""Subcommands of `kpibot` that belong to this package: `digests run`, `alerts run` and `deliveries`.

`digests run` and `alerts run` run one scheduling pass as if it were `--now`: queue what is due, then deliver with
the senders available — Telegram and Slack when their tokens are set (run_bot.py opens them and passes them in),
else the console sender (stdout, or `--console-file`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from alerts.delivery import DELIVERY_STATUSES
from alerts.delivery.console import ConsoleSender
from bot.reply.sender import Sender
from storage.cli import CliContext

# Opens the chat platforms' senders for one pass (those whose tokens are set), and closes them after.
SendersFactory = Callable[[CliContext], contextlib.AbstractAsyncContextManager[dict[str, Sender]]]

__all__ = ["register", "parse_now"]


def parse_now(text: str | None) -> datetime:
    """`2026-11-20T09:00+01:00` → that moment; without an offset it is UTC; None → the current time."""
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _add_pass_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    parser.add_argument("--now", help="run as if it were this moment (ISO 8601; default: now)")
    parser.add_argument("--dry-run", action="store_true", help="compute and show, queue and send nothing")
    parser.add_argument("--console-file", help="the console sender appends one JSON line per message here")
    parser.add_argument("--no-send", action="store_true", help="queue only; leave delivery to the next pass")


def register(subparsers: argparse._SubParsersAction, *, senders: SendersFactory) -> None:
    """Add this package's subcommands; `digests run` and `alerts run` deliver through `senders`."""
    digests = subparsers.add_parser("digests", help="digests: run one scheduling pass")
    digests_sub = digests.add_subparsers(dest="digests_command", metavar="ACTION", required=True)
    run = digests_sub.add_parser("run", help="queue the digests due at --now and deliver them")
    _add_pass_options(run)
    run.set_defaults(handler=partial(_digests_run, open_senders=senders))

    alerts = subparsers.add_parser("alerts", help="alerts: run one evaluation pass")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    run = alerts_sub.add_parser("run", help="evaluate the rules due at --now and deliver their notices")
    _add_pass_options(run)
    run.set_defaults(handler=partial(_alerts_run, open_senders=senders))

    milestones = subparsers.add_parser("milestones", help="plan milestones: run one pass")
    milestones_sub = milestones.add_subparsers(dest="milestones_command", metavar="ACTION", required=True)
    run = milestones_sub.add_parser("run", help="queue the plan milestones passed at --now and deliver them")
    _add_pass_options(run)
    run.set_defaults(handler=partial(_milestones_run, open_senders=senders))

    deliveries = subparsers.add_parser("deliveries", help="show what was sent, pending and failed")
    deliveries.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    deliveries.add_argument("--status", choices=DELIVERY_STATUSES)
    deliveries.add_argument("--limit", type=int, default=50)
    deliveries.set_defaults(handler=_deliveries)


@contextlib.asynccontextmanager
async def _senders(
    ctx: CliContext, args: argparse.Namespace, open_senders: SendersFactory
) -> AsyncIterator[dict]:
    """The platforms' senders (those whose token is set); the console sender when there is none."""
    async with open_senders(ctx) as found:
        senders: dict[str, Sender] = dict(found)
        if not senders:
            senders["console"] = ConsoleSender(args.console_file)
        yield senders


async def _deliver(
    ctx: CliContext, args, now: datetime, queue, open_senders: SendersFactory
) -> tuple[Any, Any]:
    from alerts.delivery.held import release_held
    from alerts.delivery.outbox import drain_outbox

    async with _senders(ctx, args, open_senders) as senders:
        found = await asyncio.to_thread(queue, list(senders))
        if args.dry_run or args.no_send:
            return found, None
        await asyncio.to_thread(release_held, ctx.engine, now)
        report = await drain_outbox(
            ctx.engine, senders, now, delivery=ctx.settings.delivery, redact=ctx.redact
        )
        return found, report


def _print_report(report) -> None:
    if report is not None:
        print(f"sent {len(report.sent)}, retrying {len(report.retried)}, dead {len(report.dead)}")


def _digests_run(ctx: CliContext, args: argparse.Namespace, *, open_senders: SendersFactory) -> int:
    from alerts.digests.run import run_digests

    now = parse_now(args.now)
    found, report = asyncio.run(
        _deliver(
            ctx,
            args,
            now,
            lambda names: run_digests(ctx.engine, ctx.settings, now, platforms=names, dry_run=args.dry_run),
            open_senders,
        )
    )
    if args.dry_run:
        for key, reply in found.replies.items():
            print(f"--- {key}\n{reply.plain_text}")
    print(
        f"digests due {len(found.due)}: queued {len(found.queued)}, already queued {len(found.already)}, "
        f"unreachable {len(found.unreachable)}"
    )
    _print_report(report)
    return 0


def _alerts_run(ctx: CliContext, args: argparse.Namespace, *, open_senders: SendersFactory) -> int:
    from alerts.rules.run import run_alerts

    now = parse_now(args.now)
    found, report = asyncio.run(
        _deliver(
            ctx,
            args,
            now,
            lambda names: run_alerts(ctx.engine, ctx.settings, now, platforms=names, dry_run=args.dry_run),
            open_senders,
        )
    )
    for rule_id, scope_key, outcome in found.evaluations:
        print(f"{rule_id} {scope_key}: {outcome}")
    for rule_id, error in found.errors.items():
        print(f"{rule_id}: error: {error}", file=sys.stderr)
    print(f"alerts evaluated {len(found.evaluations)}: queued {len(found.queued)}")
    _print_report(report)
    return 1 if found.errors else 0


def _milestones_run(ctx: CliContext, args: argparse.Namespace, *, open_senders: SendersFactory) -> int:
    from alerts.rules.milestones import run_milestones

    now = parse_now(args.now)
    found, report = asyncio.run(
        _deliver(
            ctx,
            args,
            now,
            lambda names: run_milestones(
                ctx.engine, ctx.settings, now, platforms=names, dry_run=args.dry_run
            ),
            open_senders,
        )
    )
    for key in found.due:
        print(key)
    for rule_id, error in found.errors.items():
        print(f"{rule_id}: error: {error}", file=sys.stderr)
    for warning in found.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if found.stale:
        print("the data is stale: no milestone announced", file=sys.stderr)
    print(f"milestones due {len(found.due)}: queued {len(found.queued)}, already told {len(found.already)}")
    _print_report(report)
    return 1 if found.errors else 0


def _deliveries(ctx: CliContext, args: argparse.Namespace) -> int:
    from alerts.delivery.outbox import deliveries, status_counts

    counts = status_counts(ctx.engine)
    print(", ".join(f"{status} {counts.get(status, 0)}" for status in DELIVERY_STATUSES))
    for item in deliveries(ctx.engine, status=args.status, limit=args.limit, redact=ctx.redact):
        # A held message shows when it is released; a sent one when it went out; the others when they are due.
        when = item.sent_at or item.release_at or item.next_attempt_at
        error = f"  error: {item.last_error}" if item.last_error and item.status != "sent" else ""
        print(
            f"{item.id:>5} {item.status:<8} {when:%Y-%m-%d %H:%M} {item.platform}:{item.chat_id} "
            f"{item.key} (attempts {item.attempts}){error}"
        )
    return 0
