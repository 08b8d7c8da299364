"""kpibot in Telegram, over real HTTP against tests/fakes/telegram_api.py."""
