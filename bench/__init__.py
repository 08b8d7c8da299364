"""kpibot's own benchmark: chat commands, digests, charts and import at a real sales organisation's scale,
each command measured against a hand-written SQL query computing the same numbers (the targets in docs/benchmark.md).

Run it with `python -m bench`; docs/benchmark.md explains the figures.
"""
