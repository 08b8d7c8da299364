"""The reference's reading of sales activity (SPEC 3.1), plan execution (3.4) and the sales cycle (3.5)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from storage.config.settings import Settings
from tests.crosscheck.reference import (
    DAY,
    Frames,
    Window,
    mine,
    ratio,
    stage_entries,
    won_in,
)

__all__ = ["activity", "plan_line", "plan_target", "working_days", "sales_cycle", "PLAN_METRICS"]

_TYPE_KEYS = {
    "call": "calls",
    "meeting": "meetings",
    "email": "emails",
    "task": "tasks",
    "demo": "demos",
    "proposal": "proposals",
    "other": "other",
}
PLAN_METRICS = ("revenue", "deals_won", "new_leads", "calls", "meetings", "activities")


def _activities_of(frames: Frames, owners: tuple[str, ...] | None) -> pd.DataFrame:
    return frames.activities[mine(frames.activities["owner_id"], owners)]


def _done_in(activities: pd.DataFrame, window: Window) -> pd.DataFrame:
    return activities[(activities["status"] == "done") & window.holds(activities["completed_at"])]


def activity(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.1: done activities by type, assigned, completion rate, overdue, qualifying calls, per won deal."""
    mine_ = _activities_of(frames, owners)
    done = _done_in(mine_, window)
    out: dict = {"activities": len(done)}
    for kind, key in _TYPE_KEYS.items():
        out[key] = int((done["type"] == kind).sum())
    out["assigned"] = int(window.holds(mine_["created_at"]).sum())
    due = mine_[window.holds(mine_["due_at"]) & (mine_["status"] != "cancelled")]
    done_by_now = (due["status"] == "done") & (due["completed_at"] < window.now)
    out["completion_rate"] = ratio(int(done_by_now.sum()), len(due))
    overdue = (mine_["due_at"] < window.now) & ~mine_["status"].isin(["done", "cancelled"])
    out["overdue"] = int(overdue.sum())
    out["qualifying_calls"] = _qualifying_calls(frames, settings, window, done)
    won = won_in(frames, window, owners)
    linked = frames.activities[frames.activities["deal_id"].isin(won["deal_id"])]
    out["activities_per_won_deal"] = ratio(int((linked["status"] == "done").sum()), len(won))
    return out


def _qualifying_calls(frames: Frames, settings: Settings, window: Window, done: pd.DataFrame) -> int:
    """Done calls on a lead after which, within the qualify window, the lead entered a stage beyond the furthest
    it had reached at the call."""
    stages = settings.funnel.stages
    calls = done[(done["type"] == "call") & done["lead_id"].notna()]
    reached = stage_entries(frames, stages, window.now)
    horizon = timedelta(days=settings.activity.qualify_window_days)
    count = 0
    for call in calls.itertuples():
        if call.lead_id not in reached.index:
            continue
        entries = reached.loc[call.lead_id]
        at = call.completed_at
        furthest = max((i for i, stage in enumerate(stages) if entries[stage] <= at), default=-1)
        later = entries.iloc[furthest + 1 :]
        count += bool(((later > at) & (later <= at + horizon)).any())
    return count


# --- plan -----------------------------------------------------------------------------------------------------------


def working_days(settings: Settings, first: date, end: date) -> list[date]:
    """Monday to Friday from `first` up to (not including) `end`, minus the organisation's holidays."""
    days = [first + DAY * i for i in range((end - first).days)]
    return [d for d in days if d.weekday() < 5 and d not in settings.org.holidays]


def plan_target(
    frames: Frames, viewer_kind: str, ids: tuple[str, ...], period: str, metric: str
) -> float | None:
    """SPEC 3.4 roll-up: a rep's own row; a team's own row or its members' rows added up; the org's own row or
    its teams' targets added up. None when there is no plan at all."""
    plans = frames.plans[(frames.plans["period"] == period) & (frames.plans["metric"] == metric)]
    plans = plans[plans["product_id"].fillna("") == ""]

    def rows(scope: str, scope_id: str) -> pd.Series:
        return plans.loc[(plans["scope"] == scope) & (plans["scope_id"].fillna("") == scope_id), "target"]

    def team(team_id: str) -> float | None:
        own = rows("team", team_id)
        if len(own):
            return float(own.sum())
        members = frames.users.loc[frames.users["team_id"] == team_id, "user_id"]
        found = [float(rows("user", m).sum()) for m in members if len(rows("user", m))]
        return sum(found) if found else None

    if viewer_kind == "rep":
        own = rows("user", ids[0])
        return float(own.sum()) if len(own) else None
    if viewer_kind == "team":
        found = [t for t in (team(i) for i in ids) if t is not None]
        return sum(found) if found else None
    own = rows("org", "")
    if len(own):
        return float(own.sum())
    found = [t for t in (team(i) for i in frames.teams["team_id"]) if t is not None]
    return sum(found) if found else None


def plan_actual(frames: Frames, window: Window, owners: tuple[str, ...] | None, metric: str) -> float:
    """What was done towards a plan line in the period."""
    if metric in ("revenue", "deals_won"):
        won = won_in(frames, window, owners)
        return float(won["amount"].sum()) if metric == "revenue" else len(won)
    if metric == "new_leads":
        leads = frames.leads[mine(frames.leads["owner_id"], owners)]
        return int(window.holds(leads["created_at"]).sum())
    done = _done_in(_activities_of(frames, owners), window)
    if metric == "activities":
        return len(done)
    return int((done["type"] == {"calls": "call", "meetings": "meeting"}[metric]).sum())


def plan_line(
    frames: Frames,
    settings: Settings,
    window: Window,
    owners: tuple[str, ...] | None,
    target: float | None,
    metric: str,
) -> dict:
    """SPEC 3.4: actual, target, attainment, pace, forecast and needed per working day for one plan line.

    Elapsed share = working days already over (local days before today) / the period's working days.
    """
    actual = plan_actual(frames, window, owners, metric)
    days = working_days(settings, window.first_day, window.end_day)
    today_local = pd.Timestamp(window.now, tz="UTC").tz_convert(window.tz).date()
    over = [d for d in days if d < today_local]
    share = ratio(len(over), len(days))
    left = len(days) - len(over)
    return {
        f"{metric}.actual": actual,
        f"{metric}.target": target,
        f"{metric}.attainment": ratio(actual, target),
        f"{metric}.pace": None if target is None or share is None else ratio(actual, target * share),
        f"{metric}.forecast": ratio(actual, share),
        f"{metric}.needed_per_day": _needed_per_day(actual, target, left),
    }


def _needed_per_day(actual: float, target: float | None, days_left: int) -> float | None:
    """Nothing is needed once the plan is made; a period with no working day left needs nothing of anyone any more
    (n/a, made or missed alike, so a closed period reads the same for everyone)."""
    if target is None or days_left == 0:
        return None
    if actual >= target:
        return 0.0
    return ratio(target - actual, days_left)


# --- pipeline speed -------------------------------------------------------------------------------------------------


def sales_cycle(frames: Frames, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.5: deals won in the period, days from the linked lead's creation (else the deal's) to the close."""
    won = won_in(frames, window, owners)
    lead_created = won["lead_id"].map(frames.leads.set_index("lead_id")["created_at"])
    began = lead_created.fillna(won["created_at"])
    days = (won["closed_at"] - began).dt.total_seconds() / 86400
    return {
        "deals": len(won),
        "median_days": float(days.median()) if len(days) else None,
        "mean_days": float(days.mean()) if len(days) else None,
    }
