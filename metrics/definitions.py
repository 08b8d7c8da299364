"""Imports every metric module so that each registers its metrics in the catalogue, in this order."""

# Each import registers that module's MetricDefs; the order is the order of `kpibot metric --list` and /help.
from metrics import (  # noqa: F401
    acquisition,
    activity,
    conversion,
    customer_success,
    funnel,
    marketing,
    mrr,
    pipeline,
    plan,
    retention,
    revenue,
)
