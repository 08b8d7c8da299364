"""Who is ahead depends on which way is better: more revenue, but fewer days in a stage and lower costs."""

from bot.reply.render import ranked_rows
from metrics.result import BreakdownRow, Measure, lower_is_better


def row(key: str, measure: str, value: float | None) -> BreakdownRow:
    return BreakdownRow(key, key.title(), (Measure(measure, measure, "days", value),))


def test_the_shortest_cycle_ranks_first_and_the_largest_revenue_ranks_first():
    cycle = [
        row("rita", "median_days", 21.5),
        row("rob", "median_days", 9.0),
        row("rae", "median_days", None),
    ]
    assert [r.key for r, _ in ranked_rows(cycle, "median_days")] == ["rob", "rita"]  # n/a ranks nowhere
    revenue = [row("rita", "revenue", 4000), row("rob", "revenue", 9000)]
    assert [r.key for r, _ in ranked_rows(revenue, "revenue")] == ["rob", "rita"]


def test_stage_keys_and_costs_are_lower_is_better_and_rates_are_not():
    assert lower_is_better("deal:Negotiation:median_days")
    assert lower_is_better("cost_per_sql_lagged") and lower_is_better("churn_rate")
    assert not lower_is_better("win_rate") and not lower_is_better("deal:Negotiation:exits")
