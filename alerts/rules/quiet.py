"""How an alert notice enters the outbox: at once, held for the recipient's working hours, or not at all.

A notice to a person (a manager, `dm:<user>`, a rep's own nudge) is held outside that person's working hours
(`delivery.working_hours` in their zone, on working days); a notice to a channel or group only when its rule says
`quiet_hours: true`, in `org.timezone`. A resolve that finds the alert's notice still held drops both
(alerts/delivery/held.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from alerts.audience import Person, zone_of
from alerts.delivery.held import HELD, SUPERSEDED, held_extra, supersede_held
from alerts.delivery.outbox import OutboxItem, enqueue
from alerts.delivery.quiet_hours import release_time
from storage.config.alerts import AlertRule
from storage.config.settings import Settings

__all__ = ["queue_notice"]


def queue_notice(
    conn: Connection,
    settings: Settings,
    rule: AlertRule,
    kind: str,
    item: OutboxItem,
    person: Person | None,
    now: datetime,
) -> bool:
    """Queue one notice; True when it is new and will be sent (now or at its release)."""
    if kind == "resolved" and supersede_held(conn, item.source, item.scope_key, item.recipient):
        enqueue(conn, [replace(item, status=SUPERSEDED)], now)  # kept for the record, never sent
        return False
    if person is None and not rule.quiet_hours:
        return enqueue(conn, [item], now) > 0
    zone = zone_of(person, settings) if person is not None else settings.org.tz
    release = release_time(now, zone, settings.delivery.working_hours, settings.org.holidays)
    if release is not None:
        locale = (person.locale if person is not None else None) or settings.org.locale
        item = replace(item, status=HELD, release_at=release, extra=held_extra(locale, zone))
    return enqueue(conn, [item], now) > 0
