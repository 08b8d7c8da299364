"""A second, independent reading of SPEC section 3, in plain pandas over a small organisation's tables.

The metrics core answers in SQL; this module answers the same questions the slow, obvious way — load every table,
filter, count — so the two can be compared number by number. It follows SPEC's text and, where SPEC leaves a choice
open, the choice each metric's description states; it never looks at how the core computes anything.

Every function returns a dict keyed like the core's measures (`"mql"`, `"win_rate"`, `"revenue.pace"` …), with
None for "n/a". Times are naive UTC, as stored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from storage.config.settings import Settings

__all__ = [
    "Frames",
    "Window",
    "load_frames",
    "month_window",
    "owners_in_scope",
    "stage_entries",
    "funnel_cohort",
    "funnel_flow",
    "sql_report",
    "win_rates",
    "won_in",
    "lead_close_times",
    "viewer_zone",
    "mine",
    "ratio",
]

_TABLES = (
    "users",
    "teams",
    "leads",
    "lead_stage_events",
    "deals",
    "activities",
    "accounts",
    "orders",
    "mrr",
    "spend",
    "campaigns",
    "email_list",
    "plans",
    "tickets",
)
_TIMES = {
    "leads": ("created_at",),
    "lead_stage_events": ("entered_at",),
    "deals": ("created_at", "closed_at"),
    "activities": ("created_at", "due_at", "completed_at"),
    "accounts": ("created_at", "onboarded_at"),
    "orders": ("ordered_at",),
    "tickets": ("opened_at", "closed_at"),
}
_MONEY = {"deals": "amount", "orders": "amount", "mrr": "mrr", "spend": "amount", "plans": "target"}
DAY = timedelta(days=1)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, so derived tables can be cached per load
class Frames:
    """Every table of the store that a metric reads, as one DataFrame each (attribute = table name)."""

    users: pd.DataFrame
    teams: pd.DataFrame
    leads: pd.DataFrame
    lead_stage_events: pd.DataFrame
    deals: pd.DataFrame
    activities: pd.DataFrame
    accounts: pd.DataFrame
    orders: pd.DataFrame
    mrr: pd.DataFrame
    spend: pd.DataFrame
    campaigns: pd.DataFrame
    email_list: pd.DataFrame
    plans: pd.DataFrame
    tickets: pd.DataFrame


@dataclass(frozen=True)
class Window:
    """A period `[start, end)` of local time in `tz`, with its UTC bounds and its local calendar days."""

    tz: ZoneInfo
    start_local: datetime
    end_local: datetime
    now: datetime  # naive UTC

    @property
    def start(self) -> datetime:
        return _naive_utc(self.start_local)

    @property
    def end(self) -> datetime:
        return _naive_utc(self.end_local)

    @property
    def first_day(self) -> date:
        return self.start_local.date()

    @property
    def end_day(self) -> date:
        """The first local day after the period."""
        return self.end_local.date()

    @property
    def last_month(self) -> str:
        """The calendar month (YYYY-MM) holding the period's last moment."""
        return (self.end_local.date() - DAY).strftime("%Y-%m")

    @property
    def month_before(self) -> str:
        """The calendar month just before the period starts."""
        return (self.start_local.date() - DAY).strftime("%Y-%m")

    def holds(self, times: pd.Series) -> pd.Series:
        """Which of `times` (naive UTC) fall in the period."""
        return (times >= self.start) & (times < self.end)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """SPEC 3: a ratio over zero is n/a."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def load_frames(engine: Engine) -> Frames:
    """Read every table the reference needs; money as float, times as naive UTC datetimes."""
    frames = {}
    with engine.connect() as conn:
        for name in _TABLES:
            frame = pd.read_sql_table(name, conn)
            for column in _TIMES.get(name, ()):
                frame[column] = pd.to_datetime(frame[column])
            if name in _MONEY:
                frame[_MONEY[name]] = frame[_MONEY[name]].astype(float)
            if name in ("spend", "email_list"):
                frame["date"] = pd.to_datetime(frame["date"]).dt.date
            frames[name] = frame
    return Frames(**frames)


def viewer_zone(frames: Frames, settings: Settings, viewer_id: str) -> ZoneInfo:
    """Periods are read in the asker's own zone, else the organisation's (SPEC 2)."""
    zone = frames.users.set_index("user_id").loc[viewer_id, "timezone"]
    return ZoneInfo(zone) if isinstance(zone, str) and zone else settings.org.tz


def month_window(now: datetime, tz: ZoneInfo, months_back: int) -> Window:
    """`this month` (0) or `last month` (1) as seen at `now` (tz-aware) in `tz`."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1 - months_back
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    end = datetime((index + 1) // 12, (index + 1) % 12 + 1, 1, tzinfo=tz)
    return Window(tz=tz, start_local=start, end_local=end, now=_naive_utc(now))


def owners_in_scope(frames: Frames, viewer_id: str) -> tuple[str, ...] | None:
    """The viewer's default scope (SPEC 2): an admin the whole org (None), a manager the sellers of the teams they
    lead (managers and admins lead a team rather than sell in it), a rep themselves."""
    users = frames.users
    role = users.set_index("user_id").loc[viewer_id, "role"]
    if role == "admin":
        return None
    led = frames.teams.loc[frames.teams["manager_id"] == viewer_id, "team_id"]
    if role == "manager" and len(led):
        sellers = users[users["team_id"].isin(led) & ~users["role"].isin(["manager", "admin"])]
        return tuple(sorted(sellers["user_id"]))
    return (viewer_id,)


def mine(column: pd.Series, owners: tuple[str, ...] | None) -> pd.Series:
    """Which rows of an owner column belong to the scope (every row for the organisation)."""
    if owners is None:
        return pd.Series(True, index=column.index)
    return column.isin(owners)


# --- the lead journey -------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def stage_entries(frames: Frames, stages: tuple[str, ...], now: datetime | None) -> pd.DataFrame:
    """For every lead, when it first reached each funnel stage (NaT: not by `now`; None: whenever), one column
    per stage.

    SPEC 1: a lead enters `lead` at its creation; `opportunity` when a deal links to it (the deal's creation) and
    `won` when a linked deal is won (its close), whichever comes first; reaching a later stage means having passed
    every earlier one, so a stage's entry is the earliest entry into it or any stage after it (but `lead` is
    entered at creation, even if a careless CRM dated a later stage before it).
    """
    raw = _raw_entries(frames, stages)
    if now is not None:
        raw = raw[raw["at"] < now]
    first = raw.groupby(["lead_id", "step"])["at"].min().unstack("step")
    first = first.reindex(index=frames.leads["lead_id"], columns=range(len(stages)))
    seconds = np.array(first.apply(lambda c: c.astype("datetime64[us]").astype("int64") / 1e6), dtype=float)
    seconds[first.isna().to_numpy()] = np.inf
    # Reached stage i at the earliest entry into any stage j >= i: a running minimum from the last stage back.
    reached = np.minimum.accumulate(seconds[:, ::-1], axis=1)[:, ::-1]
    out = pd.DataFrame(
        {
            stage: pd.to_datetime(np.where(np.isinf(reached[:, i]), np.nan, reached[:, i]), unit="s")
            for i, stage in enumerate(stages)
        },
        index=first.index,
    )
    out[stages[0]] = frames.leads.set_index("lead_id")["created_at"].reindex(out.index)
    if now is not None:
        out.loc[out[stages[0]] >= now, stages[0]] = pd.NaT
    return out


def _raw_entries(frames: Frames, stages: tuple[str, ...]) -> pd.DataFrame:
    """Every recorded arrival of a lead at a funnel stage: (lead_id, step = stage index, at)."""
    index = {stage: i for i, stage in enumerate(stages)}
    leads = frames.leads
    events = frames.lead_stage_events
    events = events[events["stage"].isin(index)]
    linked = frames.deals[frames.deals["lead_id"].isin(leads["lead_id"])]
    won = linked[linked["status"] == "won"]
    parts = [
        pd.DataFrame({"lead_id": leads["lead_id"], "step": 0, "at": leads["created_at"]}),
        pd.DataFrame(
            {"lead_id": events["lead_id"], "step": events["stage"].map(index), "at": events["entered_at"]}
        ),
    ]
    if "opportunity" in index:
        parts.append(
            pd.DataFrame(
                {"lead_id": linked["lead_id"], "step": index["opportunity"], "at": linked["created_at"]}
            )
        )
    if "won" in index:
        parts.append(pd.DataFrame({"lead_id": won["lead_id"], "step": index["won"], "at": won["closed_at"]}))
    return pd.concat(parts, ignore_index=True).dropna(subset=["at"])


def _funnel_measures(counts: dict[str, int], stages: tuple[str, ...]) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = dict(counts)
    for here, after in zip(stages, stages[1:], strict=False):
        out[f"{here}_to_{after}"] = ratio(counts[after], counts[here])
    out[f"{stages[0]}_to_{stages[-1]}"] = ratio(counts[stages[-1]], counts[stages[0]])
    named = {
        "mql_rate": ("mql", "lead"),
        "acceptance_rate": ("sql", "mql"),
        "proposal_rate": ("opportunity", "sql"),
    }
    for key, (top, bottom) in named.items():
        if top in counts and bottom in counts:
            out[key] = ratio(counts[top], counts[bottom])
    return out


def _leads_of(frames: Frames, owners: tuple[str, ...] | None) -> pd.DataFrame:
    return frames.leads[mine(frames.leads["owner_id"], owners)]


def funnel_cohort(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.2 cohort mode: leads created in the period, counted at every stage they reached by now."""
    stages = settings.funnel.stages
    entries = stage_entries(frames, stages, window.now)
    leads = _leads_of(frames, owners)
    cohort = entries.loc[leads.loc[window.holds(leads["created_at"]), "lead_id"]]
    return _funnel_measures({stage: int(cohort[stage].notna().sum()) for stage in stages}, stages)


def funnel_flow(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.2 flow mode: entries into each stage during the period, once per lead, whenever the lead was made.

    Unlike cohort mode ("reached it by now") SPEC counts every entry dated in the period, so an entry a CRM dated
    after now still counts in the current period.
    """
    stages = settings.funnel.stages
    entries = stage_entries(frames, stages, None).loc[_leads_of(frames, owners)["lead_id"]]
    return _funnel_measures({stage: int(window.holds(entries[stage]).sum()) for stage in stages}, stages)


# --- conversion ---------------------------------------------------------------------------------------------------


def _spend_on_days(frames: Frames, first: date, end: date, kinds: tuple[str, ...]) -> float:
    spend = frames.spend
    days = (spend["date"] >= first) & (spend["date"] < end) & spend["kind"].isin(kinds)
    return float(spend.loc[days, "amount"].sum())


def sql_report(frames: Frames, settings: Settings, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.2 /sql: SQL entries in the period, acceptance, and costs (spend is organisation-wide, so only the
    organisation has costs); the lagged window is the period's days shifted back by marketing.lag_days."""
    flow = funnel_flow(frames, settings, window, owners)
    out: dict = {"sql": flow["sql"], "mql": flow["mql"], "leads": flow["lead"]}
    out["acceptance_rate"] = ratio(flow["sql"], flow["mql"])
    if owners is not None:
        return out | dict.fromkeys(("spend", "spend_lagged", "cost_per_sql", "cost_per_sql_lagged"))
    lag = timedelta(days=settings.marketing.lag_days)
    spend = _spend_on_days(frames, window.first_day, window.end_day, ("marketing",))
    lagged = _spend_on_days(frames, window.first_day - lag, window.end_day - lag, ("marketing",))
    out |= {"spend": spend, "spend_lagged": lagged}
    out["cost_per_sql"] = ratio(spend, flow["sql"])
    out["cost_per_sql_lagged"] = ratio(lagged, flow["sql"])
    out["cost_per_lead"] = ratio(spend, flow["lead"])
    out["cost_per_mql"] = ratio(spend, flow["mql"])
    return out


def _deals_of(frames: Frames, owners: tuple[str, ...] | None) -> pd.DataFrame:
    return frames.deals[mine(frames.deals["owner_id"], owners)]


def won_in(frames: Frames, window: Window, owners: tuple[str, ...] | None) -> pd.DataFrame:
    """Deals (of the owners) won with their close in the period."""
    deals = _deals_of(frames, owners)
    return deals[(deals["status"] == "won") & window.holds(deals["closed_at"])]


def lead_close_times(frames: Frames) -> pd.Series:
    """When each lead's journey ended: its first won, lost or disqualified event, or a linked deal won or lost."""
    events = frames.lead_stage_events
    ends = events[events["stage"].isin(["won", "lost", "disqualified"])]
    deals = frames.deals[frames.deals["status"].isin(["won", "lost"]) & frames.deals["lead_id"].notna()]
    both = pd.concat(
        [
            pd.DataFrame({"lead_id": ends["lead_id"], "at": ends["entered_at"]}),
            pd.DataFrame({"lead_id": deals["lead_id"], "at": deals["closed_at"]}),
        ]
    )
    return both.dropna().groupby("lead_id")["at"].min()


def win_rates(frames: Frames, window: Window, owners: tuple[str, ...] | None) -> dict:
    """SPEC 3.2 win rate, close rate and leads per deal."""
    deals = _deals_of(frames, owners)
    closed = deals[window.holds(deals["closed_at"])]
    won = int((closed["status"] == "won").sum())
    lost = int((closed["status"] == "lost").sum())
    leads = _leads_of(frames, owners)
    new = int(window.holds(leads["created_at"]).sum())
    closes = leads["lead_id"].map(lead_close_times(frames))
    in_pipeline = (leads["created_at"] < window.end) & ~(closes < window.start)
    pipeline = int(in_pipeline.sum())
    return {
        "win_rate": ratio(won, won + lost),
        "won": won,
        "lost": lost,
        "close_rate": ratio(won, pipeline),
        "pipeline_leads": pipeline,
        "leads": new,
        "leads_per_deal": ratio(new, won),
    }
