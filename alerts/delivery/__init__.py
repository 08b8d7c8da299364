"""Delivery: the outbox that sends each message once (outbox.py), a Reply as JSON for it (payload.py), messages held
for working hours and sent grouped (held.py, quiet_hours.py), and the console's Sender (console.py)."""

__all__ = ["DELIVERY_STATUSES"]

DELIVERY_STATUSES = ("sent", "pending", "claimed", "held", "grouped", "superseded", "dead")
"""Every status an outbox row can have (alerts/delivery/outbox.py, alerts/delivery/held.py), in reading order."""
