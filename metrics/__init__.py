"""The metrics core: every KPI declared once (metrics/kpis/, metrics/plan/) and answered through one door.

    from metrics import MetricQuery, query
    result = query(engine, settings, MetricQuery("funnel", viewer_id="mgr-1", now=now, period="last month"))

Chat commands, digests, alerts and the CLI all ask through `query`; beside the names re-exported here they use the
result types (metrics/result.py), periods (metrics/periods.py), scopes (metrics/scope.py) and charts (metrics/charts/).
"""

from metrics.catalogue import METRICS, MetricQuery, get_metric, query
from metrics.declare import MetricDef
from metrics.result import BreakdownRow, Measure, MetricResult, Note, Table

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
