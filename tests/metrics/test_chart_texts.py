"""Charts read in the asker's language and currency, mark what is not over yet, and keep their labels apart.

The results are the hand-built ones of test_charts.py; the words come from the bot's real catalogues, so a chart
text missing from either language shows up here as English in a Russian chart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from matplotlib.figure import Figure

from bot.reply.i18n import translator
from metrics import charts
from metrics.charts.legibility import overlapping_texts, texts_outside
from metrics.charts.render import (
    CHART_KINDS,
    ChartRequest,
    build_chart,
    build_charts,
    chart_kinds_for,
    render_charts,
)
from metrics.charts.style import PARTIAL_HATCH
from metrics.periods import month_period
from metrics.result import BreakdownRow, Measure, MetricResult, Series
from tests.metrics.test_charts import (
    EXAMPLES,
    MOSCOW,
    _result,
    _texts,
    activity_result,
    breakdown_result,
    cac_result,
    cs_result,
    email_result,
    ltv_result,
    mrr_result,
    plan_result,
    retention_result,
    roi_result,
    trend_result,
)

# Tue 20 Oct 2026, 15:00 in Moscow: October is in progress.
NOW = datetime(2026, 10, 20, 15, 0, tzinfo=MOSCOW)


def _words(locale: str):
    t = translator(locale)
    return lambda key, english: t(key, english)


def _chart(kind: str, result, locale: str = "en", **kw) -> Figure:
    fig = build_chart(kind, result, ChartRequest(locale=locale, words=_words(locale), **kw))
    assert fig is not None
    return fig


def test_russian_plan_chart_is_in_russian_with_roubles_of_the_org_currency():
    fig = _chart("plan", plan_result(), "ru", currency="RUB", now=NOW)
    texts = _texts(fig)
    # 560,000 / 1,100,000 = 50.9 %; the line is named as the /plan reply names it
    assert texts[0] == "План · Выручка: 50,9\u00a0% плана"  # the /plan reply's "50,9 % плана"
    assert texts[1] == "Alpha · октябрь 2026, по 20 окт."
    assert "план\n1\u00a0100\u00a0000\u00a0₽" in texts
    assert "560\u00a0000\u00a0₽ на сегодня" in texts
    assert not {"plan", "forecast", "of plan", "this month"} & {w for t in texts for w in t.split("\n")}


def test_russian_activity_and_funnel_name_types_and_stages_in_russian():
    texts = _texts(_chart("activity_by_type", activity_result(), "ru"))
    assert texts[0] == "Активность · по типам"
    assert {"Звонки", "Письма", "Встречи", "Задачи"} <= set(texts)
    funnel = _texts(_chart("funnel", EXAMPLES["funnel"](), "ru"))
    assert {"Воронка", "Лиды", "MQL", "SQL", "Возможности", "Выиграно"} <= set(funnel)


def test_titles_do_not_repeat_the_metric_name():
    fig = _chart("trend", trend_result())
    # "Revenue · Revenue" said the same thing twice
    assert fig.texts[0].get_text() == "Revenue"


def test_a_month_in_progress_is_hatched_and_named_to_date():
    fig = _chart("trend", trend_result(), now=NOW)
    current = [p for p in fig.axes[0].patches if p.get_hatch() == PARTIAL_HATCH]
    assert len(current) == 1  # October 2026 only; the year-earlier columns and May–Sep are whole
    assert current[0].get_x() > 5 - 0.5  # the last month's column
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["October 2025", "October 2026", "to date (not over yet)"]
    assert "Alpha · October 2026, to 20 Oct" in _texts(fig)
    # without a time of asking nothing is called partial
    assert not [p for p in _chart("trend", trend_result()).axes[0].patches if p.get_hatch()]


def test_plan_dynamics_and_today_s_activity_are_marked_partial():
    fig = _chart("plan_dynamics", plan_result(), now=NOW)
    hatched = [p for p in fig.axes[0].patches if p.get_hatch() == PARTIAL_HATCH]
    assert len(hatched) == 1
    assert "50.9%\nto date" in _texts(fig)
    assert {"May 2026", "Oct 2026"} <= set(_texts(fig))
    days = _chart("activity_by_day", activity_result(), now=NOW)
    bars = list(days.axes[0].containers[0])
    assert [i for i, b in enumerate(bars) if b.get_hatch() == PARTIAL_HATCH] == [19]  # 20 Oct
    assert "today, to date" in _texts(days)


def test_a_month_without_a_plan_reads_n_a_in_the_dynamics_with_no_column():
    # May–October attainment, September n/a (no plan that month): five columns, none of them at September's
    # place (x = 4), which says "n/a" / "н/д" instead.
    for locale, na in (("en", "n/a"), ("ru", "н/д")):
        fig = _chart("plan_dynamics", plan_result(), locale, now=NOW)
        ax = fig.axes[0]
        columns = [round(p.get_x() + p.get_width() / 2) for p in ax.patches]
        assert columns == [0, 1, 2, 3, 5], locale
        assert [t.get_text() for t in ax.texts if t.xy[0] == 4] == [na], locale


def test_cohort_heat_map_has_a_colour_legend():
    fig = _chart("cohorts", retention_result(), "ru")
    assert len(fig.axes) == 2
    bar = fig.axes[1]
    assert bar.get_ylabel() == "доля продолжающих заказывать"
    fig.canvas.draw()
    assert [t.get_text() for t in bar.get_yticklabels()] == [
        "0\u00a0%",
        "25\u00a0%",
        "50\u00a0%",
        "75\u00a0%",
        "100\u00a0%",
    ]


def test_mrr_movements_are_signed_money_with_the_net_change():
    fig = _chart("mrr_bridge", mrr_result())
    texts = _texts(fig)
    # 5,000 + 3,000 − 2,000 − 4,000 = +2,000 = 102,000 − 100,000
    assert texts[0] == "MRR retention · $100K → $102K"
    assert [t.get_text() for t in fig.axes[0].texts] == [
        "+$5,000",
        "+$3,000",
        "−$2,000",
        "−$4,000",
        "+$2,000",
    ]
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [5_000, 3_000, -2_000, -4_000, 2_000]
    ru = _texts(_chart("mrr_bridge", mrr_result(), "ru"))
    assert {"Новый MRR", "Итоговое изменение"} <= {text.replace("\n", " ") for text in ru}  # long names wrap


def test_email_growth_ltv_cac_and_roi_charts():
    email = _texts(_chart("email_growth", email_result()))
    assert email[0] == "Email list · 1,000 → 1,025"
    assert {"+40", "−15", "+25"} <= set(email)  # 40 − 15 = 25 = 1,025 − 1,000
    ltv = _texts(_chart("ltv", ltv_result()))
    assert ltv[0] == "Lifetime value · LTV:CAC 4.0"
    assert {"$12,000", "$9,000", "$3,000", "CAC"} <= set(ltv)
    cac = _chart("cac", cac_result())
    assert len(cac.axes[0].patches) == 4  # 12,000 cut into 4 customers of 3,000
    assert {"CAC · $3,000", "Spend: $12,000", "4 new customers · $3,000 each"} <= set(_texts(cac))
    roi = _chart("roi", roi_result())
    texts = _texts(roi)
    # (3,000 − 1,000) / 1,000 = 200 %, (3,000 − 4,000) / 4,000 = −25 %, together (6,000 − 5,000) / 5,000 = 20 %
    assert texts[0] == "Campaign ROI · 20.0%"
    assert {"Webinars\nROI 200.0%", "Ads\nROI -25.0%", "$1,000", "$4,000"} <= set(texts)
    assert [t.get_text() for t in roi.legends[0].get_texts()] == ["Spend", "Revenue"]


def test_ltv_without_cac_marks_it_n_a_and_draws_no_bar_for_it():
    # A team's /ltv: spend is not attributed to teams, so CAC (and LTV:CAC) is n/a — a row named CAC that reads
    # "n/a" / "н/д" with no bar at all, beside the two CLTV bars of 12,000 and 9,000.
    ltv = ltv_result()
    team = replace(
        ltv,
        measures=tuple(replace(m, value=None) if m.key in ("cac", "ltv_cac") else m for m in ltv.measures),
    )
    for locale, title, na in (("en", "Lifetime value", "n/a"), ("ru", "Пожизненная ценность", "н/д")):
        fig = _chart("ltv", team, locale)
        ax = fig.axes[0]
        assert [round(p.get_width()) for p in ax.patches] == [12_000, 9_000], locale
        assert fig.texts[0].get_text() == title, locale  # the title promises no LTV:CAC it has not got
        third_row = [t.get_text() for t in ax.texts if t.xy[1] == 2]  # rows at y = 0, 1, 2, top down
        assert third_row == ["CAC", na], locale


def test_one_chart_request_carries_the_language_currency_and_time_to_every_chart():
    # Russian, in roubles, asked on Oct 20 (October in progress): the request is all a caller passes.
    request = ChartRequest(locale="ru", words=_words("ru"), currency="RUB", now=NOW)
    figures = dict(build_charts(plan_result(), request))
    assert list(figures) == ["plan", "plan_dynamics"]
    assert _texts(figures["plan"])[1] == "Alpha · октябрь 2026, по 20 окт."
    assert "план\n1\u00a0100\u00a0000\u00a0₽" in _texts(build_chart("plan", plan_result(), request))
    images = render_charts(plan_result(), request)
    assert [image.title for image in images] == [_texts(figures[kind])[0] for kind in figures]
    # A leaderboard is asked for by the measure it ranks, in the same request.
    ranked = build_charts(breakdown_result(), replace(request, measure="win_rate"))
    assert [kind for kind, _ in ranked] == ["leaderboard"]


def test_render_charts_still_takes_the_request_s_fields_as_keywords():
    # The conversation calls render_charts(result, locale=…, translate=…, words=…, currency=…, now=…, measure=…).
    request = ChartRequest(locale="ru", words=_words("ru"), currency="RUB", now=NOW)
    by_keywords = render_charts(plan_result(), locale="ru", words=_words("ru"), currency="RUB", now=NOW)
    assert [(i.filename, i.title) for i in by_keywords] == [
        (i.filename, i.title) for i in render_charts(plan_result(), request)
    ]
    with pytest.raises(TypeError):
        render_charts(plan_result(), request, locale="en")  # one way or the other, not both
    with pytest.raises(TypeError):
        render_charts(plan_result(), lang="ru")


def test_leaderboard_ranks_by_its_measure_with_values():
    result = breakdown_result()
    fig = _chart("leaderboard", result, measure="win_rate")
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels[:2] == ["1. Rep 20", "100.0%"]
    assert fig.texts[0].get_text() == "Leaderboard: Win rate"
    # costs rank least first
    cheap = replace(
        result,
        rows=tuple(
            BreakdownRow(f"r{i}", f"R{i}", (Measure("cac", "CAC", "money", 100 * i),)) for i in (3, 1, 2)
        ),
    )
    order = [t.get_text() for t in _chart("leaderboard", cheap, measure="cac").axes[0].texts][::2]
    assert order == ["1. R1", "2. R2", "3. R3"]


def test_lead_sources_read_as_words_in_both_languages():
    rows = tuple(
        BreakdownRow(key, key, (Measure("win_rate", "Win rate", "percent", share),))
        for key, share in (("organic_search", 0.5), ("paid_search", 0.25), ("trade_fair", 0.1))
    )
    result = replace(breakdown_result(), breakdown_by="source", rows=rows)
    en = _texts(_chart("breakdown", result))
    assert {"Organic search", "Paid search", "Trade fair"} <= set(en)
    assert "organic_search" not in en
    ru = _texts(_chart("breakdown", result, "ru"))
    assert {"Органический поиск", "Платный поиск"} <= set(ru)


def test_new_metrics_get_their_charts():
    assert chart_kinds_for(mrr_result()) == ("mrr_bridge",)
    assert chart_kinds_for(email_result()) == ("email_growth",)
    assert chart_kinds_for(ltv_result()) == ("ltv",)
    assert chart_kinds_for(cac_result()) == ("cac",)
    assert chart_kinds_for(roi_result()) == ("roi", "breakdown")
    assert chart_kinds_for(breakdown_result(), measure="win_rate") == ("leaderboard",)
    assert [kind for kind, _ in build_charts(mrr_result())] == ["mrr_bridge"]


def test_money_in_a_title_is_not_read_as_a_formula():
    fig = _chart("mrr_bridge", mrr_result())
    fig.canvas.draw()
    title = fig.texts[0]
    assert not title.get_parse_math()
    assert title.get_text().count("$") == 2


def test_plan_end_label_keeps_clear_of_the_day_labels():
    # Dec 2: 249,817 won against a plan of 3.3 M: the actual's label sat on the "7 Dec" tick label
    days = [code for code, _ in plan_result().series_by_key("cumulative_target").points]
    early = [(code, 25_000 if i < 2 else None) for i, code in enumerate(days)]
    result = replace(
        plan_result(),
        series=(
            Series("cumulative_actual", "Actual", tuple(early), unit="money"),
            *[s for s in plan_result().series if s.key != "cumulative_actual"],
        ),
        measures=(Measure("revenue.attainment", "Revenue: attainment", "percent", 25_000 / 1_100_000),),
    )
    for locale in ("en", "ru"):
        fig = _chart("plan", result, locale, now=datetime(2026, 10, 2, 12, tzinfo=MOSCOW))
        assert overlapping_texts(fig) == []


@pytest.mark.parametrize("kind", CHART_KINDS)
def test_no_label_runs_into_another(kind):
    for locale in ("en", "ru"):
        fig = build_chart(kind, EXAMPLES[kind](), ChartRequest(locale=locale, words=_words(locale), now=NOW))
        assert fig is not None
        assert overlapping_texts(fig) == [], kind
        assert texts_outside(fig) == [], kind


def test_a_one_day_plan_names_its_line_inside_the_picture():
    # /plan yesterday: one day on the x axis; "plan" sat 0.8 days right of it, off the picture's edge
    one_day = replace(
        plan_result(),
        series=tuple(replace(s, points=s.points[:1]) for s in plan_result().series if s.key != "dynamics"),
    )
    fig = _chart("plan", one_day)
    assert any(t.startswith("plan\n") for t in _texts(fig))
    assert texts_outside(fig) == []


def test_a_result_without_rows_has_no_leaderboard():
    assert chart_kinds_for(_result("x", "X", Measure("x", "X", "count", 1)), measure="x") == ()


def test_a_trend_of_zeros_is_no_chart_and_a_comparison_of_zeros_is_not_promised():
    result = trend_result()
    zeros = replace(
        result,
        rows=tuple(replace(r, measures=(replace(r.measures[0], value=0, previous=0),)) for r in result.rows),
    )
    assert build_chart("trend", zeros) is None
    # a year earlier nothing was recorded (zeros): no faded columns, no legend naming October 2025
    no_history = replace(
        result, rows=tuple(replace(r, measures=(replace(r.measures[0], previous=0),)) for r in result.rows)
    )
    fig = _chart("trend", no_history)
    assert len(fig.axes[0].patches) == 6
    assert "October 2025" not in _texts(fig)


def test_stage_names_start_with_a_capital_whatever_the_catalogue_holds():
    result = _result(
        "stages",
        "Stage durations",
        Measure("median", "Median days", "days", 3.0),
        series=(
            Series("deal_stages", "Deal stages: median days", (("demo", 1.0), ("proposal", 2.0)), "days"),
        ),
    )
    assert {"Demo", "Proposal"} <= set(_texts(_chart("stages", result)))
    assert {"Демо", "Предложение"} <= set(_texts(_chart("stages", result, "ru")))


# Words that are the same in Russian (acronyms) or are names from the hand-built results, not chart words.
_NOT_ENGLISH_WORDS = {
    "MQL",
    "SQL",
    "SAL",
    "CAC",
    "LTV",
    "CLTV",
    "ROI",
    "MRR",
    "NRR",
    "GRR",
    "Alpha",
    "Rep",
    "Webinars",
    "Ads",
}
# Stage names come from the CRM as they are (tests/metrics/test_charts.py's stages_result).
_NOT_ENGLISH_WORDS |= {"Qualification", "Proposal", "Negotiation", "Contract", "New"}


@pytest.mark.parametrize("kind", CHART_KINDS)
def test_a_russian_chart_has_no_english_words(kind):
    fig = build_chart(kind, EXAMPLES[kind](), ChartRequest(locale="ru", words=_words("ru"), now=NOW))
    assert fig is not None
    fig.canvas.draw()
    english = {
        word
        for text in _texts(fig)
        for word in re.findall(r"[A-Za-z]{2,}", text)
        if word not in _NOT_ENGLISH_WORDS
    }
    assert english == set(), kind


def test_every_chart_word_in_the_code_is_in_both_catalogues():
    source = "\n".join(p.read_text() for p in Path(charts.__file__).parent.glob("*.py"))
    keys = set(re.findall(r'(?<!f)"(chart\.[^"{]*(?:\{[a-z_]+\}[^"{]*)*)"', source))
    keys.discard("chart.")
    # and the keys the code composes: series titles, stage panels, breakdowns
    keys |= {f"chart.{english}" for english in ("by type", "by day")}
    keys |= {"chart.Deal stages: median days", "chart.Lead stages: median days"}
    keys |= {
        f"chart.by {by}"
        for by in ("rep", "team", "source", "segment", "product", "campaign", "list", "month", "week")
    }
    assert len(keys) > 15
    for locale in ("en", "ru"):
        t = translator(locale)
        missing = sorted(k for k in keys if not t.has(k))
        assert missing == [], locale
    ru = translator("ru")
    assert all(ru(k) != translator("en")(k) for k in keys if k not in {"chart.n/a"})


def test_segments_and_the_row_without_a_value_read_as_words():
    rows = tuple(
        BreakdownRow(key, label, (Measure("win_rate", "Win rate", "percent", share),))
        for key, label, share in (("saas", "saas", 0.9), ("retail", "retail", 0.8), ("", "(none)", 0.5))
    )
    by_segment = replace(breakdown_result(), breakdown_by="segment", rows=rows)
    assert {"SaaS", "Retail", "No segment"} <= set(_texts(_chart("breakdown", by_segment)))
    assert {"SaaS", "Розница", "Без сегмента"} <= set(_texts(_chart("breakdown", by_segment, "ru")))
    by_campaign = replace(by_segment, breakdown_by="campaign")
    assert "Без кампании" in _texts(_chart("breakdown", by_campaign, "ru"))


def test_a_breakdown_axis_does_not_repeat_the_title():
    fig = _chart("breakdown", breakdown_result())
    assert fig.texts[0].get_text() == "Win rate · by rep"
    # 20 reps with a win rate: the axis says only what the title does not
    assert fig.axes[0].get_xlabel() == "top 15 of 20"


def test_customer_success_rates_stand_against_the_hundred_percent_line():
    fig = _chart("cs", cs_result())
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    assert {"95.0%", "102.0%", "100%", "Account retention (MRR)", "NRR"} <= set(texts)
    # the numbers sit inside their bars, in white, so the dashed 100 % line never crosses one
    assert texts["95.0%"].get_color() == "white" and texts["95.0%"].get_horizontalalignment() == "right"


@dataclass(frozen=True)
class _Covered(MetricResult):
    """A result carrying the coverage the catalogue attaches (which days its numbers cover)."""

    coverage: Any = None


def test_the_results_own_coverage_marks_the_partial_month_without_a_time_of_asking():
    # month to date, last day with data Oct 20: October's column is the partial one
    base = trend_result()
    covered = _Covered(**{f.name: getattr(base, f.name) for f in fields(MetricResult)})
    covered = replace(covered, coverage=SimpleNamespace(partial=True, last_day=date(2026, 10, 20)))
    fig = _chart("trend", covered)
    assert len([p for p in fig.axes[0].patches if p.get_hatch() == PARTIAL_HATCH]) == 1
    assert fig.texts[1].get_text() == "Alpha · October 2026, to 20 Oct"
    # a whole period's coverage: nothing partial, even when asked during it
    whole = replace(covered, coverage=SimpleNamespace(partial=False, last_day=date(2026, 10, 31)))
    assert not [p for p in _chart("trend", whole, now=NOW).axes[0].patches if p.get_hatch()]


def test_weeks_of_a_running_month_start_inside_it_and_weeks_ahead_show_no_number():
    # December 2026 by week, asked on Wed Dec 2: W49 (Mon Nov 30 – Sun Dec 6) holds Dec 1–2 only, W50–W53 are ahead
    december = _result("revenue", "Revenue", Measure("revenue", "Revenue", "money", 1_500))
    weeks = [("2026-W49", 1_500), ("2026-W50", 0), ("2026-W51", 0), ("2026-W52", 0), ("2026-W53", 0)]
    result = replace(
        december,
        period=replace(month_period(date(2026, 12, 1), MOSCOW), label="2026-12"),
        breakdown_by="week",
        rows=tuple(BreakdownRow(k, k, (Measure("revenue", "Revenue", "money", v),)) for k, v in weeks),
    )
    fig = _chart("trend", result, now=datetime(2026, 12, 2, 12, tzinfo=MOSCOW))
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0] == "1 Dec"
    assert [t.get_text() for t in fig.axes[0].texts] == ["$1,500"]  # no "$0" over the weeks still ahead
