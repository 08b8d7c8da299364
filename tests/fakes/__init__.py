"""Real loopback HTTP servers standing in for the Telegram, Slack, Salesforce and SugarCRM web APIs, built from their
documented shapes."""
