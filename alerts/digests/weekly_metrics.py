"""The key metrics of the weekly changes digest and how a movement and its movers are found in the numbers.

    revenue            revenue of deals won (metric revenue)          sample: deals won (orders with
                                                                      revenue.source: orders)
    deals_won          deals won (metric revenue)                     sample: deals won
    win_rate           won / (won + lost) (metric win_rate)           sample: deals closed (won + lost)
    acceptance_rate    SQL / MQL entries (metric funnel, flow mode)   sample: MQL entries
    activities         activities done (metric activity)              sample: activities done
    pipeline_created   new opportunities: entries into the            sample: those entries
                       opportunity stage (funnel, flow mode)

Which movements are mentioned (digests.weekly_changes, storage/config/alerts.py): a rate that moved by at least
`min_change_pts` points with at least `min_sample` items in each of the two weeks; a count or amount that moved by
at least `min_change_pct` percent (any change from 0) with at least `min_sample` items in one of them. A flow
rate whose numerator exceeds its denominator (more SQL entries than MQL entries in a week) is not a share and is
never mentioned.

A contributor is a row of the breakdown that moved the same way as the total; the row without a value ("No
source") is never named. A rate's row needs `min_row_sample` items in both weeks and is weighed by its change in
points times its items this week, so a rep whose win rate fell 18 points on 11 deals outweighs one who fell 40
points on 2. A count's or amount's row is named by its absolute change alone (a rep new this week, or silent
this week, moved it from or to 0): the biggest per breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from metrics.declare import Mode
from metrics.result import BreakdownRow, Measure, MetricResult, Unit, find_measure, number_of, ratio
from metrics.sql.breakdowns import NO_KEY
from storage.config.alerts import WeeklyChangesConfig
from storage.config.settings import Settings

__all__ = [
    "KeyMetric",
    "KEY_METRICS",
    "Mover",
    "Totals",
    "is_movement",
    "movers",
    "paired_headline",
    "paired_rows",
    "sample_keys",
    "totals",
]

_EVERYWHERE = ("rep", "source", "segment")


@dataclass(frozen=True)
class KeyMetric:
    """One key metric of the digest: which measure of which catalogue metric, what its sample counts, how it
    breaks down, and the chat command that shows it."""

    key: str
    metric: str
    measure: str
    sample: tuple[str, ...]
    noun: str  # what the sample counts, for "on 11 deals": deals, mqls, activities, leads
    command: str
    breakdowns: tuple[str, ...] = _EVERYWHERE
    mode: Mode | None = None
    numerator: tuple[str, ...] = ()  # a rate: the measures over `sample` that make it


KEY_METRICS: tuple[KeyMetric, ...] = (
    KeyMetric("revenue", "revenue", "revenue", ("deals_won",), "deals", "revenue"),
    KeyMetric("deals_won", "revenue", "deals_won", ("deals_won",), "deals", "revenue"),
    KeyMetric("win_rate", "win_rate", "win_rate", ("won", "lost"), "deals", "winrate", numerator=("won",)),
    KeyMetric(
        "acceptance_rate",
        "funnel",
        "acceptance_rate",
        ("mql",),
        "mqls",
        "funnel",
        mode="flow",
        numerator=("sql",),
    ),  # fmt: skip
    KeyMetric("activities", "activity", "activities", ("activities",), "activities", "activity", ("rep",)),
    KeyMetric("pipeline_created", "funnel", "opportunity", ("opportunity",), "leads", "funnel", mode="flow"),
)


def sample_keys(spec: KeyMetric, settings: Settings) -> tuple[str, ...]:
    """What the metric's sample counts: revenue from orders is a sample of orders, not of deals won."""
    if spec.key == "revenue" and settings.revenue.source == "orders":
        return ("orders",)
    return spec.sample


@dataclass(frozen=True)
class Mover:
    """A rep, source or segment that moved a number: its change (points as a fraction for a rate) and the items
    behind its number this week."""

    by: str
    row: BreakdownRow
    change: float
    sample: int


def is_movement(
    unit: Unit, value: float, previous: float, samples: tuple[int, int], config: WeeklyChangesConfig
) -> bool:
    """Whether a number that went from `previous` to `value`, on (this week's, last week's) items, is worth a
    sentence (see the module docstring)."""
    if value == previous:
        return False
    if unit == "percent":
        if min(samples) < config.min_sample:
            return False
        return abs(value - previous) * 100 >= config.min_change_pts - 1e-9
    if max(samples) < config.min_sample:
        return False
    if previous == 0:
        return True
    return abs(value - previous) / abs(previous) * 100 >= config.min_change_pct - 1e-9


def _missing(measure: Measure) -> Measure:
    """A measure of a row that has nothing in one of the weeks: 0 for a count or amount, n/a for a rate."""
    return replace(measure, value=None if measure.unit == "percent" else 0, previous=None, detail=None)


