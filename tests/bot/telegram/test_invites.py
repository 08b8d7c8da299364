"""Linking a Telegram account with a one-time invite code (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.invite_cli import register  # noqa: F401  (the CLI module imports cleanly)
from bot.invites import create_invite, redeem_invite, telegram_link
from storage.errors import UserError
from storage.schema import Invite, User
from tests.fixtures.metrics_org import seed_people

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def org(engine):
    seed_people(engine)
    return engine


def telegram_id_of(engine, user_id):
    with engine.connect() as conn:
        return conn.execute(select(User.telegram_user_id).where(User.user_id == user_id)).scalar()


def test_rita_links_her_telegram_account_with_the_code_from_her_invite(org):
    invite = create_invite(org, "rep-1", now=NOW)
    assert invite.user_name == "Rita Rep"
    assert invite.expires_at == datetime(2026, 11, 27, 9, 0)  # seven days, stored as naive UTC
    assert len(invite.code) == 16
    assert telegram_link("@kpi_bot", invite.code) == f"https://t.me/kpi_bot?start={invite.code}"

    linked = redeem_invite(org, invite.code, platform="telegram", platform_user_id="555001", now=NOW)

    assert linked == "rep-1"
    assert telegram_id_of(org, "rep-1") == 555001
    with org.connect() as conn:
        row = conn.execute(select(Invite).where(Invite.code == invite.code)).one()
    assert row.used_by == "telegram:555001"
    assert row.used_at == datetime(2026, 11, 20, 9, 0)


def test_a_code_works_once(org):
    invite = create_invite(org, "rep-1", now=NOW)
    redeem_invite(org, invite.code, platform="telegram", platform_user_id=555001, now=NOW)
    with pytest.raises(UserError) as refused:
        redeem_invite(org, invite.code, platform="telegram", platform_user_id=555002, now=NOW)
    assert refused.value.key == "invite.used"
    assert telegram_id_of(org, "rep-1") == 555001


def test_a_code_expires_after_its_days(org):
    invite = create_invite(org, "rep-2", now=NOW, days=2)
    with pytest.raises(UserError) as refused:
        redeem_invite(org, invite.code, platform="telegram", platform_user_id=1, now=NOW + timedelta(days=2))
    assert refused.value.key == "invite.expired"
    assert telegram_id_of(org, "rep-2") is None
    # One minute before it expires it still works.
    fresh = create_invite(org, "rep-2", now=NOW, days=2)
    at = NOW + timedelta(days=2) - timedelta(minutes=1)
    assert redeem_invite(org, fresh.code, platform="telegram", platform_user_id=1, now=at) == "rep-2"


def test_unknown_codes_and_users_are_refused(org):
    with pytest.raises(UserError) as unknown:
        redeem_invite(org, "nope", platform="telegram", platform_user_id=1, now=NOW)
    assert unknown.value.key == "invite.unknown"
    with pytest.raises(UserError) as nobody:
        create_invite(org, "rep-99", now=NOW)
    assert nobody.value.key == "invite.no_user"


def test_an_account_linked_to_rob_cannot_take_ritas_invite(org):
    redeem_invite(
        org, create_invite(org, "rep-2", now=NOW).code, platform="telegram", platform_user_id=7, now=NOW
    )
    with pytest.raises(UserError) as taken:
        redeem_invite(
            org, create_invite(org, "rep-1", now=NOW).code, platform="telegram", platform_user_id=7, now=NOW
        )
    assert taken.value.key == "invite.taken"
    assert telegram_id_of(org, "rep-1") is None


def test_a_new_phone_relinks_the_same_person(org):
    redeem_invite(
        org, create_invite(org, "rep-1", now=NOW).code, platform="telegram", platform_user_id=7, now=NOW
    )
    redeem_invite(
        org, create_invite(org, "rep-1", now=NOW).code, platform="telegram", platform_user_id=8, now=NOW
    )
    assert telegram_id_of(org, "rep-1") == 8


def test_the_invite_command_prints_the_link_and_the_code(db_url, capsys):
    from run_bot import main
    from storage.db import make_engine

    engine = make_engine(db_url)
    seed_people(engine)
    engine.dispose()
    assert main(["--db", db_url, "invite", "rep-3", "--days", "3", "--bot-username", "kpi_bot"]) == 0
    out = capsys.readouterr().out
    assert "Rae Rep (rep-3)" in out
    link = next(line for line in out.splitlines() if line.startswith("Link: "))
    code = link.rsplit("=", 1)[1]
    assert link == f"Link: https://t.me/kpi_bot?start={code}"
    assert f"Code: {code}" in out


def test_without_a_username_the_invite_command_asks_the_bot_api(db_url, capsys, monkeypatch, fake_api):
    from run_bot import main
    from storage.db import make_engine
    from tests.bot.telegram.conftest import TOKEN

    engine = make_engine(db_url)
    seed_people(engine)
    engine.dispose()
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_api.base_url)
    assert main(["--db", db_url, "invite", "rep-2"]) == 0
    assert "Link: https://t.me/kpi_test_bot?start=" in capsys.readouterr().out
    assert fake_api.calls_of("getMe")
