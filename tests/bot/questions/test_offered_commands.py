"""What the bot offers on its own — the closest commands when it is not sure what a message means, the command a
typo is close to — only ever reads, and is the asker's to use: pressing any button it offers changes no setting,
and a mistyped command that would change one is asked about, never run.

The org is the conversation fixture (tests/fixtures/bot_org.py): Ada the admin, Mia managing Alpha, Rita a rep of
Alpha (Russian), Rob and Rae reps; reps do not see the organisation's numbers (org.reps_see_org_totals is off).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from metrics.catalogue import catalogue
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.errors import PermissionDenied
from storage.schema import AlertState, ChatBinding, Invite, Subscription, User
from tests.fixtures.bot_org import NOW, seed_org

REGISTRY = build_registry()
# Messages the bot cannot read as a question or a typo, each close to commands that change something (alerts,
# digests, the language, a group's team) or to an organisation-wide metric (/roi).
UNCLEAR = [
    "please snooze the alert",
    "mute every alert",
    "change my langage",
    "i want a subscription",
    "my morning digests",
    "campaign return",
    "marketing spend",
    "tie this group chat to one team",
    "/nonsense",
    "what is the weather like in Paris?",
    "отключи алерты пожалуйста",
    "поменяй язык",
]


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), REGISTRY, rate_limited=False)


def ask(conversation: Conversation, user: str, text: str, locale: str = "en") -> Reply:
    return conversation.handle(Request("console", text, NOW, user, locale=locale))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


def settings_stored(engine: Engine) -> dict[str, list[tuple]]:
    """Everything a chat command can change: languages, digests, alert states, group bindings, invites."""
    with engine.connect() as conn:
        return {
            "locales": list(conn.execute(select(User.user_id, User.locale).order_by(User.user_id))),
            "subscriptions": list(
                conn.execute(select(Subscription.__table__).order_by(Subscription.user_id))
            ),
            "alert_states": list(conn.execute(select(AlertState.__table__).order_by(AlertState.rule_id))),
            "bindings": list(conn.execute(select(ChatBinding.__table__).order_by(ChatBinding.chat_id))),
            "invites": list(conn.execute(select(Invite.__table__).order_by(Invite.code))),
        }


@pytest.mark.parametrize("user", ["admin", "mgr-a", "rep-2"])
def test_every_button_of_a_not_sure_reply_only_reads_and_is_the_askers_to_use(conversation, engine, user):
    before = settings_stored(engine)
    pressed = {}
    for text in UNCLEAR:
        for locale in ("en", "ru"):
            reply = ask(conversation, user, text, locale)
            assert reply.kind == "user_error" and len(reply.actions) == 3, (text, lines(reply))
            for action in reply.actions:
                pressed[action.command] = ask(conversation, user, action.command, locale)
    # Pressed, each button answers (no refusal of a role, no "Try:" after a half command) …
    refused = {command: lines(reply) for command, reply in pressed.items() if reply.kind != "info"
               and reply.kind != "answer"}  # fmt: skip
    assert refused == {}
    # … and nothing the asker had set has changed.
    assert settings_stored(engine) == before
    # The words above name the commands that change things, so the buttons show them in their read-only form.
    assert {"/alerts", "/subscribe", "/lang"} <= set(pressed)
    if user != "admin":  # the organisation-wide metrics are for those who may see the organisation's numbers
        assert not {command.split()[0] for command in pressed} & {"/roi", "/cac", "/email"}


def test_the_organisation_wide_metrics_are_the_ones_refused_to_a_rep(conversation):
    """The catalogue's `org_wide` flag, which keeps /roi, /cac and /email out of a rep's suggestions, says exactly
    which metrics the core refuses to a rep by their default scope."""
    from metrics.catalogue import MetricQuery, query

    refused = set()
    for metric in catalogue():
        try:
            query(conversation.engine, conversation.settings, MetricQuery(metric.name, "rep-2", NOW))
        except PermissionDenied:
            refused.add(metric.name)
    assert refused == {metric.name for metric in catalogue() if metric.org_wide} == {"cac", "roi", "email"}


@pytest.mark.parametrize(
    "user, typo, locale, said, button",
    [
        ("admin", "/lamg ru", "en", "Did you mean /lang ru?", "/lang ru"),
        ("rep-1", "/lamg en", "ru", "Может быть, вы имели в виду /lang en?", "/lang en"),
        (
            "mgr-a",
            "/unsubscrbe weekly_plan",
            "en",
            "Did you mean /unsubscribe weekly_plan?",
            "/unsubscribe weekly_plan",
        ),  # fmt: skip
        (
            "rep-2",
            "/subscrbe rep_daily 08:00",
            "en",
            "Did you mean /subscribe rep_daily 08:00?",
            "/subscribe rep_daily 08:00",
        ),  # fmt: skip
        (
            "admin",
            "/alerst mute mql-rate",
            "en",
            "Did you mean /alerts mute mql-rate?",
            "/alerts mute mql-rate",
        ),
        (
            "mgr-a",
            "/алерт snooze mql-rate team:t-a 4h",
            "ru",
            "Может быть, вы имели в виду /алерты snooze mql-rate team:t-a 4h?",
            "/alerts snooze mql-rate team:t-a 4h",
        ),
        # Snoozing is for managers and admins: a rep is offered what they may do, the list of alerts.
        ("rep-2", "/alerst snooze mql-rate 4h", "en", "Did you mean /alerts?", "/alerts"),
        ("rep-2", "/lnag", "en", "Did you mean /lang?", "/lang"),
    ],  # fmt: skip
)
def test_a_typo_of_a_command_that_changes_something_is_asked_about_not_run(
    conversation, engine, user, typo, locale, said, button
):
    before = settings_stored(engine)
    reply = ask(conversation, user, typo, locale)
    # One line, in the asker's language (the reply's own), and a button that runs what it asks about.
    assert (reply.kind, lines(reply), reply.extra["locale"]) == ("user_error", [said], locale)
    assert [(action.label, action.command) for action in reply.actions] == [
        ("/" + said.rsplit("/", 1)[1].removesuffix("?"), button)
    ]
    assert settings_stored(engine) == before
    assert ask(conversation, user, button, locale).kind == "info"


def test_a_typo_of_the_language_command_leaves_the_language_until_the_button_is_pressed(conversation, engine):
    reply = ask(conversation, "admin", "/lamg ru")
    assert lines(reply) == ["Did you mean /lang ru?"] and reply.extra["locale"] == "en"
    with engine.connect() as conn:
        assert conn.execute(select(User.locale).where(User.user_id == "admin")).scalar() != "ru"
    assert lines(conversation.handle(Request("console", reply.actions[0].command, NOW, "admin"))) == [
        "Готово: теперь я отвечаю вам по-русски."
    ]


def test_a_typo_of_a_command_that_only_reads_is_still_answered_at_once(conversation):
    for typo, command in (("/funel last month", "/funnel last month"), ("/whoiam", "/whoami"),
                          ("/hepl", "/help"), ("/digets", "/digest")):  # fmt: skip
        reply, expected = ask(conversation, "mgr-a", typo), ask(conversation, "mgr-a", command)
        assert lines(reply)[1:] == lines(expected) and lines(reply)[0].startswith("Did you mean /"), typo


def test_a_usage_hint_shows_a_rep_only_the_form_of_a_command_they_may_use(conversation):
    # Snoozing alerts is for managers and admins, so the hint under a mistake in /alerts is theirs only.
    assert lines(ask(conversation, "mgr-a", "/alerts blah")) == [
        "I don't understand 'blah'. Try: /alerts snooze mql-rate 4h"
    ]
    assert lines(ask(conversation, "rep-2", "/alerts blah")) == ["I don't understand 'blah'."]


def test_a_question_naming_a_command_the_asker_may_not_use_is_still_told_why(conversation):
    # Not offered unasked, but asked for by name: the reading is kept and the core's refusal says why.
    reply = ask(conversation, "rep-2", "what is our campaign roi last quarter?")
    assert lines(reply) == [
        "Read as /roi last quarter · change any word and send it to ask otherwise",
        "Campaign ROI is an organisation-wide metric (campaign spend is not attributed to reps or teams), and the "
        "organisation's numbers are for admins.",
    ]
    # Someone not linked yet is offered only what works before linking.
    unlinked = conversation.handle(Request("telegram", "what is the weather like?", NOW, None, locale="en"))
    assert sorted(action.command for action in unlinked.actions) == ["/help funnel", "/start", "/whoami"]


def test_a_hint_after_a_mistaken_digest_names_only_the_digests_the_asker_may_have(conversation):
    # The team digest is for managers of a team (alerts/digests/run.py may_receive): a rep is never sent to it. The weekly changes are for managers too.
    assert lines(ask(conversation, "rep-2", "/subscribe foo")) == [
        "There is no digest 'foo'; try: rep_daily, weekly_plan. Try: /subscribe rep_daily 08:30"
    ]
    assert lines(ask(conversation, "rep-2", "/subscribe rep_daily 25:00")) == [
        "I don't understand the time '25:00'; write HH:MM. Try: /subscribe rep_daily 08:30"
    ]
    assert lines(ask(conversation, "mgr-a", "/digest foo")) == [
        "There is no digest 'foo'; try: rep_daily, team_digest, weekly_plan, weekly_changes."
    ]
