"""When each digest is due for whom, and one scheduling pass that queues the due ones.

A digest is due for a recipient at its local time (the digest's default or the recipient's own `/subscribe` time)
in the recipient's zone (users.timezone, else org.timezone), on the digest's weekdays, unless the day is one of
`org.holidays`. A slot that passed while no instance was running is still due for `delivery.catch_up_hours`; older
ones are skipped. Each (digest, recipient, local day) is queued once: its idempotency key is
`digest:<name>:<user>:<day>`, and the outbox refuses a second row with the same key.

`weekly_changes` reports a whole week, so it is keyed on the recipient's ISO week instead,
`digest:weekly_changes:<user>:<YYYY-Www>` (e.g. `digest:weekly_changes:mgr-e:2026-W49`): with `weekdays: [mon,
thu]` the week goes out once, on Monday. When its weekday is a holiday it goes out on the next working day of the
same week (Monday to Friday, not a holiday) instead of being lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from alerts.audience import DEFAULT_PLATFORMS, Person, address_of, load_people, zone_of
from alerts.delivery.outbox import OutboxItem, enqueue, existing_keys
from alerts.digests.content import DigestNumbers, FiringAlert, build_digest
from bot.reply.messages import Reply
from storage.config.alerts import DIGEST_NAMES, DigestConfig, is_builtin_name, parse_local_time
from storage.config.settings import Settings
from storage.freshness import data_freshness
from storage.schema import AlertState, Subscription, Team
from storage.telemetry import telemetry

__all__ = [
    "DueDigest",
    "digest_key",
    "DigestPass",
    "Choice",
    "load_choices",
    "digest_time",
    "receives",
    "due_digests",
    "run_digests",
    "preview_digests",
    "firing_alerts",
]

log = logging.getLogger(__name__)

# A digest queued this long after its slot counts as late in `/metrics` (the scheduler passes every minute).
LATE_AFTER = timedelta(minutes=5)
_WEEKLY = ("weekly_changes",)  # digests keyed per ISO week, moved to the next working day past a holiday


@dataclass(frozen=True)
class Choice:
    """A user's own /subscribe or /unsubscribe of one digest."""

    enabled: bool
    local_time: str | None


@dataclass(frozen=True)
class DueDigest:
    digest: str
    person: Person
    day: date  # the recipient's local day of the slot
    slot: datetime  # tz-aware, in the recipient's zone
    tz: ZoneInfo

    @property
    def key(self) -> str:
        return digest_key(self.digest, self.person.user_id, self.day)


def digest_key(digest: str, user_id: str, day: date) -> str:
    """The outbox key of a digest: per local day, or per ISO week for `weekly_changes` (module docstring)."""
    if digest in _WEEKLY:
        year, week, _ = day.isocalendar()
        return f"digest:{digest}:{user_id}:{year}-W{week:02d}"
    return f"digest:{digest}:{user_id}:{day.isoformat()}"


@dataclass
class DigestPass:
    """What one pass found due, queued (new rows), skipped (already queued) or could not address."""

    due: list[DueDigest] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    replies: dict[str, Reply] = field(default_factory=dict)


def load_choices(conn: Connection) -> dict[tuple[str, str], Choice]:
    """Every user's digest choices by (user, digest)."""
    rows = conn.execute(
        select(Subscription.user_id, Subscription.digest, Subscription.enabled, Subscription.local_time)
    )
    return {(u, d): Choice(bool(e), t) for u, d, e, t in rows}


def _in_audience(config: DigestConfig, person: Person) -> bool:
    if config.audience == "reps":
        return person.role == "rep"
    if config.audience == "managers":
        return person.is_manager
    if config.audience == "reps_and_managers":
        return person.role == "rep" or person.is_manager
    return False


def may_receive(name: str, person: Person) -> bool:
    """Whether a digest makes sense for this person at all (a team digest needs a team to show)."""
    if name in ("team_digest", "weekly_changes"):
        return person.is_manager or person.is_admin
    return True


def receives(
    name: str, config: DigestConfig, person: Person, choices: Mapping[tuple[str, str], Choice]
) -> bool:
    """Whether `person` gets digest `name`: their own choice if they made one, else the digest's audience."""
    if not config.enabled or not may_receive(name, person):
        return False
    choice = choices.get((person.user_id, name))
    if choice is not None:
        return choice.enabled
    return _in_audience(config, person)


def digest_time(
    name: str, config: DigestConfig, person: Person, choices: Mapping[tuple[str, str], Choice]
) -> time:
    choice = choices.get((person.user_id, name))
    if choice is not None and choice.local_time:
        return parse_local_time(choice.local_time)
    return config.local_time


def _slot(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A time that does not exist on a spring-forward day (02:30) comes out an hour later after the round trip.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).astimezone(tz)


def _holiday(config: DigestConfig, day: date, settings: Settings) -> bool:
    return config.skip_holidays and day in settings.org.holidays


def _sends_on(name: str, config: DigestConfig, day: date, settings: Settings) -> bool:
    if day.weekday() in config.weekday_numbers:
        return not _holiday(config, day, settings)
    if name not in _WEEKLY or day.weekday() >= 5 or _holiday(config, day, settings):
        return False
    # A weekly digest whose day was a holiday goes out on the first working day after it, in the same week.
    earlier = day - timedelta(days=1)
    while earlier.isocalendar()[:2] == day.isocalendar()[:2]:
        if earlier.weekday() in config.weekday_numbers:
            return _holiday(config, earlier, settings)
        if earlier.weekday() < 5 and not _holiday(config, earlier, settings):
            return False  # a working day came between: that was the day to send
        earlier -= timedelta(days=1)
    return False


