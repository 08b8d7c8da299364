"""The pandas baseline: each command's numbers the way a home-grown bot computes them — the CRM tables it needs read
into pandas (`pd.read_sql` of whole tables, or of a table's rows in a date range), then filtered, joined and counted
in pandas.

Each function takes the same HandParams as the hand-written SQL (bench/queries.py) and returns the same keys, so
tests/bench/test_pandas_baseline.py can check every number against the reply's MetricResult. Covered: /funnel,
/activity (all but the qualifying calls), /plan (each line's actual, target and attainment this month), /cycle,
/winrate and /leaderboard; /retention, /stages and /sql have no pandas version (docs/benchmark.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from bench.queries import HandParams, Numbers, _money
from metrics.result import ratio

__all__ = ["PANDAS_BASELINES", "PANDAS_COMPARED"]

PandasBaseline = Callable[[Connection, HandParams], Numbers]


def _table(
    conn: Connection, table: str, dates: tuple[str, ...] = (), where: str = "", **bound: Any
) -> pd.DataFrame:
    """`SELECT * FROM table [WHERE …]` as a DataFrame, its timestamp columns parsed (SQLite returns text)."""
    frame = pd.read_sql(
        text(f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")), conn, params=bound
    )
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


def _mine(frame: pd.DataFrame, p: HandParams, column: str = "owner_id") -> pd.DataFrame:
    return frame if p.owner_ids is None else frame[frame[column].isin(p.owner_ids)]


def _within(series: pd.Series, p: HandParams) -> pd.Series:
    return (series >= p.start) & (series < p.end)


def funnel(conn: Connection, p: HandParams) -> Numbers:
    """Leads created in the period and how many reached each stage by now."""
    stages = p.settings.funnel.stages
    leads = _mine(
        _table(conn, "leads", ("created_at",), "created_at >= :s AND created_at < :e", s=p.start, e=p.end), p
    )
    events = _table(conn, "lead_stage_events", ("entered_at",))
    deals = _table(conn, "deals", ("created_at", "closed_at"))
    ids = set(leads["lead_id"])
    entries = [
        events.loc[
            events["lead_id"].isin(ids) & events["stage"].isin(stages), ["lead_id", "stage", "entered_at"]
        ],
        leads[["lead_id", "created_at"]].rename(columns={"created_at": "entered_at"}).assign(stage=stages[0]),
    ]
    linked = deals[deals["lead_id"].isin(ids)]
    if "opportunity" in stages:
        opened = linked[["lead_id", "created_at"]].rename(columns={"created_at": "entered_at"})
        entries.append(opened.assign(stage="opportunity"))
    if "won" in stages:
        won = linked[(linked["status"] == "won") & linked["closed_at"].notna()]
        entries.append(
            won[["lead_id", "closed_at"]].rename(columns={"closed_at": "entered_at"}).assign(stage="won")
        )
    reached = pd.concat(entries)
    reached = reached[reached["entered_at"] <= p.now]
    reached["rank"] = reached["stage"].map({s: i for i, s in enumerate(stages)})
    furthest = reached.groupby("lead_id")["rank"].max()
    return {stage: int((furthest >= i).sum()) if i else len(leads) for i, stage in enumerate(stages)}


def activity(conn: Connection, p: HandParams) -> Numbers:
    """Done by type, assigned, completion, overdue and activities per won deal."""
    all_acts = _table(conn, "activities", ("created_at", "completed_at", "due_at"))
    acts = _mine(all_acts, p)
    deals = _mine(_table(conn, "deals", ("closed_at",)), p)
    status = acts["status"].fillna("planned")
    done = acts[(acts["status"] == "done") & _within(acts["completed_at"], p)]
    by_type = done["type"].value_counts()
    kinds = {"call": "calls", "meeting": "meetings", "email": "emails", "task": "tasks", "demo": "demos",
             "proposal": "proposals"}  # fmt: skip
    numbers: Numbers = {"activities": len(done)}
    for kind, key in kinds.items():
        numbers[key] = int(by_type.get(kind, 0))
    numbers["other"] = int(by_type[~by_type.index.isin(list(kinds))].sum())
    due = acts[_within(acts["due_at"], p)]
    won = deals[(deals["status"] == "won") & _within(deals["closed_at"], p)]
    on_won = all_acts[(all_acts["status"] == "done") & all_acts["deal_id"].isin(set(won["deal_id"]))]
    numbers.update(
        assigned=int(_within(acts["created_at"], p).sum()),
        completion_rate=ratio(
            int((due["status"] == "done").sum()), int((due["status"].fillna("planned") != "cancelled").sum())
        ),
        overdue=int(((acts["due_at"] < p.now) & ~status.isin(["done", "cancelled"])).sum()),
        activities_per_won_deal=ratio(len(on_won), len(won)),
    )
    return numbers


_PLAN_METRICS = ("revenue", "deals_won", "new_leads", "calls", "meetings")


def plan(conn: Connection, p: HandParams) -> Numbers:
    """Each plan line's actual, target and attainment this month."""
    deals = _mine(_table(conn, "deals", ("closed_at",)), p)
    leads = _mine(_table(conn, "leads", ("created_at",)), p)
    acts = _mine(_table(conn, "activities", ("completed_at",)), p)
    won = deals[(deals["status"] == "won") & _within(deals["closed_at"], p)]
    done = acts[(acts["status"] == "done") & _within(acts["completed_at"], p)]
    actuals = {
        "revenue": _money(sum(won["amount"].map(_money))) if len(won) else _money(0),
        "deals_won": len(won),
        "new_leads": int(_within(leads["created_at"], p).sum()),
        "calls": int((done["type"] == "call").sum()),
        "meetings": int((done["type"] == "meeting").sum()),
    }
    plans = _table(conn, "plans")
    users = _table(conn, "users")
    reps = set(users.loc[users["role"] == "rep", "user_id"])
    month = p.period.start_date.strftime("%Y-%m")
    rows = plans[(plans["period"] == month) & (plans["scope"] == "user") & (plans["product_id"] == "")
                 & plans["scope_id"].isin(reps)]  # fmt: skip
    rows = _mine(rows, p, "scope_id")
    numbers: Numbers = {}
    for metric in _PLAN_METRICS:
        targets = rows.loc[rows["metric"] == metric, "target"]
        target = _money(sum(targets.map(_money))) if metric == "revenue" and len(targets) else (
            targets.sum() if len(targets) else None)  # fmt: skip
        numbers.update({f"{metric}.actual": actuals[metric], f"{metric}.target": target,
                        f"{metric}.attainment": ratio(actuals[metric], target)})  # fmt: skip
    return numbers


