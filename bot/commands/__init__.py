"""The built-in chat commands, as lists: the metric commands (metric.py), /help /start /whoami /lang /leaderboard
(builtin.py), the admins' /syncs (syncs.py) and /bind (bind.py). run_bot.py assembles them, with the scheduler's,
into the one Registry."""
