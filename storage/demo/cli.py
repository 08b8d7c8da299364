"""`kpibot demo`: fill the database with the demo sales organisation."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from storage.db import upgrade
from storage.demo.generate import SCALES, generate_demo
from storage.errors import UserError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="fill the database with a realistic demo sales organisation",
        description="Generate a year of CRM data for a demo sales organisation (same seed and day, same data).",
    )
    demo.add_argument(
        "--scale", choices=list(SCALES), default="small", help="how big an organisation (default small)"
    )
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.add_argument(
        "--today", type=date.fromisoformat, help="the day the data leads up to, YYYY-MM-DD (default: today)"
    )
    demo.add_argument("--replace", action="store_true", help="empty the CRM tables first if they hold data")
    demo.set_defaults(handler=_demo)


def _demo(ctx, args: argparse.Namespace) -> int:
    upgrade(ctx.engine)
    try:
        summary = generate_demo(
            ctx.engine,
            scale=args.scale,
            seed=args.seed,
            today=args.today or date.today(),
            progress=sys.stderr.isatty(),
            replace=args.replace,
            settings=ctx.settings,
        )
    except UserError as exc:
        print(f"kpibot demo: {exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0