def cycle(conn: Connection, p: HandParams) -> Numbers:
    """Days from the lead's (else the deal's) creation to the win, for deals won in the period."""
    deals = _mine(_table(conn, "deals", ("created_at", "closed_at")), p)
    leads = _table(conn, "leads", ("created_at",))[["lead_id", "created_at"]]
    won = deals[(deals["status"] == "won") & _within(deals["closed_at"], p)]
    joined = won.merge(leads, on="lead_id", how="left", suffixes=("", "_lead"))
    began = joined["created_at_lead"].fillna(joined["created_at"])
    days = [float(x) for x in (joined["closed_at"] - began).dt.total_seconds() / 86400.0]
    if not days:
        return {"median_days": None, "mean_days": None, "deals": 0}
    return {"median_days": statistics.median(days), "mean_days": statistics.fmean(days), "deals": len(days)}


def win_rate(conn: Connection, p: HandParams) -> Numbers:
    """Deals won and lost in the period, leads created in it, and leads in the pipeline during it."""
    deals = _table(conn, "deals", ("closed_at",))
    mine = _mine(deals, p)
    closed = mine[_within(mine["closed_at"], p)]
    won, lost = int((closed["status"] == "won").sum()), int((closed["status"] == "lost").sum())
    leads = _mine(_table(conn, "leads", ("created_at",), "created_at < :e", e=p.end), p)
    events = _table(conn, "lead_stage_events", ("entered_at",))
    closers = [*p.settings.funnel.terminal_stages, "won"]
    gone = set(events.loc[events["stage"].isin(closers) & (events["entered_at"] < p.start), "lead_id"])
    gone |= set(deals.loc[deals["lead_id"].notna() & deals["status"].isin(["won", "lost"])
                          & (deals["closed_at"] < p.start), "lead_id"])  # fmt: skip
    pipeline = leads[~leads["lead_id"].isin(gone)]
    new = int((pipeline["created_at"] >= p.start).sum())
    return {
        "win_rate": ratio(won, won + lost),
        "won": won,
        "lost": lost,
        "close_rate": ratio(won, len(pipeline)),
        "leads_per_deal": ratio(new, won),
        "leads": new,
        "pipeline_leads": len(pipeline),
    }


def leaderboard(conn: Connection, p: HandParams) -> Numbers:
    """Revenue won per rep in the period."""
    deals = _mine(_table(conn, "deals", ("closed_at",)), p)
    won = deals[(deals["status"] == "won") & _within(deals["closed_at"], p)]
    totals = won.groupby("owner_id")["amount"].agg(lambda amounts: sum(_money(a) for a in amounts))
    return {f"revenue:{owner}": _money(total) for owner, total in totals.items() if total}


PANDAS_BASELINES: dict[str, PandasBaseline] = {
    "funnel": funnel,
    "activity": activity,
    "plan": plan,
    "cycle": cycle,
    "winrate": win_rate,
    "leaderboard": leaderboard,
}
"""Command name -> its pandas version (the commands without one are not timed against pandas)."""

PANDAS_COMPARED: dict[str, tuple[str, ...] | None] = {
    "funnel": None,
    "activity": ("activities", "calls", "meetings", "emails", "tasks", "demos", "proposals", "other", "assigned",
                 "completion_rate", "overdue", "activities_per_won_deal"),
    "plan": None,
    "cycle": None,
    "winrate": None,
    "leaderboard": None,
}  # fmt: skip
"""Which of the pandas numbers are checked against the MetricResult (None: all it returns)."""
