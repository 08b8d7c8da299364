from __future__ import annotations

import pytest

from storage.telemetry import reset_telemetry


@pytest.fixture(autouse=True)
def fresh_telemetry():
    """Each test counts from zero (the metrics are the process's, and a test process runs many tests)."""
    return reset_telemetry()
