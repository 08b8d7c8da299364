"""Plans of the demo: monthly targets per rep and team, and a quarterly revenue plan for the organisation.

Targets are set around what each rep actually sells in a typical month, times the rep's plan factor, so a rep
marked "behind" really is behind and a "star" really is ahead.
"""

from __future__ import annotations

import numpy as np

from storage.demo.activities import Actuals, hire_days
from storage.demo.calendar import DemoCalendar, month_label
from storage.demo.org import DemoOrg
from storage.demo.write import Rows

__all__ = ["PLAN_METRICS", "make_plans"]

PLAN_METRICS = ("revenue", "deals_won", "new_leads", "calls", "meetings")
_ROUND_TO = {"revenue": 500.0, "deals_won": 1.0, "new_leads": 1.0, "calls": 5.0, "meetings": 1.0}


def _plan_months(cal: DemoCalendar) -> int:
    """Plans run to the end of the current quarter."""
    month = cal.months[cal.current_month][1]
    return cal.current_month + 1 + (2 - (month - 1) % 3)


def _elapsed_share(cal: DemoCalendar) -> float:
    """The share of this month's working days that lie before today."""
    first = int(cal.month_starts[cal.current_month])
    last = int(cal.month_starts[cal.current_month + 1])
    working = cal.is_workday[first:last]
    return float(working[: cal.history_days - first].sum() / working.sum())


def make_plans(rng: np.random.Generator, cal: DemoCalendar, org: DemoOrg, actuals: Actuals) -> Rows:
    """Monthly targets for every rep and team for every month up to the end of this quarter, org per quarter."""
    n_months = min(_plan_months(cal), len(cal.months))
    current = cal.current_month
    first_month = cal.month_of(hire_days(cal, org).astype(float))
    factor = org.trait_array("plan_factor")
    labels = [month_label(y, m) for y, m in cal.months]
    periods, scopes, scope_ids, metrics, targets = [], [], [], [], []

    def add(period: str, scope: str, scope_id: str, metric: str, target: float) -> None:
        periods.append(period)
        scopes.append(scope)
        scope_ids.append(scope_id)
        metrics.append(metric)
        targets.append(round(target, 2))

    elapsed = _elapsed_share(cal)
    team_targets = np.zeros((len(org.teams), len(PLAN_METRICS), n_months))
    for r, rep in enumerate(org.reps):
        # A typical month: the mean of the last six complete months the rep worked in full.
        since = max(min(first_month[r] + 1, current - 1), current - 6)
        for k, metric in enumerate(PLAN_METRICS):
            actual = actuals.metrics.get(metric, np.zeros((len(org.reps), len(cal.months))))[r]
            history = actual[since:current]
            typical = float(history.mean()) if len(history) else 0.0
            # This month's target follows the run rate so far, so today's pace tells each rep's story
            # (early in the month the run rate is noise, so the typical month counts more).
            run_rate = actual[current] / elapsed if elapsed else typical
            weight = min(1.0, 2 * elapsed)
            expected = {current: weight * run_rate + (1 - weight) * typical}
            step = _ROUND_TO[metric]
            for m in range(int(first_month[r]), n_months):
                base = expected.get(m, typical) * factor[r] * rng.uniform(0.95, 1.08)
                target = max(step, round(base / step) * step)
                add(labels[m], "user", rep.user_id, metric, target)
                team_targets[org.rep_team[r], k, m] += target
    for t, (team_id, _, _) in enumerate(org.teams):
        for k, metric in enumerate(PLAN_METRICS):
            for m in range(n_months):
                if team_targets[t, k, m]:
                    add(labels[m], "team", team_id, metric, team_targets[t, k, m])
    # The organisation's quarterly revenue plan, for quarters whose three months all have plans.
    revenue = team_targets[:, 0, :].sum(axis=0)
    for m in range(n_months - 2):
        year, month = cal.months[m]
        if (month - 1) % 3 == 0:
            add(f"{year}-Q{(month - 1) // 3 + 1}", "org", "", "revenue", float(revenue[m : m + 3].sum()))
    return Rows(
        "plans",
        ("period", "scope", "scope_id", "metric", "target", "product_id"),
        (periods, scopes, scope_ids, metrics, targets, [""] * len(periods)),
    )
