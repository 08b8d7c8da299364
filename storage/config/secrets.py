"""Which settings are secrets, and the `Redactor` that blanks them (and anything token-shaped) out of text.

One `Redactor` is built once from the settings (`Redactor.from_settings`): it blanks out every configured secret
(the settings named in `SECRET_SETTINGS`, and the database URL's password) and anything shaped like a Telegram or
Slack token, configured or not. The logging filter (bot/logs.py) and the delivery outbox pass text through it
before writing or storing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.config.settings import Settings

__all__ = ["MASK", "SECRET_SETTINGS", "Redactor"]

MASK = "***"

# Every setting that holds a secret. A new one (a CRM's API key …) is covered by adding its name here.
SECRET_SETTINGS = (
    "telegram_token",
    "telegram_webhook_secret",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "salesforce_access_token",
    "salesforce_client_secret",
    "dynamics_client_secret",
    "sugarcrm_password",
    "sugarcrm_client_secret",
    "bitrix24_webhook_url",
    "hubspot_access_token",
    "pipedrive_api_token",
    "amocrm_access_token",
    "amocrm_client_secret",
    "amocrm_refresh_token",
)

# Secrets shorter than this are not searched for: blanking every "abc" would garble the text and hide nothing.
_MIN_SECRET = 8

# Token shapes, blanked even when they are not the configured ones (a token pasted into a chat id, another
# workspace's token in an error): a Telegram bot token `<bot id>:<35 characters>`, Slack's bot, user, app,
# refresh and configuration tokens.
_TOKEN_SHAPES = re.compile(
    r"\d+:[A-Za-z0-9_-]{30,}"
    r"|(?:xoxe\.)?xox[abeoprs]-[A-Za-z0-9-]+"
    r"|xapp-[A-Za-z0-9-]+"
)


class Redactor:
    """`redact(text)`: the text with every secret and every token-shaped string replaced by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            if len(secret) >= _MIN_SECRET:
                found.update({secret, quote(secret, safe="")})  # as it is, and as it stands in a URL
        # Longest first, so a secret that contains another is blanked whole.
        self.secrets = sorted(found, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """The redactor for the secrets these settings hold."""
        secrets: list[str] = []
        for name in SECRET_SETTINGS:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value:
                secrets.append(str(value))
        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None
        if password:
            secrets.append(str(password))
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _TOKEN_SHAPES.sub(MASK, text)
