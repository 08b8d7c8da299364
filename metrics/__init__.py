"""The metrics core: every KPI declared once (metrics/kpis/, metrics/plan/) and answered through one door.

    from metrics import MetricQuery, query
    result = query(engine, settings, MetricQuery("funnel", viewer_id="mgr-1", now=now, period="last month"))

Chat commands, digests, alerts and the CLI all ask through `query`; beside the names re-exported here they use the
result types (metrics/result.py), periods (metrics/periods.py), scopes (metrics/scope.py) and charts (metrics/charts/).
The names are loaded on first use, so importing one small module (metrics.periods) does not load every KPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics.catalogue import METRICS, MetricQuery, get_metric, query
    from metrics.declare import MetricDef
    from metrics.result import BreakdownRow, Measure, MetricResult, Note, Table

_DOOR = {
    "METRICS": "metrics.catalogue",
    "MetricQuery": "metrics.catalogue",
    "get_metric": "metrics.catalogue",
    "query": "metrics.catalogue",
    "MetricDef": "metrics.declare",
    "MetricResult": "metrics.result",
    "Measure": "metrics.result",
    "BreakdownRow": "metrics.result",
    "Note": "metrics.result",
    "Table": "metrics.result",
}

__all__ = [
    "METRICS",
    "MetricQuery",
    "MetricDef",
    "MetricResult",
    "Measure",
    "BreakdownRow",
    "Note",
    "Table",
    "get_metric",
    "query",
]


def __getattr__(name: str) -> Any:
    if name in _DOOR:
        return getattr(importlib.import_module(_DOOR[name]), name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")
