"""SQL pieces shared by the metric families: breakdown keys and filters, durations, customers, lead journeys."""
