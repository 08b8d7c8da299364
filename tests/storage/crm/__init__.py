"""CRM connectors, each against a fake of its web API on 127.0.0.1."""
