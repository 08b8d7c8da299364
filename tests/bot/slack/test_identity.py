"""Who is asking in Slack: linked accounts, linking by the profile's email on first contact, and the cases where
an admin has to decide instead."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.slack.handlers import command_text, link_needed_text, needs_link
from bot.slack.identity import SlackIdentity, SlackPerson, link_by_email
from bot.slack.service import make_client
from run_bot import build_registry
from storage.schema import User
from tests.bot.slack.conftest import TOKEN
from tests.fixtures.metrics_org import seed_people


def slack_id_of(engine, user_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(User.slack_user_id).where(User.user_id == user_id)).scalar()


async def test_rita_is_linked_by_her_slack_email_once_and_then_found_without_asking_slack(engine, slack_api):
    seed_people(engine)
    slack_api.add_user("U0RITA", email="REP-1@fixture.example", name="Rita Rep", locale="ru-RU")
    identity = SlackIdentity(engine, make_client(TOKEN, slack_api.api_url, wait_out_rate_limits=False))

    first = await identity.person("U0RITA")
    assert first == SlackPerson("U0RITA", "rep-1", "REP-1@fixture.example", "ru")
    assert slack_id_of(engine, "rep-1") == "U0RITA"

    assert await identity.person("U0RITA") == SlackPerson("U0RITA", "rep-1")
    assert len(slack_api.calls_of("users.info")) == 1


async def test_a_stranger_a_bot_and_an_unknown_account_stay_unlinked(engine, slack_api):
    seed_people(engine)
    slack_api.add_user("U0EVE", email="eve@elsewhere.example", locale="en-GB")
    slack_api.add_user("U0BOT", email="rep-2@fixture.example", is_bot=True)
    identity = SlackIdentity(engine, make_client(TOKEN, slack_api.api_url, wait_out_rate_limits=False))
    assert await identity.person("U0EVE") == SlackPerson("U0EVE", None, "eve@elsewhere.example", "en")
    assert (await identity.person("U0BOT")).user_id is None
    assert await identity.person("U0NOBODY") == SlackPerson("U0NOBODY", None)
    assert slack_id_of(engine, "rep-2") is None


def test_an_email_never_moves_a_link_or_picks_between_two_people(engine):
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "rep-1").values(slack_user_id="U0RITA"))
        conn.execute(update(User).where(User.user_id == "rep-3").values(email="rep-2@fixture.example"))
        conn.execute(update(User).where(User.user_id == "mgr-b").values(active=False))
    assert link_by_email(engine, "U0SECOND", "rep-1@fixture.example") is None  # Rita is linked elsewhere
    assert link_by_email(engine, "U0RITA", "rep-1@fixture.example") == "rep-1"  # her own account: fine
    assert link_by_email(engine, "U0ROB", "rep-2@fixture.example") is None  # Rob and Rae share an address
    assert link_by_email(engine, "U0MAX", "mgr-b@fixture.example") is None  # Max is deactivated
    assert link_by_email(engine, "U0RITA", "mgr-a@fixture.example") is None  # this account is Rita's already
    assert slack_id_of(engine, "mgr-a") is None and slack_id_of(engine, "rep-2") is None


def test_an_unlinked_person_may_still_ask_for_help_and_is_told_whom_to_ask():
    commands = build_registry()
    assert needs_link("/funnel last month", commands) and needs_link("/plan", commands)
    assert not needs_link("/help", commands) and not needs_link("/start ABC", commands)
    assert not needs_link("/whoami", commands)
    assert not needs_link("/blorp", commands)  # the conversation explains an unknown command itself
    assert (
        "ask your kpibot admin to put eve@x.example on your kpibot user"
        in link_needed_text("en", "eve@x.example").lower()
    )
    assert "/kpi start КОД" in link_needed_text("ru", None)


def test_kpi_words_become_the_conversations_command():
    assert command_text("funnel last month by rep") == "/funnel last month by rep"
    assert command_text("  /plan ") == "/plan"
    assert command_text("") == "/help"  # a bare /kpi
