"""Real loopback HTTP servers standing in for the Telegram and Slack web APIs, built from their documented shapes."""
