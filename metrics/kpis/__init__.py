"""One module per metric family; each declares its MetricDefs (metrics/declare.py), listed in metrics/catalogue.py."""
