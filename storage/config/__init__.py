"""Settings: the environment and kpibot.yaml read and validated once (settings.py); alert rules and digests as data
(alerts.py); which settings are secrets, and the redactor that keeps them out of logs and stored errors (secrets.py)."""
