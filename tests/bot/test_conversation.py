"""Reps and managers talk to the bot: every command against the small fixture org (tests/fixtures/bot_org.py), on
SQLite and PostgreSQL, numbers worked out by hand in the fixture's docstring."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest
from babel.dates import format_interval
from matplotlib.image import imread
from sqlalchemy import select, update

from bot.conversation import Conversation
from bot.identity import resolve_user
from bot.registry import Registry
from bot.reply.command import Command
from bot.reply.messages import Reply, Request
from metrics.catalogue import catalogue
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import User
from tests.fixtures.bot_org import NOW, seed_org

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), build_registry())


def ask(conversation: Conversation, user: str | None, text: str, **fields) -> Reply:
    return conversation.handle(Request("console", text, NOW, user, **fields))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


def assert_valid_charts(reply: Reply) -> None:
    for chart in reply.charts:
        assert chart.png.startswith(PNG_SIGNATURE), chart.filename
        assert imread(io.BytesIO(chart.png), format="png").shape[0] > 0


def test_a_rep_asks_for_last_months_funnel(conversation):
    reply = ask(conversation, "rep-2", "/funnel last month")
    assert reply.kind == "answer"
    assert reply.title == "Funnel · Rob Rep · October 2026"
    # Rob's 7 October leads: 3 reached MQL, 1 of them SAL; nothing was won.
    assert lines(reply)[:3] == ["Leads: 7", "MQL: 3 · 42.9% of Leads", "SAL: 1 · 33.3% of MQL"]
    assert lines(reply)[6].startswith("Leads → Won 0.0% · MQL rate 42.9%")
    assert reply.footer.startswith(
        "Oct 1\u2009–\u200931, 2026 · Rob Rep · cohort. Leads reaching each funnel stage"
    )
    assert [a.label for a in reply.actions] == ["vs prev"]  # a rep gets no "By rep"
    assert reply.actions[0].command == "/funnel 2026-10 vs prev"
    assert reply.charts, "the funnel comes with its chart"
    assert_valid_charts(reply)


def test_a_manager_sees_the_team_broken_down_by_rep_with_who_is_ahead(conversation):
    reply = ask(conversation, "mgr-a", "/funnel last month")
    assert reply.title == "Funnel · Alpha · October 2026"
    text = lines(reply)
    assert text[:2] == ["Leads: 17", "MQL: 7 · 41.2% of Leads"]
    assert "Ahead: Rita Rep (10) · Behind: Rob Rep (7)" in text
    assert reply.table is not None
    assert reply.table.columns[:2] == ("rep", "Leads")
    assert [row[:2] for row in reply.table.rows] == [("Rita Rep", "10"), ("Rob Rep", "7")]
    assert_valid_charts(reply)


def test_vs_prev_in_any_order_shows_the_deltas(conversation):
    reply = ask(conversation, "rep-1", "/funnel vs prev last month", locale="en")
    text = lines(reply)
    # 10 leads against September's 8; 4 MQL against 2: the step 40.0 % against 2 / 8 = 25.0 %.
    assert text[:2] == ["Leads: 10 ▲ 25.0%", "MQL: 4 ▲ 100.0% · 40.0% of Leads ▲ 15.0 pp"]
    assert text[6].endswith("vs prev")
    assert "vs prev Sep 1\u2009–\u200930, 2026" in reply.footer


def test_win_rate_names_who_is_ahead_and_behind(conversation):
    reply = ask(conversation, "mgr-a", "/winrate last month")
    text = lines(reply)
    assert text[0] == "Win rate: 66.7%"  # 2 won / (2 won + 1 lost)
    assert "Ahead: Rob Rep (100.0%) · Behind: Rita Rep (50.0%)" in text


def test_revenue_is_money_in_the_orgs_currency(conversation):
    reply = ask(conversation, "mgr-a", "/revenue last month")
    assert lines(reply)[0] == "Revenue: $8,000"


def test_filters_narrow_the_leads(conversation):
    assert lines(ask(conversation, "rep-2", "/funnel source=paid_search last month"))[0] == "Leads: 7"
    # A source no lead has is a mistake to point out, not a funnel of zeros.
    assert lines(ask(conversation, "rep-2", "/funnel last month source=organic_search")) == [
        "I don't know a source called 'organic_search'."
    ]


def test_a_manager_drills_into_a_rep_by_id_or_name(conversation):
    by_id = ask(conversation, "mgr-a", "/funnel rep-1 last month")
    by_name = ask(conversation, "mgr-a", '/funnel last month "Rita Rep"')
    by_at = ask(conversation, "mgr-a", "/funnel @rep-1 last month")
    for reply in (by_id, by_name, by_at):
        assert reply.title == "Funnel · Rita Rep · October 2026"
        assert lines(reply)[0] == "Leads: 10"


def test_russian_words_and_a_russian_reply(conversation):
    reply = ask(conversation, "rep-1", "/воронка прошлый месяц к прошлому")  # Rita's stored language is ru
    assert reply.title == "Воронка · Rita Rep · октябрь 2026"
    assert lines(reply)[0] == "Лиды: 10 ▲ 25,0\xa0%"
    assert lines(reply)[6].endswith("к пред. периоду")
    # CLDR's Russian range dash changed between Babel releases (en dash, then em dash); the dates are the point.
    dash = format_interval(date(2026, 10, 1), date(2026, 10, 31), "yMMMd", locale="ru")[1]
    assert reply.footer.startswith(
        f"1{dash}31 окт. 2026\u202fг. · Rita Rep · к пред. периоду 1{dash}30 сент. 2026\u202fг. · когорта"
    )
    assert reply.footer.endswith("Сколько лидов дошло до каждого этапа воронки и конверсия между этапами.")


def test_a_russian_error_names_the_metric_in_russian(conversation):
    reply = ask(conversation, "rep-1", "/активность по источникам")
    assert lines(reply) == [
        "Активность нельзя разбить по «source»; можно: rep, team, month, week. Попробуйте: /активность вчера"
    ]


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        ("rep-2", "/funnel last blorp", "I don't understand the period 'blorp'. Try: /funnel last month"),
        ("rep-1", "/funnel last blorp", "Я не понимаю период «blorp». Попробуйте: /воронка прошлый месяц"),
        (
            "rep-2",
            "/funnel by colour",
            "I can't break down by 'colour'; try: rep, team, source, segment, product, campaign, month, week. "
            "Try: /funnel last month",
        ),
        ("rep-2", "/funnel banana", "I don't understand 'banana'. Try: /funnel last month"),
        (
            "rep-2",
            "/activity by source",
            "Sales activity can't be broken down by source; try: rep, team, month, week. Try: /activity yesterday",
        ),
    ],
)
def test_bad_input_gets_one_line_with_the_usage(conversation, user, text, expected):
    reply = ask(conversation, user, text)
    assert reply.kind == "user_error"
    assert lines(reply) == [expected]


def test_a_rep_is_refused_another_reps_numbers(conversation):
    for text in ("/funnel @rep-1", "/funnel team", "/funnel org"):
        reply = ask(conversation, "rep-2", text)
        assert reply.kind == "user_error", text
        assert lines(reply)[0].endswith("You can see your own numbers."), text
    assert lines(ask(conversation, "rep-2", "/funnel @rep-1")) == [
        "You can't see the numbers of 'rep-1'. You can see your own numbers."
    ]
    assert lines(ask(conversation, "mgr-b", "/funnel team Alpha")) == [
        "You can't see that team's numbers. You can see your team(s) and each member."
    ]


@pytest.mark.parametrize(
    ("user", "others", "allowed"),
    [
        ("rep-2", ["rep-1", "rita rep", "rep-1@fixture.example", "mgr-a", "admin"], "your own numbers"),
        (
            "mgr-a",
            ["rep-3", "Rae Rep", "rep-3@fixture.example", "mgr-b", "admin"],
            "your team(s) and each member",
        ),
    ],
)
def test_a_refusal_never_tells_who_an_id_name_or_email_belongs_to(conversation, user, others, allowed):
    # Someone who exists and someone who does not get the same one line, which repeats only what was typed.
    nobody = ["rep-999", "Nobody Here", "chloe.allen@demo.example"]
    for ref in others + nobody:
        reply = ask(conversation, user, f'/funnel "@{ref}" last month')
        assert lines(reply) == [f"You can't see the numbers of '{ref}'. You can see {allowed}."], ref
    for ref in others[:2] + nobody[:2]:  # a bare id or name is a word the bot does not understand, alike
        assert lines(ask(conversation, user, f'/funnel "{ref}"')) == [
            f"I don't understand '{ref}'. Try: /funnel last month"
        ], ref
    for team in ("Bravo" if user == "mgr-a" else "Alpha", "Nowhere"):
        assert lines(ask(conversation, user, f"/funnel team {team}")) == [
            f"You can't see that team's numbers. You can see {allowed}."
        ], team


def test_in_russian_the_refusal_repeats_only_what_was_typed(conversation):
    assert lines(ask(conversation, "rep-1", "/воронка @rep-2@fixture.example")) == [
        "Вам недоступны показатели «rep-2@fixture.example». Вам доступны только ваши собственные показатели."
    ]


def test_a_manager_names_a_member_by_email_and_an_admin_anyone(conversation):
    assert ask(conversation, "mgr-a", "/funnel @rep-1@fixture.example last month").title == (
        "Funnel · Rita Rep · October 2026"
    )
    assert ask(conversation, "admin", "/funnel @rep-3 last month").title == "Funnel · Rae Rep · October 2026"
    assert lines(ask(conversation, "admin", "/funnel @rep-999")) == [
        "I don't know a rep called 'rep-999'. Try: /funnel last month"
    ]


def test_an_unlinked_user_may_only_start_ask_for_help_and_whoami(conversation):
    refused = ask(conversation, None, "/funnel", platform_user_id="42")
    assert refused.kind == "info" and "not linked" in refused.plain_text
    assert ask(conversation, None, "/help").kind == "info"
    assert "/funnel" not in ask(conversation, None, "/help").plain_text
    assert "console:42" in ask(conversation, None, "/whoami", platform_user_id="42").plain_text
    assert "invite code" in ask(conversation, None, "/start").plain_text


def test_a_failure_gives_an_incident_id_and_no_traceback(conversation, caplog, monkeypatch):
    def broken(ctx):
        raise RuntimeError("secret internals")

    # A registry of this test's own, with the broken command beside the others.
    broken_command = Command("broken_for_test", "/broken_for_test", "help.broken", handler=broken)
    conversation = Conversation(
        conversation.engine, conversation.settings, Registry((*conversation.registry, broken_command))
    )
    with caplog.at_level(logging.ERROR, logger="bot.conversation"):
        reply = ask(conversation, "rep-2", "/broken_for_test")
    assert reply.kind == "failure" and reply.incident_id and len(reply.incident_id) == 8
    assert reply.incident_id in reply.plain_text
    assert "secret internals" not in reply.plain_text and "Traceback" not in reply.plain_text
    assert reply.incident_id in caplog.text and "secret internals" in caplog.text


def test_lang_ru_then_plan_answers_in_russian(conversation, engine):
    assert lines(ask(conversation, "mgr-a", "/lang ru")) == ["Готово: теперь я отвечаю вам по-русски."]
    with engine.connect() as conn:
        assert conn.execute(select(User.locale).where(User.user_id == "mgr-a")).scalar_one() == "ru"
    reply = ask(conversation, "mgr-a", "/plan прошлый месяц")
    assert reply.title == "План · Alpha · октябрь 2026"
    # Alpha's target is Rita's 10,000 (summed from its members); won 5,000 + 3,000 = 8,000.
    assert lines(reply)[0] == (
        "Выручка: 80,0\xa0% плана — 8\xa0000\xa0$ из 10\xa0000\xa0$ · темп 80,0\xa0% · прогноз 8\xa0000\xa0$"
        " · нужно в рабочий день: —"
    )
    assert "Период закончился: планировать больше нечего." in lines(reply)
    assert_valid_charts(reply)
    assert lines(ask(conversation, "mgr-a", "/lang en")) == ["Done: I will answer you in English."]


def test_leaderboard_ranks_the_reps_by_calls(conversation):
    reply = ask(conversation, "mgr-a", "/leaderboard calls last month")
    assert reply.title == "Leaderboard: Calls · Alpha · October 2026"
    assert lines(reply)[:2] == ["1. Rita Rep — 5", "2. Rob Rep — 3"]


def test_a_group_bound_to_a_team_answers_for_the_team(conversation):
    group = dict(chat_type="group", bound_team_id="t-a")
    team = ask(conversation, "mgr-a", "/funnel last month", **group)
    assert team.title == "Funnel · Alpha · October 2026"
    # Every member reads a group: the team's totals, not each rep's numbers, unless the manager asks for them.
    assert team.table is None and lines(team)[0] == "Leads: 17"
    assert ask(conversation, "mgr-a", "/funnel last month by rep", **group).table is not None
    # A rep's own numbers only when asked for explicitly; the team is beyond a rep's rights.
    assert ask(conversation, "rep-2", "/funnel last month", **group).kind == "user_error"
    assert (
        ask(conversation, "rep-2", "/funnel me last month", **group).title
        == "Funnel · Rob Rep · October 2026"
    )


def test_help_lists_every_command_and_explains_one(conversation):
    listing = ask(conversation, "mgr-a", "/help").plain_text
    for command in conversation.registry:
        if not command.admin_only:
            assert f"/{command.name}" in listing
    one = ask(conversation, "mgr-a", "/help funnel").plain_text
    assert "Example: /funnel last month" in one
    assert "Leads reaching each funnel stage" in one  # the catalogue's definition


def test_whoami_says_who_and_where(conversation):
    reply = ask(conversation, "mgr-a", "/whoami")
    assert reply.title == "Mia Manager"
    assert lines(reply) == ["Manager, id mgr-a", "Team: Alpha", "Language: en · time zone: UTC"]


def test_every_metric_command_answers_with_valid_charts(conversation):
    known = {metric.name for metric in catalogue()}
    for command in conversation.registry:
        if command.metric is None:
            continue
        # A manager may be refused an org-wide metric (CAC, ROI …); the admin sees every one.
        managers = ask(conversation, "mgr-a", f"/{command.name} last month")
        assert managers.kind != "failure", (command.name, managers.plain_text)
        reply = ask(conversation, "admin", f"/{command.name} last month")
        assert reply.kind != "failure", (command.name, reply.plain_text)
        if command.metric in known:
            assert reply.kind == "answer", (command.name, reply.plain_text)
            assert_valid_charts(reply)


def test_a_chat_account_resolves_to_its_linked_user(engine):
    seed_org(engine)
    with engine.begin() as conn:
        conn.execute(
            update(User).where(User.user_id == "rep-1").values(telegram_user_id=1001, slack_user_id="U1")
        )
        assert resolve_user(conn, "telegram", "1001") == "rep-1"
        assert resolve_user(conn, "slack", "U1") == "rep-1"
        assert resolve_user(conn, "slack", "U2") is None
        assert resolve_user(conn, "telegram", "not-a-number") is None
        conn.execute(update(User).where(User.user_id == "rep-1").values(active=False))
        assert resolve_user(conn, "telegram", 1001) is None


def test_an_org_only_metric_tells_a_manager_it_is_for_admins_without_a_useless_example(conversation):
    reply = ask(conversation, "mgr-a", "/email last month")
    assert reply.kind == "user_error"
    assert lines(reply) == [
        "Email list growth is an organisation-wide metric (email lists belong to the whole organisation), "
        "and the organisation's numbers are for admins."
    ]
