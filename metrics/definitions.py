"""Imports every metric module so that each registers its metrics in the catalogue, in this order."""
# ruff: noqa: I001  (the order of these imports is the order of the catalogue)

# Each import registers that module's MetricDefs; the order is the order of `kpibot metric --list` and /help.
from metrics.kpis import (  # noqa: F401
    acquisition,
    activity,
    conversion,
    customer_success,
    funnel,
    marketing,
    mrr,
    pipeline,
)
from metrics.plan import metric as plan  # noqa: F401
from metrics.kpis import retention, revenue  # noqa: F401
