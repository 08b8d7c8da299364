"""`kpibot db …`, and the registration of `kpibot import …` and `kpibot demo …`."""

from __future__ import annotations

import argparse

from storage.db import upgrade
from storage.demo import cli as demo_cli
from storage.importing import cli as import_cli


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the storage subcommands."""
    db = subparsers.add_parser("db", help="create or upgrade the database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema to the newest version")
    up.set_defaults(handler=_db_upgrade)
    import_cli.register(subparsers)
    demo_cli.register(subparsers)


def _db_upgrade(ctx, args: argparse.Namespace) -> int:
    upgrade(ctx.engine)
    print(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")
    return 0