def due_digests(
    settings: Settings,
    people: Mapping[str, Person],
    choices: Mapping[tuple[str, str], Choice],
    now: datetime,
    *,
    only: Iterable[str] = DIGEST_NAMES,
) -> list[DueDigest]:
    """Every (digest, recipient, day) whose slot is in `(now − catch_up_hours, now]`."""
    window = timedelta(hours=settings.delivery.catch_up_hours)
    earliest = now - window
    due = []
    for name in only:
        config = settings.digests.get(name)
        for person in people.values():
            if not receives(name, config, person, choices):
                continue
            tz = zone_of(person, settings)
            at = digest_time(name, config, person, choices)
            first, last = earliest.astimezone(tz).date(), now.astimezone(tz).date()
            day = first
            while day <= last:
                slot = _slot(day, at, tz)
                if earliest < slot <= now and _sends_on(name, config, day, settings):
                    due.append(DueDigest(name, person, day, slot, tz))
                day += timedelta(days=1)
    return due


def firing_alerts(conn: Connection, settings: Settings, people: Mapping[str, Person]) -> list[FiringAlert]:
    """The alerts that are firing now, with their rule's title and a readable scope."""
    titles = {rule.id: rule.title for rule in settings.alerts}
    builtin = {rule.id for rule in settings.alerts if is_builtin_name(rule)}
    rows = conn.execute(
        select(AlertState.rule_id, AlertState.scope_key)
        .where(AlertState.state == "firing")
        .order_by(AlertState.rule_id)
    )
    teams = dict(conn.execute(select(Team.team_id, Team.name)).tuples().all())
    found = []
    for rule_id, scope_key in rows:
        if rule_id not in titles:
            continue
        # People and teams by name ("Alpha", "Rob Rep"), as the digest's reader knows them, not by id.
        kind, _, ref = scope_key.partition(":")
        if kind == "rep" and ref in people:
            label = people[ref].name
        elif kind == "team" and ref in teams:
            label = teams[ref]
        else:
            label = ref or scope_key
        found.append(FiringAlert(rule_id, titles[rule_id], scope_key, label, rule_id in builtin))
    return found


def _compose(
    conn: Connection, settings: Settings, people, due: Sequence[DueDigest], now: datetime
) -> dict[str, Reply]:
    """The replies of the due digests at `now`: one set of grouped queries per (zone, day), sliced per recipient,
    and the data's freshness read once."""
    if not due:
        return {}
    numbers: dict[tuple[str, date], DigestNumbers] = {}
    firing = firing_alerts(conn, settings, people)
    fresh = data_freshness(conn)
    replies = {}
    for item in due:
        group = (str(item.tz), item.day)
        if group not in numbers:
            numbers[group] = DigestNumbers(conn, settings, item.tz, item.day, fresh, now)
        replies[item.key] = build_digest(item.digest, item.person, numbers[group], settings, people, firing)
    return replies


def run_digests(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    dry_run: bool = False,
) -> DigestPass:
    """One scheduling pass: queue every digest due at `now` (with `dry_run`, compose them but queue nothing).

    A recipient is reached on the first of `platforms` where they have an account (`console` reaches everyone).
    """
    result = DigestPass()
    with engine.connect() as conn:
        people = load_people(conn)
        due = due_digests(settings, people, load_choices(conn), now)
        result.due = due
        done = existing_keys(conn, [item.key for item in due])
        result.already = [item.key for item in due if item.key in done]
        todo = [item for item in due if item.key not in done]
        reachable = []
        for item in todo:
            if address_of(item.person, platforms) is None:
                result.unreachable.append(item.key)
            else:
                reachable.append(item)
        replies = _compose(conn, settings, people, reachable, now)
    result.replies = replies
    if dry_run or not reachable:
        return result
    items = []
    for item in reachable:
        address = address_of(item.person, platforms)
        assert address is not None
        items.append(
            OutboxItem(
                key=item.key,
                kind="digest",
                source=item.digest,
                recipient=item.person.user_id,
                platform=address[0],
                chat_id=address[1],
                reply=replies[item.key],
            )
        )
    with engine.begin() as conn:
        for due_item, item in zip(reachable, items, strict=True):
            if enqueue(conn, [item], now):
                result.queued.append(item.key)
                if now - due_item.slot > LATE_AFTER:
                    telemetry().digests_late.labels(item.source).inc()
            else:
                result.already.append(item.key)
    return result


def preview_digests(
    engine: Engine,
    settings: Settings,
    user_id: str,
    now: datetime,
    *,
    locale: str | None = None,
    name: str | None = None,
) -> list[tuple[str, Reply]]:
    """`/digest`: the digests this user receives, as they would read them today — in `locale`, the language the
    preview is asked in, when given (else the user's own, as the scheduled digests). `/digest NAME` (`name`): that
    digest, received or not, when it is on and meant for people like them (a team's digest for a manager or admin)."""
    with engine.connect() as conn:
        people = load_people(conn)
        person = people.get(user_id)
        if person is None:
            return []
        if locale is not None:
            person = replace(person, locale=locale)
        choices = load_choices(conn)
        tz = zone_of(person, settings)
        day = now.astimezone(tz).date()
        if name is not None:
            wanted = [name] if settings.digests.get(name).enabled and may_receive(name, person) else []
        else:
            wanted = [n for n in DIGEST_NAMES if receives(n, settings.digests.get(n), person, choices)]
        items = [DueDigest(n, person, day, now.astimezone(tz), tz) for n in wanted]
        replies = _compose(conn, settings, people, items, now)
    return [(item.digest, replies[item.key]) for item in items]
