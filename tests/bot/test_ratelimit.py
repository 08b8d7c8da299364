from datetime import UTC, datetime, timedelta

from bot.conversation import Conversation
from bot.ratelimit import RateLimiter
from bot.reply.messages import Request
from run_bot import build_registry
from storage.config.settings import Settings
from tests.fixtures.metrics_org import seed_people

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_a_burst_is_allowed_then_the_sender_waits_for_tokens_to_refill():
    limiter = RateLimiter(per_minute=6, burst=3)  # one token every 10 s
    assert [limiter.check("rita", T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("rita", T0) == 10.0  # bucket empty: the next token is 10 s away
    assert limiter.check("rob", T0) == 0.0  # another user has a bucket of their own
    assert limiter.check("rita", T0 + timedelta(seconds=10)) == 0.0


def test_a_flooding_rep_is_told_to_slow_down_and_others_are_still_answered(engine):
    seed_people(engine)
    settings = Settings.model_validate({"chat": {"rate_limit_per_minute": 4}})  # burst of 2
    conversation = Conversation(engine, settings, build_registry())

    def ask(user_id: str, seconds: int = 0):
        return conversation.handle(Request("console", "/whoami", T0 + timedelta(seconds=seconds), user_id))

    first, second = ask("rep-2"), ask("rep-2")
    assert "Rob Rep" in first.plain_text and "Rob Rep" in second.plain_text
    flooded = ask("rep-2")
    assert flooded.kind == "user_error"
    assert "try again in 15 s" in flooded.plain_text  # one token every 15 s at 4 a minute
    assert "Rita Rep" in ask("rep-1").plain_text  # another rep is still answered
    assert "Rob Rep" in ask("rep-2", seconds=15).plain_text  # and Rob again once a token has refilled


def test_buckets_of_senders_gone_quiet_are_forgotten():
    limiter = RateLimiter(per_minute=60, burst=2)  # full again 2 s after the last command
    limiter.MAX_BUCKETS = 3
    for n in range(3):
        limiter.check(f"user-{n}", T0)
    limiter.check("user-3", T0 + timedelta(seconds=5))  # the table is full: the three idle buckets go
    assert set(limiter._buckets) == {"user-3"}
