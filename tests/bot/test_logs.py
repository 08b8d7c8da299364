import logging
from collections.abc import Iterator

import pytest

from bot.logs import RedactSecrets, configure_logging
from storage.config.secrets import SECRET_SETTINGS
from storage.config.settings import Settings, load_settings


def test_a_bot_token_in_a_logged_url_is_blanked_out():
    token = "123456:ABC-secret-token"
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: POST %s "%s"',
        (f"https://api.telegram.org/bot{token}/getMe", "200 OK"),
        None,
    )
    assert RedactSecrets([token]).filter(record)
    assert record.getMessage() == 'HTTP Request: POST https://api.telegram.org/bot***/getMe "200 OK"'


def test_records_without_secrets_keep_their_arguments():
    record = logging.LogRecord("kpibot", logging.INFO, __file__, 1, "sent %d messages", (3,), None)
    RedactSecrets(["123456:ABC-secret-token"]).filter(record)
    assert (record.msg, record.args, record.getMessage()) == ("sent %d messages", (3,), "sent 3 messages")


# Each of the five configured secrets, and a database password, as an operator would set them.
SECRETS = {
    "TELEGRAM_TOKEN": "7000001234:AAFakeTokenForTests_0123456789abcde",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-4f9a2c",
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-FakeBotTokenForTests",
    "SLACK_SIGNING_SECRET": "8f14e45fceea167a5a36dedd4bea2543",
    "SLACK_APP_TOKEN": "xapp-1-A0KPI-3333-FakeAppToken",
}
DB_PASSWORD = "pg-pass-8c1e"


@pytest.fixture
def logged(monkeypatch, tmp_path, caplog) -> Iterator[pytest.LogCaptureFixture]:
    """The logging kpibot sets up from settings holding every secret; caplog sees what its handlers would."""
    monkeypatch.chdir(tmp_path)
    env = {**SECRETS, "DATABASE_URL": f"postgresql+psycopg://kpibot:{DB_PASSWORD}@db.internal/kpibot"}
    caplog.set_level(logging.INFO)
    configure_logging(load_settings(env=env))
    yield caplog
    for handler in logging.getLogger().handlers:
        for installed in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(installed)


def test_no_secret_in_a_log_line_its_exception_text_or_its_traceback(logged):
    log = logging.getLogger("kpibot.test")
    every = " ".join([*SECRETS.values(), DB_PASSWORD])
    log.warning("settings: %s", every)
    try:
        raise RuntimeError(
            f"POST /bot{SECRETS['TELEGRAM_TOKEN']}/getMe refused; auth {SECRETS['SLACK_BOT_TOKEN']}"
        )
    except RuntimeError:
        log.exception("start-up failed")
    log.info("where: %s", SECRETS["SLACK_SIGNING_SECRET"], stack_info=True)

    assert (
        "start-up failed" in logged.text
        and "Traceback" in logged.text
        and "RuntimeError: POST /bot***/getMe" in logged.text
    )
    for secret in [*SECRETS.values(), DB_PASSWORD]:
        assert secret not in logged.text
        for record in logged.records:
            assert secret not in record.getMessage() + (record.exc_text or "") + (record.stack_info or "")


def test_token_shapes_are_blanked_even_when_they_are_not_the_configured_ones(logged):
    strangers = [
        "123456789:AAEhBP0av28fakefakefakefakefake12345",  # another bot's token
        "xoxb-9999-8888-SomeoneElsesToken",
        "xoxp-1-2-3-UserToken",
        "xapp-1-A9-777-OtherAppToken",
    ]
    logging.getLogger("kpibot.test").warning("pasted: %s", " | ".join(strangers))
    assert "pasted: *** | *** | *** | ***" in logged.text


def test_every_secret_setting_is_one_the_redactor_knows():
    # A new secret (a CRM's API key) must be added to SECRET_SETTINGS; this fails until it is.
    secret_fields = {
        name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
    }
    assert secret_fields == set(SECRET_SETTINGS)
