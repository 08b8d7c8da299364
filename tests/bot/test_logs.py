import logging

from bot.logs import RedactSecrets


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
