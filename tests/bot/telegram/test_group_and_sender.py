"""Group chats bound to a team, and the outbox Sender's reading of Telegram's refusals.

Clock: Friday 2026-10-30 12:00 UTC, so "this month" is October: team Alpha (Rita 10 + Rob 7) had 17 leads.
Mia manages Alpha; Rita is a rep in it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from telegram import Bot

from bot.reply.messages import Reply, Span
from bot.reply.sender import DeliveryError
from bot.telegram.sender import TelegramSender
from storage.schema import User
from tests.bot.telegram.conftest import TOKEN
from tests.bot.telegram.test_service import NOW, BotThread, runtime  # noqa: F401  (the runtime fixture)
from tests.bot.telegram.updates import group_text, person

ADA = person(900001, "Ada")
RITA = person(555001, "Rita")
MIA = person(555100, "Mia")
GROUP = -100500


def link(engine, user_id: str, telegram_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == user_id).values(telegram_user_id=telegram_id))


def test_an_admin_binds_the_group_to_alpha_and_it_answers_for_the_team(fake_api, runtime):  # noqa: F811
    link(runtime.engine, "admin", ADA["id"])
    link(runtime.engine, "rep-1", RITA["id"])
    link(runtime.engine, "mgr-a", MIA["id"])
    with BotThread(runtime):
        fake_api.wait_for_calls("getUpdates", 1)

        def say(user, text: str) -> str:
            mark = len(fake_api.calls)
            fake_api.push_update(group_text(user, GROUP, text))
            # The scheduler may DM a digest meanwhile (12:00 on a Friday): the group's answer is the one to read.
            (sent,) = fake_api.wait_for_calls("sendMessage", 1, after=mark, chat_id=GROUP)
            return sent.params["text"]

        assert "администратор" in say(RITA, "/bind team Alpha")  # a rep may not bind (Rita reads Russian)
        assert "Alpha" in say(ADA, "/bind@kpi_test_bot team Alpha")
        assert "Alpha" in say(ADA, "/bind")

        # Mia manages Alpha: a bare /funnel in the group is the team's.
        team_funnel = say(MIA, "/funnel")
        assert "Alpha" in team_funnel and "<b>17</b>" in team_funnel

        # Rita is a rep: the team's numbers are beyond her rights, and her own stay out of the group.
        mine = say(RITA, "/funnel")
        assert "<b>10</b>" not in mine and "<b>17</b>" not in mine

        # One rep's numbers reach the group only when someone who may see them asks for them.
        assert "<b>7</b>" not in say(RITA, "/funnel Rob Rep")
        assert "<b>7</b>" in say(MIA, "/funnel Rob Rep")

        # A command addressed to another bot is not ours to answer.
        mark = len(fake_api.calls)
        fake_api.push_update(group_text(RITA, GROUP, "/funnel@other_bot"))
        fake_api.push_update(group_text(RITA, GROUP, "/whoami"))
        (only,) = fake_api.wait_for_calls("sendMessage", 1, after=mark)
        assert "Rita Rep" in only.params["text"]

        # Chatter in the group is not for the bot; a question put to it is read as its command and answered:
        # Alpha's October deals, 2 won of 3 closed.
        mark = len(fake_api.calls)
        fake_api.push_update(group_text(MIA, GROUP, "how many deals did we win last month?"))
        fake_api.push_update(
            group_text(MIA, GROUP, "@kpi_test_bot how many deals did we win in October 2026?")
        )
        (answer,) = fake_api.wait_for_calls("sendMessage", 1, after=mark)
        assert "/winrate 2026-10" in answer.params["text"] and "66.7%" in answer.params["text"]


@pytest.mark.parametrize(
    "status, description, retry_after, permanent",
    [
        (429, "Too Many Requests: retry after 7", 7, False),
        (403, "Forbidden: bot was blocked by the user", None, True),
        (400, "Bad Request: chat not found", None, True),
    ],
)
async def test_the_sender_tells_the_outbox_when_to_retry_and_when_to_give_up(
    fake_api, engine, status, description, retry_after, permanent
):
    async with Bot(TOKEN, base_url=f"{fake_api.base_url}/bot") as bot:
        sender = TelegramSender(bot, engine, clock=lambda: NOW)
        fake_api.fail_next("sendMessage", status=status, description=description, retry_after=retry_after)
        with pytest.raises(DeliveryError) as failed:
            await sender.send("555001", Reply(lines=((Span("Morning digest"),),)))
        assert failed.value.retry_after == retry_after
        assert failed.value.permanent is permanent
        # The next attempt goes through.
        await sender.send("555001", Reply(lines=((Span("Morning digest"),),)))
        assert fake_api.calls_of("sendMessage")[-1].params["text"] == "Morning digest"
