"""Moments between the store (naive UTC) and the code (tz-aware UTC): one pair of helpers, storage/times.py, used by
the sync log (storage/crm/runs.py) and the data's freshness (storage/freshness.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alerts import audience
from alerts.digests import run as digest_run
from alerts.rules import milestones
from alerts.rules import run as rules_run
from storage.crm import runs
from storage.times import aware_utc, naive_utc

MOSCOW = timezone(timedelta(hours=3))


def test_a_stored_moment_comes_back_aware_in_utc_and_an_aware_one_is_kept():
    stored = datetime(2026, 11, 17, 9, 30)
    assert aware_utc(stored) == datetime(2026, 11, 17, 9, 30, tzinfo=UTC)
    in_moscow = datetime(2026, 11, 17, 12, 30, tzinfo=MOSCOW)  # the same instant as 09:30 UTC
    assert aware_utc(in_moscow) is in_moscow
    assert aware_utc(None) is None
    assert aware_utc(naive_utc(in_moscow)) == in_moscow


def test_the_sync_log_reads_its_moments_with_the_one_helper_and_the_passes_share_one_platform_list():
    assert runs._aware is aware_utc
    assert digest_run.DEFAULT_PLATFORMS is audience.DEFAULT_PLATFORMS is milestones.DEFAULT_PLATFORMS
    assert rules_run.DEFAULT_PLATFORMS is audience.DEFAULT_PLATFORMS
    assert audience.DEFAULT_PLATFORMS == ("telegram", "slack")
