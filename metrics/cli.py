"""`kpibot metric …`: any metric of the catalogue from the command line, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from metrics.catalogue import BREAKDOWNS, MetricQuery, catalogue, query
from metrics.result import Measure, MetricResult
from metrics.scope import Scope
from storage.errors import UserError

__all__ = ["register", "parse_scope", "result_to_json"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot metric`."""
    p = subparsers.add_parser(
        "metric",
        help="compute one metric (for admins and scripts)",
        description="Compute one metric of the catalogue as a given user would see it.",
    )
    p.add_argument("name", nargs="?", help="metric name (see --list)")
    p.add_argument("--list", action="store_true", help="list the catalogue with one-line definitions")
    p.add_argument(
        "--period", default="", help="period words, e.g. 'last month', 2026-Q3 (default: this month)"
    )
    p.add_argument("--scope", default=None, help="me | team | team:NAME | org | rep:ID (default: by role)")
    p.add_argument("--by", choices=BREAKDOWNS, help="break the metric down")
    p.add_argument("--filter", action="append", default=[], metavar="NAME=VALUE", help="source=…, segment=…")
    p.add_argument(
        "--vs", choices=("prev", "year"), help="compare with the previous period or a year earlier"
    )
    p.add_argument("--mode", choices=("cohort", "flow"), help="funnel mode")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", help="metric option")
    p.add_argument("--as", dest="as_user", help="compute as this user id (permissions apply)")
    p.add_argument("--now", help="ISO timestamp to compute as of (default: now)")
    p.add_argument("--json", action="store_true", help="print raw values as JSON")
    p.set_defaults(handler=_run)


def parse_scope(text: str | None) -> Scope | None:
    """`me`, `org`, `team`, `team:NAME`, `rep:ID` or `@ID` as a Scope (None: the viewer's default)."""
    if not text:
        return None
    kind, _, ref = text.partition(":")
    if text.startswith("@"):
        return Scope("rep", text[1:])
    if kind in ("me", "org") and not ref:
        return Scope(kind)  # type: ignore[arg-type]
    if kind in ("team", "rep"):
        return Scope(kind, ref or None)  # type: ignore[arg-type]
    raise UserError("scope.bad", "I don't understand the scope '{text}'.", text=text)


def _pairs(items: list[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError("cli.pair", "--{what} takes NAME=VALUE, not '{item}'.", what=what, item=item)
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _run(ctx, args: argparse.Namespace) -> int:
    if args.list or not args.name:
        for metric in catalogue():
            first_sentence = metric.description.split(". ")[0].rstrip(".")
            print(f"{metric.name:<12} {metric.title}: {first_sentence}.")
        return 0
    if not args.as_user:
        print("kpibot metric: --as USER_ID is required (permissions depend on who asks)", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=ctx.settings.org.tz)
        q = MetricQuery(
            metric=args.name,
            viewer_id=args.as_user,
            now=now,
            period=args.period,
            scope=parse_scope(args.scope),
            filters=_pairs(args.filter, "filter"),
            by=args.by,
            compare=args.vs,
            mode=args.mode,
            options=_pairs(args.option, "option"),
        )
        result = query(ctx.engine, ctx.settings, q)
    except UserError as exc:
        print(f"kpibot metric: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result_to_json(result), indent=2, ensure_ascii=False))
    else:
        print(render_text(result))
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _measure_json(m: Measure) -> dict[str, Any]:
    return {
        "key": m.key,
        "label": m.label,
        "unit": m.unit,
        "value": _plain(m.value),
        "previous": _plain(m.previous),
        "delta": m.delta,
        "detail": m.detail,
    }


def result_to_json(result: MetricResult) -> dict[str, Any]:
    """The raw values of a result, for scripts."""
    return {
        "metric": result.metric,
        "title": result.title,
        "definition": result.description,
        "period": {
            "label": result.period.label,
            "start": _plain(result.period.start),
            "end": _plain(result.period.end),
        },
        "comparison": result.comparison,
        "comparison_period": (
            {"start": _plain(result.comparison_period.start), "end": _plain(result.comparison_period.end)}
            if result.comparison_period
            else None
        ),
        "scope": {"kind": result.scope.kind, "label": result.scope.label, "key": result.scope.key},
        "mode": result.mode,
        "measures": [_measure_json(m) for m in result.measures],
        "breakdown_by": result.breakdown_by,
        "rows": [
            {"key": r.key, "label": r.label, "measures": [_measure_json(m) for m in r.measures]}
            for r in result.rows
        ],
        "series": [
            {"key": s.key, "label": s.label, "unit": s.unit, "points": [[x, _plain(y)] for x, y in s.points]}
            for s in result.series
        ],
        "tables": [
            {
                "key": t.key,
                "title": t.title,
                "columns": list(t.columns),
                "rows": [[_plain(c) for c in r] for r in t.rows],
            }
            for t in result.tables
        ],
        "notes": [str(note) for note in result.notes],
    }


def _fmt(m: Measure | None) -> str:
    if m is None or m.value is None:
        return "n/a"
    v = float(m.value)
    if m.unit == "percent":
        return f"{v * 100:.1f} %"
    if m.unit == "money":
        return f"{v:,.2f}"
    if m.unit in ("days", "ratio", "number"):
        return f"{v:,.1f}"
    return f"{v:,.0f}"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_text(result: MetricResult) -> str:
    """A plain-text table of a result."""
    head = f"{result.title} — {result.scope.label} — {result.period.label}"
    if result.mode:
        head += f" ({result.mode})"
    header = ["measure", "value"] + (["previous", "delta"] if result.comparison else [])
    rows = []
    for m in result.measures:
        row = [m.label, _fmt(m)]
        if result.comparison:
            prev = Measure(m.key, m.label, m.unit, m.previous)
            delta = (
                "n/a" if m.delta is None else f"{m.delta * 100:+.1f} {'pp' if m.unit == 'percent' else '%'}"
            )
            row += [_fmt(prev), delta]
        rows.append(row)
    parts = [head, _grid(header, rows)]
    if result.rows:
        keys = [m.key for m in result.rows[0].measures]
        labels = [m.label for m in result.rows[0].measures]
        table = [
            [r.label] + [_fmt(next((m for m in r.measures if m.key == k), None)) for k in keys]
            for r in result.rows
        ]
        parts += ["", f"by {result.breakdown_by}", _grid([result.breakdown_by or ""] + labels, table)]
    for t in result.tables:
        parts += ["", t.title, _grid(list(t.columns), [[_plain_cell(c) for c in r] for r in t.rows])]
    parts += ["", result.description, *(str(note) for note in result.notes)]
    return "\n".join(parts)


def _plain_cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(_plain(value))
