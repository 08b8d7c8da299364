"""Charts of metric results: a team in Moscow looks at October 2026 and gets a picture with its numbers on it.

The results are built by hand, the way the metric modules hand them over; charts never touch the store.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from metrics.charts.breakdown import draw_breakdown, draw_trend
from metrics.charts.cohorts import draw_cohorts
from metrics.charts.context import ChartContext, format_value
from metrics.charts.plan import draw_plan, draw_plan_dynamics
from metrics.charts.render import (
    CHART_KINDS,
    ChartImage,
    ChartRequest,
    chart_kinds_for,
    locale_formatters,
    render_chart,
    render_charts,
)
from metrics.charts.sales import draw_activity_by_day, draw_funnel, draw_stages
from metrics.periods import month_period
from metrics.result import BreakdownRow, Measure, MetricResult, Series, Table
from metrics.scope import ResolvedScope

MOSCOW = ZoneInfo("Europe/Moscow")
OCTOBER = month_period(date(2026, 10, 1), MOSCOW)
SEPTEMBER = month_period(date(2026, 9, 1), MOSCOW)
ALPHA = ResolvedScope(kind="team", label="Alpha", owner_ids=("rep-1", "rep-2"), team_ids=("t-a",))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(metric: str, title: str, headline: Measure, **fields) -> MetricResult:
    return MetricResult(
        metric=metric,
        title=title,
        description="",
        period=OCTOBER,
        scope=ALPHA,
        measures=(headline,),
        **fields,
    )


def funnel_result() -> MetricResult:
    """42 leads created in October: 10 became MQL, 6 SQL, 4 opportunities, 3 won."""
    stages = (("lead", 42), ("MQL", 10), ("SQL", 6), ("opportunity", 4), ("won", 3))
    return _result(
        "funnel",
        "Funnel",
        Measure("leads", "Leads", "count", 42),
        series=(Series("stages", "Stages", stages),),
    )


def _october_days() -> list[date]:
    return [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


def activity_result() -> MetricResult:
    """120 calls, 64 emails, 18 meetings, 9 tasks; done on weekdays only (weekends are missing from by_day)."""
    by_day = tuple((d.isoformat(), 9 + d.day % 4) for d in _october_days() if d.weekday() < 5)
    return _result(
        "activity",
        "Activities",
        Measure("activities", "Activities", "count", 211),
        series=(
            Series("by_type", "By type", (("meeting", 18), ("call", 120), ("task", 9), ("email", 64))),
            Series("by_day", "By day", by_day),
        ),
    )


def plan_result() -> MetricResult:
    """Plan 1,100,000 over October's 22 working days (50,000 a day); by Tue 20 Oct, after 14 working days,
    560,000 is won: 50.9 % attained, against 700,000 due by now; the run rate forecasts 880,000."""
    target, actual = [], []
    due = 0
    for day in _october_days():
        if day.weekday() < 5:
            due += 50_000
        target.append((day.isoformat(), due))
        actual.append((day.isoformat(), 40_000 * due // 50_000 if day <= date(2026, 10, 20) else None))
    dynamics = (
        ("2026-05", 0.92),
        ("2026-06", 1.05),
        ("2026-07", 1.12),
        ("2026-08", 0.87),
        ("2026-09", None),
        ("2026-10", 0.509),
    )
    return _result(
        "plan",
        "Plan: revenue",
        Measure("revenue.attainment", "Revenue: attainment", "percent", 560_000 / 1_100_000),
        series=(
            Series("cumulative_actual", "Actual", tuple(actual), unit="money"),
            Series("cumulative_target", "Plan", tuple(target), unit="money"),
            Series("dynamics", "Attainment by month", dynamics, unit="percent"),
        ),
    )


def retention_result() -> MetricResult:
    """Six monthly cohorts, May to October; later months of young cohorts are not observable yet (None), and
    November, still ahead, has no customers."""
    rows = []
    for age, (cohort, customers) in enumerate(
        [("2026-05", 40), ("2026-06", 35), ("2026-07", 52), ("2026-08", 47), ("2026-09", 38), ("2026-10", 44)]
    ):
        shares = [1.0, 0.45, 0.375, 0.3, 0.275, 0.25][: 6 - age]
        rows.append((cohort, customers, *shares, *[None] * age))
    rows.append(("2026-11", 0, *[None] * 6))  # a month still ahead: nothing observable
    table = Table(
        "cohorts", "Cohorts", ("cohort", "customers", "m0", "m1", "m2", "m3", "m4", "m5"), tuple(rows)
    )
    return _result("retention", "Retention", Measure("crr", "CRR", "percent", 0.8), tables=(table,))


def stages_result() -> MetricResult:
    deals = (("qualification", 3.5), ("proposal", 7.0), ("negotiation", 12.5), ("contract", 4.0))
    leads = (("new", 1.5), ("MQL", 2.0), ("SQL", 5.5))
    return _result(
        "stages",
        "Stage duration",
        Measure("median", "Median days", "days", 27.0),
        series=(
            Series("deal_stages", "Deal stages", deals, unit="days"),
            Series("lead_stages", "Lead stages", leads, unit="days"),
        ),
    )


def trend_result() -> MetricResult:
    """Revenue by month, May to October, against the same months a year earlier."""
    months = [
        ("2026-05", 410_000, 380_000),
        ("2026-06", 455_000, 400_000),
        ("2026-07", 390_000, 420_000),
        ("2026-08", 520_000, 430_000),
        ("2026-09", 610_000, 450_000),
        ("2026-10", 560_000, 470_000),
    ]
    rows = tuple(
        BreakdownRow(key, key, (Measure("revenue", "Revenue", "money", value, previous=before),))
        for key, value, before in months
    )
    return replace(
        _result("revenue", "Revenue", Measure("revenue", "Revenue", "money", 2_945_000, previous=2_550_000)),
        breakdown_by="month",
        rows=rows,
        comparison="year",
        comparison_period=month_period(date(2025, 10, 1), MOSCOW),
    )


def breakdown_result() -> MetricResult:
    """Win rate by rep for 20 reps: rep 1 wins 5 %, rep 2 10 % … rep 20 100 %; rep 0 closed nothing (n/a)."""
    rows = [
        BreakdownRow(f"rep-{i}", f"Rep {i}", (Measure("win_rate", "Win rate", "percent", i / 20),))
        for i in range(1, 21)
    ]
    rows.append(BreakdownRow("rep-0", "Rep 0", (Measure("win_rate", "Win rate", "percent", None),)))
    return replace(
        _result("win_rate", "Win rate", Measure("win_rate", "Win rate", "percent", 0.4)),
        breakdown_by="rep",
        rows=tuple(rows),
    )


def mrr_result() -> MetricResult:
    """MRR 100,000 at the start of October: +5,000 new, +3,000 expansion, −2,000 contraction, −4,000 churned,
    so 102,000 at the end (net +2,000)."""
    measures = (
        Measure("nrr", "Net revenue retention", "percent", 0.97),
        Measure("mrr_start", "MRR at start", "money", 100_000),
        Measure("mrr_end", "MRR at end", "money", 102_000),
        Measure("new_mrr", "New MRR", "money", 5_000),
        Measure("expansion_mrr", "Expansion MRR", "money", 3_000),
        Measure("contraction_mrr", "Contraction MRR", "money", 2_000),
        Measure("churned_mrr", "Churned MRR", "money", 4_000),
    )
    return replace(_result("mrr", "MRR retention", measures[0]), measures=measures)


def email_result() -> MetricResult:
    """The list had 1,000 subscribers on Oct 1: 40 joined and 15 left, so 1,025 at the end (growth 2.5 %)."""
    measures = (
        Measure("growth_rate", "List growth rate", "percent", 0.025),
        Measure("subscribed", "New subscribers", "count", 40),
        Measure("unsubscribed", "Unsubscribes", "count", 15),
        Measure("size_start", "List size at start", "count", 1_000),
        Measure("size_end", "List size at end", "count", 1_025),
    )
    return replace(_result("email", "Email list growth", measures[0]), measures=measures)


def ltv_result() -> MetricResult:
    """CLTV 12,000 historical, 9,000 predictive, CAC 3,000: LTV:CAC 12,000 / 3,000 = 4.0."""
    measures = (
        Measure("cltv_historical", "CLTV (historical)", "money", 12_000),
        Measure("cltv_predictive", "CLTV (predictive)", "money", 9_000),
        Measure("ltv_cac", "LTV:CAC", "ratio", 4.0),
        Measure("cac", "Customer acquisition cost", "money", 3_000),
    )
    return replace(_result("ltv", "Customer lifetime value", measures[0]), measures=measures)


def cac_result() -> MetricResult:
    """Spend 12,000 on 4 new customers: CAC 3,000."""
    measures = (
        Measure("cac", "Customer acquisition cost", "money", 3_000),
        Measure("spend", "Marketing and sales spend", "money", 12_000),
        Measure("new_customers", "New customers", "count", 4),
    )
    return replace(_result("cac", "Customer acquisition cost", measures[0]), measures=measures)


def roi_result() -> MetricResult:
    """Two campaigns: Webinars spent 1,000 for 3,000 of revenue (ROI 200 %), Ads 4,000 for 3,000 (−25 %);
    together 5,000 for 6,000: ROI 20 %."""

    def row(key: str, label: str, spend: int, revenue: int) -> BreakdownRow:
        roi = (revenue - spend) / spend
        return BreakdownRow(
            key,
            label,
            (
                Measure("roi", "Campaign ROI", "percent", roi),
                Measure("revenue", "Revenue from campaign leads", "money", revenue),
                Measure("spend", "Campaign spend", "money", spend),
            ),
        )

    measures = (
        Measure("roi", "Campaign ROI", "percent", 0.2),
        Measure("revenue", "Revenue from campaign leads", "money", 6_000),
        Measure("spend", "Campaign spend", "money", 5_000),
    )
    return replace(
        _result("roi", "Campaign ROI", measures[0]),
        measures=measures,
        breakdown_by="campaign",
        rows=(row("C-W", "Webinars", 1_000, 3_000), row("C-A", "Ads", 4_000, 3_000)),
    )


def cs_result() -> MetricResult:
    measures = (
        Measure("portfolio_growth", "Portfolio growth", "percent", 0.01),
        Measure("account_retention", "Account retention (MRR)", "percent", 0.95),
        Measure("nrr", "Net revenue retention", "percent", 1.02),
    )
    return replace(_result("cs", "Customer success", measures[0]), measures=measures)


EXAMPLES = {
    "mrr_bridge": mrr_result,
    "email_growth": email_result,
    "ltv": ltv_result,
    "cac": cac_result,
    "roi": roi_result,
    "cs": cs_result,
    "leaderboard": lambda: breakdown_result(),
    "funnel": funnel_result,
    "activity_by_type": activity_result,
    "activity_by_day": activity_result,
    "plan": plan_result,
    "plan_dynamics": plan_result,
    "cohorts": retention_result,
    "stages": stages_result,
    "trend": trend_result,
    "breakdown": breakdown_result,
}


def _ctx(locale: str = "en", translate=lambda s: s) -> ChartContext:
    return ChartContext(locale_formatters(locale), translate, locale, "Title", "Alpha · 2026-10")


def _texts(fig: Figure) -> list[str]:
    """Every piece of text a reader sees: titles, annotations, tick labels, legend entries."""
    texts = [t.get_text() for t in fig.texts]
    texts += [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts]
        texts += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        texts += [ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return texts


def _pixels(image: ChartImage) -> tuple[int, int]:
    assert image.png.startswith(PNG_SIGNATURE)
    height, width = imread(BytesIO(image.png), format="png").shape[:2]
    return width, height


@pytest.mark.parametrize("kind", CHART_KINDS)
def test_every_kind_renders_a_phone_sized_png(kind):
    image = render_chart(kind, EXAMPLES[kind]())
    assert _pixels(image) == ((800, 800) if kind == "cohorts" else (1000, 600))
    assert image.filename.endswith(f"_{kind}.png")
    assert image.title


def test_a_result_gets_the_charts_of_its_own_data():
    assert chart_kinds_for(funnel_result()) == ("funnel",)
    assert chart_kinds_for(plan_result()) == ("plan", "plan_dynamics")
    assert chart_kinds_for(activity_result()) == ("activity_by_type", "activity_by_day")
    assert chart_kinds_for(retention_result()) == ("cohorts",)
    assert chart_kinds_for(stages_result()) == ("stages",)
    assert chart_kinds_for(trend_result()) == ("trend",)
    assert chart_kinds_for(breakdown_result()) == ("breakdown",)
    plain = _result("cac", "CAC", Measure("cac", "CAC", "money", 1200))
    assert chart_kinds_for(plain) == ()
    assert render_charts(plain) == ()
    images = render_charts(plan_result())
    assert [i.filename for i in images] == ["plan_plan.png", "plan_plan_dynamics.png"]


def test_activity_for_a_single_day_is_charted_by_type_only():
    yesterday = replace(
        activity_result(),
        series=(
            Series("by_type", "By type", (("call", 12),)),
            Series("by_day", "By day", (("2026-10-20", 12),)),
        ),
    )
    assert chart_kinds_for(yesterday) == ("activity_by_type",)


def test_funnel_shows_counts_and_the_step_conversion_between_bars():
    texts = _texts(draw_funnel(funnel_result(), _ctx()))
    # 10/42 = 23.8 %, 6/10 = 60.0 %, 4/6 = 66.7 %, 3/4 = 75.0 %; lead → won 3/42 = 7.1 %
    assert [t for t in texts if t.startswith("↓")] == ["↓ 23.8%", "↓ 60.0%", "↓ 66.7%", "↓ 75.0%"]
    # stage keys read as words: "lead" → "Lead", "MQL" stays, "opportunity" → "Opportunity"
    assert {"42", "10", "6", "4", "3", "Lead", "MQL", "Opportunity", "Won", "Lead → Won: 7.1%"} <= set(texts)


def test_plan_chart_puts_attainment_in_the_title_and_names_plan_and_forecast():
    fig = draw_plan(plan_result(), _ctx())
    texts = _texts(fig)
    assert fig.texts[0].get_text() == "Title · Revenue: 50.9% of plan"
    # plan ends at 1,100,000; 560,000 after 14 of 22 working days runs to 560,000 × 22 / 14 = 880,000
    assert "plan\n$1,100,000" in texts
    assert "forecast\n$880,000" in texts
    assert "$560,000 to date" in texts
    assert {"$0", "$1.2M"} & set(texts)  # a money axis carries its currency


def test_plan_chart_ends_the_forecast_at_the_metrics_own_forecast():
    # the plan metric counts today's elapsed hours too and forecasts 871,000; the chart must say the same
    result = plan_result()
    result = replace(
        result, measures=(*result.measures, Measure("revenue.forecast", "Forecast", "money", 871_000))
    )
    assert "forecast\n$871,000" in _texts(draw_plan(result, _ctx()))


def test_plan_dynamics_labels_each_period_and_the_hundred_percent_line():
    texts = _texts(draw_plan_dynamics(plan_result(), _ctx()))
    assert {"92.0%", "105.0%", "112.0%", "87.0%", "n/a", "50.9%", "100%"} <= set(texts)


def test_cohort_cells_show_percentages_and_leave_the_unobservable_blank():
    fig = draw_cohorts(retention_result(), _ctx())
    cells = [t.get_text() for t in fig.axes[0].texts if t.get_text().endswith("%")]
    # 5 + 4 + 3 + 2 + 1 observable cells after month 0, which is 100 % for every cohort and is not drawn
    assert len(cells) == 15
    assert cells[:5] == ["45.0%", "37.5%", "30.0%", "27.5%", "25.0%"]
    texts = _texts(fig)
    assert "100.0%" not in texts and "0" not in texts and {"1", "5"} <= set(texts)
    assert (
        "May 2026 · 40" in texts and "Oct 2026 · 44" in texts
    )  # October's cohort: its row, nothing observed yet
    assert not any(t.startswith("Nov 2026") for t in texts)


def test_activity_by_day_greys_weekends_and_fills_the_missing_ones_as_gaps():
    fig = draw_activity_by_day(activity_result(), _ctx())
    bars = list(fig.axes[0].containers[0])
    assert len(bars) == 31  # Oct 1 … Oct 31, weekends included as empty columns
    saturday = bars[2]  # 3 Oct 2026
    assert saturday.get_height() == 0
    assert saturday.get_facecolor() != bars[0].get_facecolor()


def test_stage_durations_show_both_pipelines_in_days():
    texts = _texts(draw_stages(stages_result(), _ctx()))
    # each panel names its pipeline and the unit, so no separate "median days" axis label is needed
    assert {"Deal stages: median days", "Lead stages: median days", "12.5", "3.5", "Negotiation"} <= set(
        texts
    )
    assert "median days" not in texts


def test_breakdown_shows_the_top_fifteen_largest_first():
    fig = draw_breakdown(breakdown_result(), _ctx())
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("Rep")]
    assert labels[:3] == ["Rep 20", "Rep 19", "Rep 18"]
    assert len(labels) == 15 and "Rep 0" not in labels
    assert "100.0%" in _texts(fig)
    assert fig.axes[0].get_xlabel() == "Win rate · top 15 of 20"


def test_trend_draws_the_comparison_as_faded_columns_with_a_legend():
    result = trend_result()
    fig = draw_trend(result, _ctx())
    assert len(fig.axes[0].patches) == 12  # six months now, six a year earlier
    # months in words, the comparison named by its period, money with its currency
    assert {"Oct 2026", "October 2026", "October 2025", "$560,000"} <= set(_texts(fig))


def test_russian_labels_render_without_missing_glyphs():
    words = {
        "Funnel": "Воронка",
        "lead": "лид",
        "won": "сделка",
        "n/a": "н/д",
        "of plan": "от плана",
        "plan": "план",
        "forecast": "прогноз",
        "months since first order": "месяцев с первого заказа",
        "no data for this period": "нет данных за этот период",
    }
    russian = replace(funnel_result(), scope=replace(ALPHA, label="Альфа"))
    request = ChartRequest(locale="ru", translate=lambda s: words.get(s, s))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kind in CHART_KINDS:
            render_chart(kind, replace(EXAMPLES[kind](), scope=russian.scope), request)
        render_chart("funnel", replace(russian, series=()), request)
    assert [str(w.message) for w in caught] == []
    texts = _texts(draw_plan(plan_result(), _ctx("ru", lambda s: words.get(s, s))))
    assert "план\n1\u00a0100\u00a0000\u00a0$" in texts  # Russian groups thousands with no-break spaces


def test_empty_data_renders_a_no_data_card_or_no_chart():
    for kind in CHART_KINDS:
        empty = replace(EXAMPLES[kind](), series=(), tables=(), rows=())
        assert _pixels(render_chart(kind, empty))[0] in (800, 1000)
    zeros = replace(funnel_result(), series=(Series("stages", "Stages", (("lead", 0), ("won", 0))),))
    assert render_charts(zeros) == ()
    assert render_chart("funnel", zeros).png.startswith(PNG_SIGNATURE)


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown chart kind"):
        render_chart("pie", funnel_result())


def test_formatting_follows_the_locale():
    en, ru = locale_formatters("en"), locale_formatters("ru")
    assert format_value(en, 0.238, "percent") == "23.8%"
    assert format_value(ru, 0.238, "percent") == "23,8\u00a0%"  # as the replies write it
    assert format_value(en, 1234567.4, "money") == "$1,234,567"
    assert format_value(en, 3.26, "days") == "3.3"
    assert format_value(en, None, "count") == "n/a"


def test_charts_rendered_from_several_threads_are_the_same_pictures():
    kinds = ["funnel", "cohorts", "trend", "plan"]
    alone = [render_chart(kind, EXAMPLES[kind]()).png for kind in kinds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda kind: render_chart(kind, EXAMPLES[kind]()).png, kinds))
    assert together == alone


def test_rendering_never_imports_pyplot():
    code = (
        "import sys\n"
        "from tests.metrics.test_charts import EXAMPLES\n"
        "from metrics.charts.render import CHART_KINDS, render_chart\n"
        "for kind in CHART_KINDS: render_chart(kind, EXAMPLES[kind]())\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "False"
