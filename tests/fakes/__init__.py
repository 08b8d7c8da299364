"""Real loopback HTTP servers standing in for the Telegram, Slack and Salesforce web APIs, built from their documented
shapes."""
