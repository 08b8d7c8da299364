"""Digests: when each is due for whom and one pass that queues them (run.py), and what each says (content.py)."""
