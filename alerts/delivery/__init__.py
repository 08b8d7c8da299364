"""Delivery: the outbox that sends each message once (outbox.py), a Reply as JSON for it (payload.py), and the console's
Sender (console.py)."""
