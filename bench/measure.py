"""What the benchmark measures on one database: chat commands against their hand-written SQL, the morning
digests of every recipient, and each kind of chart."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine

from bench.commands import COMMAND_TEXTS, answer_with_result, charts_off, request_for
from bench.org import BenchOrg
from bench.pandas_baseline import PANDAS_BASELINES, PANDAS_COMPARED
from bench.queries import HAND_QUERIES, hand_params, result_numbers, same_number
from bench.timing import measure
from bot.conversation import Conversation
from metrics.catalogue import MetricQuery, query
from metrics.charts.render import CHART_KINDS, render_chart
from metrics.scope import Scope
from run_bot import build_registry
from storage.config.settings import DeliverySettings, Settings

__all__ = ["measure_commands", "measure_digests", "measure_charts", "CHART_SOURCES"]


def measure_commands(
    engine: Engine, settings: Settings, org: BenchOrg, reps: int, log=print, *, pandas: bool = True
) -> list[dict]:
    """Every command as a rep, a manager and an admin: reply time without and with charts, hand-written SQL time,
    and (`pandas`) the pandas version's."""
    conversation = Conversation(engine, settings, build_registry())
    rows = []
    for role, user in (("rep", org.rep_id), ("manager", org.manager_id), ("admin", org.admin_id)):
        for command, text in COMMAND_TEXTS.items():
            request = request_for(text, user, org.now)
            with charts_off(conversation, tuple(COMMAND_TEXTS)):
                _reply, result = answer_with_result(conversation, request)
                reply_time = measure(partial(conversation.handle, request), reps)
            with_charts = measure(partial(conversation.handle, request), reps, warm_up=False)
            params = hand_params(result, org.now, settings)
            hand = HAND_QUERIES[command]

            def run_hand(hand=hand, params=params) -> Any:
                with engine.connect() as conn:
                    return hand(conn, params)

            sql_time = measure(run_hand, reps, warm_up=False)
            baseline = _pandas_row(engine, command, result, params, reps) if pandas else {}
            row = {
                "command": command,
                "text": text,
                "role": role,
                "user": user,
                "scope": result.scope.label,
                "period": result.period.label,
                "reply": reply_time.as_dict(),
                "reply_with_charts": with_charts.as_dict(),
                "sql": sql_time.as_dict(),
                "ratio": round(reply_time.median_ms / sql_time.median_ms, 2) if sql_time.median_ms else None,
                **baseline,
            }
            if "pandas" in baseline and reply_time.median_ms:
                row["pandas_speedup"] = round(baseline["pandas"]["median_ms"] / reply_time.median_ms, 1)
            log(
                f"  {role:<8} {text:<26} reply {reply_time.median_ms:8.1f} ms   with charts "
                f"{with_charts.median_ms:8.1f} ms   SQL {sql_time.median_ms:8.1f} ms   ×{row['ratio']}"
                + (
                    f"   pandas {row['pandas']['median_ms']:8.1f} ms ×{row['pandas_speedup']} faster"
                    if "pandas_speedup" in row
                    else ""
                )
            )
            rows.append(row)
    return rows


def _pandas_row(engine: Engine, command: str, result: Any, params: Any, reps: int) -> dict[str, Any]:
    """The pandas baseline's time for the same question, and whether its numbers are the reply's."""
    baseline = PANDAS_BASELINES.get(command)
    if baseline is None:
        return {}

    def run_pandas() -> Any:
        with engine.connect() as conn:
            return baseline(conn, params)

    numbers = run_pandas()
    keys = list(PANDAS_COMPARED[command] or numbers)
    core = result_numbers(command, result, keys)
    differ = [k for k in keys if not same_number(core[k], numbers.get(k))]
    return {"pandas": measure(run_pandas, reps, warm_up=False).as_dict(), "pandas_compared": len(keys),
            "pandas_differ": differ}  # fmt: skip


def measure_digests(engine: Engine, settings: Settings, org: BenchOrg, reps: int) -> dict:
    """Composing the morning digests of every recipient of the benchmark day (nothing is queued)."""
    try:
        from alerts.digests.run import run_digests
    except ImportError:  # the digests are not in this checkout yet
        return {"missing": "alerts.digests.run.run_digests is not available"}
    # Every zone's morning slot falls in the day before this moment, so one pass composes them all.
    day_end = org.now + timedelta(hours=23)
    whole_day = settings.model_copy(
        update={"delivery": DeliverySettings(**{**settings.delivery.model_dump(), "catch_up_hours": 24})}
    )
    passes = []

    def compose() -> None:
        passes.append(run_digests(engine, whole_day, day_end, platforms=("console",), dry_run=True))

    timing = measure(compose, reps)
    last = passes[-1]
    return {"recipients": len({d.person.user_id for d in last.due}), "digests": len(last.replies),
            **timing.as_dict()}  # fmt: skip


CHART_SOURCES: dict[str, tuple[str, str, str | None]] = {
    # chart kind -> (metric, period, breakdown) of a result that has the chart's data, asked by the admin
    "funnel": ("funnel", "last quarter", None),
    "activity_by_type": ("activity", "yesterday", None),
    "activity_by_day": ("activity", "last month", None),
    "plan": ("plan", "this month", None),
    "plan_dynamics": ("plan", "this month", None),
    "cohorts": ("retention", "last quarter", None),
    "stages": ("stages", "last quarter", None),
    "trend": ("funnel", "last quarter", "month"),
    "breakdown": ("win_rate", "last quarter", "rep"),
    "mrr_bridge": ("mrr", "last month", None),
    "email_growth": ("email", "last month", None),
    "ltv": ("ltv", "last quarter", None),
    "cac": ("cac", "last quarter", None),
    "roi": ("roi", "last quarter", "campaign"),
    "cs": ("cs", "last quarter", None),
    "leaderboard": ("revenue", "last quarter", "rep"),
}


def measure_charts(engine: Engine, settings: Settings, org: BenchOrg, reps: int) -> list[dict]:
    """Rendering each chart kind from a real result of the benchmark org (the query is not timed)."""
    rows = []
    for kind in CHART_KINDS:
        metric, period, by = CHART_SOURCES.get(kind, ("funnel", "last quarter", None))
        scope = Scope("team", org.team_id) if by == "rep" else None
        result = query(
            engine, settings, MetricQuery(metric, org.admin_id, org.now, period, scope=scope, by=by)
        )
        size = len(render_chart(kind, result).png)
        timing = measure(partial(render_chart, kind, result), reps)
        rows.append({"kind": kind, "from": f"{metric} {period}" + (f" by {by}" if by else ""), "png_bytes": size,
                     **timing.as_dict()})  # fmt: skip
    return rows
