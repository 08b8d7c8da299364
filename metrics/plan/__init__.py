"""The plan metric: targets (targets.py), actuals (actuals.py), progress and forecast (progress.py), what it takes
(reverse.py); metric.py declares it."""
