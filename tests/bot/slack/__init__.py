"""kpibot in Slack, over real HTTP against tests/fakes/slack_api.py and the Socket Mode fake."""
