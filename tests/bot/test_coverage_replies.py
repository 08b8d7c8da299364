"""Replies say what their numbers cover: a period still running, a comparison without data, a period not begun,
a closed plan period's need, every stage of /stages, and /help defining every measure a reply shows.

The fixture org (tests/fixtures/bot_org.py) is asked on Friday 2026-11-20 12:00 UTC (15:00 for Rita in Moscow);
its data starts in September 2026. November has 21 working days (2–6, 9–13, 16–20, 23–27, 30); on the 20th the
14 before it are over — a day counts once it has ended, as for plan pace (tests/metrics/test_coverage.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert

from bot.commands.metric import METRIC_COMMANDS
from bot.conversation import Conversation
from bot.reply.arguments import Arguments
from bot.reply.formatting import Formatter
from bot.reply.i18n import translator
from bot.reply.messages import Reply, Request
from bot.reply.render import metric_reply
from metrics.catalogue import MetricQuery, get_metric, query
from metrics.periods import month_period
from metrics.result import Measure, MetricResult, Series
from metrics.scope import ResolvedScope
from run_bot import build_registry
from storage.config.settings import Settings, load_settings
from storage.schema import DealStageEvent, Plan
from tests.fixtures.bot_org import NOW, seed_org
from tests.fixtures.customers import seed_customers

THIN = "\u2009–\u2009"
ORDERS = Settings.model_validate({"org": {"timezone": "UTC"}, "revenue": {"source": "orders"}})


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), build_registry())


def ask(conversation: Conversation, user: str, text: str, **fields) -> Reply:
    return conversation.handle(Request("console", text, NOW, user, **fields))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


@pytest.mark.parametrize(
    ("words", "covered"),
    [
        ("this month", f"Month to date: Nov 1{THIN}20, 2026, 14 of 21 working days"),
        ("this week", f"Week to date: Nov 16{THIN}20, 2026, 4 of 5 working days"),
        # October's 22 working days and November's 14, of 22 + 21 + December's 23.
        ("this quarter", f"Quarter to date: Oct 1{THIN}Nov 20, 2026, 36 of 66 working days"),
        ("this year", f"Year to date: Jan 1{THIN}Nov 20, 2026, 231 of 261 working days"),
    ],
)
def test_a_period_still_running_says_it_is_to_date(conversation, words, covered):
    reply = ask(conversation, "rep-2", f"/funnel {words}")
    assert reply.footer.startswith(f"{covered} · Rob Rep · cohort.")


def test_in_russian_the_month_is_to_date_too(conversation):
    reply = ask(conversation, "rep-1", "/funnel этот месяц")
    assert reply.footer.startswith(
        "С начала месяца: 1—20 нояб. 2026\u202fг., рабочих дней: 14 из 21 · Rita Rep"
    )


def test_a_closed_month_gives_its_days_only(conversation):
    assert ask(conversation, "rep-2", "/funnel last month").footer.startswith(
        f"Oct 1{THIN}31, 2026 · Rob Rep"
    )


def test_vs_year_without_data_a_year_earlier_says_so(conversation):
    # The data starts in September 2026: October 2025 has nothing to compare Rob's 7 leads with.
    reply = ask(conversation, "rep-2", "/funnel last month vs year")
    text = lines(reply)
    assert text[0] == "Leads: 7"
    assert "No data for October 2025 to compare." in text
    assert not any("vs last year" in line for line in text)
    assert "vs last year" not in reply.footer


def test_vs_year_without_data_in_russian(conversation):
    text = lines(ask(conversation, "rep-1", "/funnel прошлый месяц к прошлому году"))
    assert "Для сравнения нет данных: октябрь 2025." in text
    assert not any("к прошлому году" in line for line in text)


def test_vs_prev_with_data_draws_its_deltas_and_no_such_line(conversation):
    text = lines(ask(conversation, "rep-1", "/funnel last month vs prev", locale="en"))
    # 10 October leads against September's 8.
    assert text[0] == "Leads: 10 ▲ 25.0%"
    assert not any(line.startswith("No data for") for line in text)


def test_a_future_period_is_one_line(conversation):
    reply = ask(conversation, "rep-2", "/funnel 2027-03")
    assert reply.kind == "user_error"
    assert lines(reply) == [
        "2027-03 has not started yet (it starts on 2027-03-01): there are no numbers for it. "
        "Try: /funnel last month"
    ]
    russian = ask(conversation, "rep-1", "/funnel 2027-03")
    assert lines(russian)[0].startswith(
        "Период 2027-03 ещё не начался (начало — 2027-03-01): данных за него нет."
    )


def test_a_closed_plan_period_needs_the_same_dash_for_rep_manager_and_admin(conversation):
    # Rita's October revenue plan 10,000, won 5,000: the period is over, nothing is needed per working day.
    rep = ask(conversation, "rep-1", "/plan last month", locale="en")
    assert lines(rep)[0] == (
        "Revenue: 50.0% of plan — $5,000 of $10,000 · pace 50.0% · forecast $5,000 · needed per working day: —"
    )
    for viewer, words in (("mgr-a", "/plan last month"), ("admin", "/plan last month team Alpha by rep")):
        table = ask(conversation, viewer, words).table
        assert table is not None
        column = table.columns.index("Revenue: needed per working day")
        rita = next(row for row in table.rows if row[0] == "Rita Rep")
        assert rita[column] == "—", viewer


def test_plan_calls_answers_what_it_takes_from_the_revenue_plan(conversation, engine):
    # Rita gets November plans for calls (16) and revenue (9,000): /plan calls shows the calls line only, and what
    # it takes still runs from the revenue plan (her trailing 90 days: d-1 won 5,000 from lead L1-1).
    with engine.begin() as conn:
        conn.execute(
            insert(Plan),
            [
                dict(period="2026-11", scope="user", scope_id="rep-1", metric="calls", target=Decimal("16")),
                dict(
                    period="2026-11", scope="user", scope_id="rep-1", metric="revenue", target=Decimal("9000")
                ),
            ],
        )
    text = lines(ask(conversation, "rep-1", "/plan calls", locale="en"))
    assert text[0].startswith("Calls: 0.0% of plan — 0 of 16")
    assert "What it takes needs a revenue plan." not in text
    assert any(line.startswith("What it takes: Won ") for line in text)


def test_a_forecast_from_one_working_day_is_flagged_early(conversation, engine):
    # Rita's November revenue plan of 9,000, asked on Tuesday Nov 3 at noon: only Monday Nov 2 is over (1 of 21),
    # nothing won yet, so the forecast is 0 / (1/21) = $0 — and early.
    with engine.begin() as conn:
        conn.execute(
            insert(Plan),
            [
                dict(
                    period="2026-11", scope="user", scope_id="rep-1", metric="revenue", target=Decimal("9000")
                )
            ],
        )
    tuesday = datetime(2026, 11, 3, 12, tzinfo=NOW.tzinfo)
    for locale, forecast, note in (
        ("en", "forecast $0 (early)", "Forecast from 1 of 21 working days: early"),
        ("ru", "прогноз 0\xa0$ (рано)", "Прогноз — по рабочим дням: 1 из 21; это рано"),
    ):
        reply = conversation.handle(Request("console", "/plan", tuesday, "rep-1", locale=locale))
        text = lines(reply)
        assert forecast in text[0], locale
        assert any(line.startswith(note) for line in text), locale


def test_ltv_of_a_month_two_working_days_old_is_flagged_early_like_a_forecast(engine):
    # tests/fixtures/customers.py, revenue from orders, asked on Monday Oct 5 2026 at noon: Thu 1 and Fri 2 are
    # over, 2 of October's 22 working days (fewer than 3), so the prorated month is flagged as /plan's forecast is:
    # "(early)" once, beside the first number made from the run-rate, and a note saying why.
    seed_customers(engine)
    monday = datetime(2026, 10, 5, 12, tzinfo=UTC)
    result = query(engine, ORDERS, MetricQuery("ltv", "admin", monday, period="2026-10"))
    for locale, flag, note in (
        ("en", "(early)", "Monthly revenue per account from 2 of 22 working days: early"),
        ("ru", "(рано)", "Выручка на аккаунт в месяц — по рабочим дням: 2 из 22; это рано"),
    ):
        reply = metric_reply(result, fmt=Formatter(locale), command="ltv", args=Arguments(), viewer=None)
        text = lines(reply)
        flagged = [line for line in text if flag in line]
        assert len(flagged) == 1 and flagged[0].endswith(flag), (locale, text)
        assert flagged[0].startswith(("CLTV (predictive): ", "CLTV (прогнозная): ")), (locale, text)
        assert any(line.startswith(note) for line in text), (locale, text)
    # A week on (Oct 12, 7 of 22 working days over) nothing is flagged.
    later = query(
        engine, ORDERS, MetricQuery("ltv", "admin", datetime(2026, 10, 12, 12, tzinfo=UTC), period="2026-10")
    )
    text = lines(metric_reply(later, fmt=Formatter("en"), command="ltv", args=Arguments(), viewer=None))
    assert not [line for line in text if "early" in line], text


def _stages_result() -> MetricResult:
    period = month_period(datetime(2026, 10, 1).date(), NOW.tzinfo)  # type: ignore[arg-type]
    deal = ["Discovery", "Demo", "Proposal", "Negotiation"]
    lead = ["lead", "mql"]
    # Negotiation is the slowest by median (4.0 days), its median the headline (20.5 here only to tell them apart).
    measures = [Measure("slowest_deal_stage_days", "Slowest deal stage: Negotiation", "days", 20.5)]
    for kind, stages in (("deal", deal), ("lead", lead)):
        for i, stage in enumerate(stages, 1):
            measures += [
                Measure(f"{kind}:{stage}:median_days", f"{stage}: median", "days", float(i)),
                Measure(f"{kind}:{stage}:mean_days", f"{stage}: mean", "days", i + 0.5),
                Measure(f"{kind}:{stage}:exits", f"{stage}: exits", "count", 10 * i),
            ]
    return MetricResult(
        metric="stages",
        title="Stage durations",
        description="Days spent in each stage.",
        period=period,
        scope=ResolvedScope("org", "Org", None),
        measures=tuple(measures),
        series=(
            Series("deal_stages", "Deal stages: median days", tuple((s, 1.0) for s in deal), "days"),
            Series("lead_stages", "Lead stages: median days", tuple((s, 1.0) for s in lead), "days"),
        ),
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            [
                "Slowest deal stage: Negotiation: 20.5 d",
                "Deal stages:",
                "Discovery: median 1.0 d · mean 1.5 d · 10 exits",
                "Demo: median 2.0 d · mean 2.5 d · 20 exits",
                "Proposal: median 3.0 d · mean 3.5 d · 30 exits",
                "Negotiation: median 4.0 d · mean 4.5 d · 40 exits",
                "Lead stages:",
                "Leads: median 1.0 d · mean 1.5 d · 10 exits",
                "MQL: median 2.0 d · mean 2.5 d · 20 exits",
            ],
        ),
        (
            "ru",
            [
                "Самый долгий этап сделки: Negotiation: 20,5 дн.",
                "Этапы сделок:",
                "Discovery: медиана 1,0 дн. · среднее 1,5 дн. · выходов: 10",
                "Demo: медиана 2,0 дн. · среднее 2,5 дн. · выходов: 20",
                "Proposal: медиана 3,0 дн. · среднее 3,5 дн. · выходов: 30",
                "Negotiation: медиана 4,0 дн. · среднее 4,5 дн. · выходов: 40",
                "Этапы лидов:",
                "Лиды: медиана 1,0 дн. · среднее 1,5 дн. · выходов: 10",
                "MQL: медиана 2,0 дн. · среднее 2,5 дн. · выходов: 20",
            ],
        ),
    ],
)
def test_stages_text_lists_every_stage_its_chart_shows(locale, expected):
    # Four deal stages and two lead stages: 19 measures, more than the ten lines a plain reply shows.
    reply = metric_reply(
        _stages_result(), fmt=Formatter(locale), command="stages", args=Arguments(), viewer=None
    )
    assert lines(reply) == expected


def test_help_defines_every_measure_a_reply_shows_in_both_languages(conversation, engine):
    # Rita also gets an October calls plan (so /activity shows calls vs plan and pace) and d-1 a stage history
    # (so /stages shows per-stage measures): every metric command, asked by the admin for October.
    with engine.begin() as conn:
        conn.execute(
            insert(Plan),
            [dict(period="2026-10", scope="user", scope_id="rep-1", metric="calls", target=Decimal("10"))],
        )
        conn.execute(
            insert(DealStageEvent),
            [
                dict(deal_id="d-1", stage="Discovery", entered_at=datetime(2026, 10, 12, 12)),
                dict(deal_id="d-1", stage="Proposal", entered_at=datetime(2026, 10, 18, 12)),
                dict(deal_id="d-1", stage="Won", entered_at=datetime(2026, 10, 25, 12)),
            ],
        )
    # Thirty questions in a row: a limit that lets the admin ask them all.
    settings = conversation.settings.model_copy(
        update={"chat": conversation.settings.chat.model_copy(update={"rate_limit_per_minute": 1000})}
    )
    conversation = Conversation(engine, settings, build_registry())
    stages = settings.funnel.stages
    seen: set[str] = set()
    for command in METRIC_COMMANDS:
        metric = get_metric(command.metric or "")
        result = query(engine, settings, MetricQuery(metric.name, "admin", NOW, period="last month"))
        assert result.measures, command.name
        for locale in ("en", "ru"):
            t = translator(locale)
            help_text = "\n".join(lines(ask(conversation, "admin", f"/help {command.name}", locale=locale)))
            for measure in result.measures:
                defined = metric.defined_as(measure.key, stages)
                assert defined in metric.defines, f"/{command.name}: {measure.key} is not defined"
                key = f"define.{metric.name}.{defined}"
                assert t.has(key), f"{locale}: no {key}"
                assert f"• {t(key)}" in help_text, f"{locale} /help {command.name} lacks {measure.key}"
                seen.add(f"{metric.name}.{defined}")
    # The two the issue names, and measures made per stage, per plan line and per plan of activity.
    assert {"funnel.acceptance_rate", "funnel.proposal_rate", "funnel.step", "funnel.stage"} <= seen
    assert {"stages.stage_median_days", "plan.line_needed_per_day", "activity.calls_pace"} <= seen