def _pair(now: BreakdownRow | None, before: BreakdownRow | None) -> BreakdownRow:
    base = now or before
    assert base is not None
    measures = []
    for measure in base.measures:
        current = find_measure(now.measures, measure.key) if now else None
        earlier = find_measure(before.measures, measure.key) if before else None
        current = current or _missing(measure)
        previous = (earlier or _missing(measure)).value
        measures.append(replace(current, previous=previous))
    return BreakdownRow(base.key, base.label, tuple(measures))


def paired_rows(
    now: MetricResult, before: MetricResult, owners: tuple[str, ...] | None
) -> list[BreakdownRow]:
    """The rows of this week's and last week's answers matched by key, each measure with its `previous`: a row
    only one week has (a rep who went silent, a source new this week) is kept, its other side 0 for counts and
    amounts. With `owners`, only those reps' rows."""
    earlier = {row.key: row for row in before.rows}
    rows = [_pair(row, earlier.pop(row.key, None)) for row in now.rows]
    rows += [_pair(None, row) for row in earlier.values()]
    if owners is None:
        return rows
    wanted = set(owners)
    return [row for row in rows if row.key in wanted]


def paired_headline(now: MetricResult, before: MetricResult) -> tuple[Measure, ...]:
    """This week's headline measures, each with last week's value as its `previous`."""
    return _pair(BreakdownRow(NO_KEY, "", now.measures), BreakdownRow(NO_KEY, "", before.measures)).measures


def _added(measures: Sequence[Measure], keys: Sequence[str], previous: bool = False) -> float:
    return sum(number_of(find_measure(measures, key), previous) or 0.0 for key in keys)


def _sample(measures: Sequence[Measure], keys: Sequence[str], previous: bool = False) -> int:
    return int(_added(measures, keys, previous))


def _is_share(spec: KeyMetric, measures: Sequence[Measure], sample: Sequence[str], previous: bool) -> bool:
    """A flow rate is a share only while its numerator is at most its denominator."""
    return not spec.numerator or _added(measures, spec.numerator, previous) <= _added(
        measures, sample, previous
    )


def movers(
    spec: KeyMetric,
    by: str,
    rows: Sequence[BreakdownRow],
    unit: Unit,
    rising: bool,
    config: WeeklyChangesConfig,
    sample: Sequence[str],
) -> list[Mover]:
    """The rows of one breakdown that moved the number the way it went, biggest first (module docstring)."""
    found = []
    for row in rows:
        if row.key == NO_KEY:
            continue
        measure = find_measure(row.measures, spec.measure)
        value, previous = number_of(measure), number_of(measure, previous=True)
        if value is None or previous is None or value == previous or (value > previous) != rising:
            continue
        now = _sample(row.measures, sample)
        if unit == "percent":
            before = _sample(row.measures, sample, previous=True)
            if min(now, before) < config.min_row_sample:
                continue
            if not (
                _is_share(spec, row.measures, sample, False) and _is_share(spec, row.measures, sample, True)
            ):
                continue
        found.append(Mover(by, row, value - previous, now))
    weight = (lambda m: abs(m.change) * m.sample) if unit == "percent" else (lambda m: abs(m.change))
    found.sort(key=lambda m: (-weight(m), m.row.label))
    return found[: config.contributors]


@dataclass(frozen=True)
class Totals:
    """A scope's number in the week and the week before, and the items behind it in each."""

    value: float | None
    previous: float | None
    samples: tuple[int, int]


def _sum(rows: Sequence[BreakdownRow], keys: Sequence[str], previous: bool) -> float:
    return sum(_added(row.measures, keys, previous) for row in rows)


def totals(
    spec: KeyMetric, headline: Sequence[Measure], rows: Sequence[BreakdownRow] | None, sample: Sequence[str]
) -> Totals:
    """A scope's totals: the organisation's own headline (`rows` None), or a team's members' paired rows added
    up — counts summed, a rate as its summed numerator over its summed denominator. A flow rate whose numerator
    exceeds its denominator in either week is n/a (not a share)."""
    if rows is None:
        measure = find_measure(headline, spec.measure)
        samples = (_sample(headline, sample), _sample(headline, sample, True))
        value, previous = number_of(measure), number_of(measure, previous=True)
        if not (_is_share(spec, headline, sample, False) and _is_share(spec, headline, sample, True)):
            value = previous = None
        return Totals(value, previous, samples)
    samples = (int(_sum(rows, sample, False)), int(_sum(rows, sample, True)))
    if spec.numerator:
        tops = (_sum(rows, spec.numerator, False), _sum(rows, spec.numerator, True))
        if tops[0] > samples[0] or tops[1] > samples[1]:
            return Totals(None, None, samples)
        return Totals(ratio(tops[0], samples[0]), ratio(tops[1], samples[1]), samples)
    return Totals(_sum(rows, (spec.measure,), False), _sum(rows, (spec.measure,), True), samples)
