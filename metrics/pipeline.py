"""Metrics of this module are declared here and registered in the catalogue (metrics.catalogue.register)."""
