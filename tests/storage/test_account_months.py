"""`account_months`: the kept months equal the ones worked out again from `orders`, whoever changes the orders and
however, and a reader never answers from a row whose account has changed since.

The customers are the hand-made base of tests/fixtures/customers.py (read its table first).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import OperationalError

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from run_bot import main
from storage.account_months import account_months_current, month_of, refresh_account_months
from storage.config.settings import Settings, load_settings
from storage.demo.generate import generate_demo
from storage.journeys import refresh_store
from storage.schema import Order, account_month_dirty, account_months
from tests.fixtures.customers import seed_customers

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
SETTINGS = load_settings(env={})
NEW_YORK = load_settings(env={}, org={"timezone": "America/New_York"})


@pytest.fixture
def base(engine):
    seed_customers(engine)
    return engine


def kept(engine) -> dict[tuple[str, str], tuple]:
    """Every kept row: (account, month) -> (orders, first, last, the account's first order ever)."""
    c = account_months.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.account_id, c.month, c.orders, c.first_at, c.last_at, c.first_order_at)
        ).all()
    return {(a, m): (n, first, last, ever) for a, m, n, first, last, ever in rows}


def recomputed(engine, settings: Settings = SETTINGS) -> dict[tuple[str, str], tuple]:
    """The same rows worked out again in Python from every order, months in the org's time zone."""
    tz = settings.org.tz
    with engine.connect() as conn:
        orders = conn.execute(select(Order.account_id, Order.ordered_at)).all()
    by_month: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    ever: dict[str, datetime] = {}
    for account, at in orders:
        by_month[(account, at.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m"))].append(at)
        ever[account] = min(ever.get(account, at), at)
    return {key: (len(ats), min(ats), max(ats), ever[key[0]]) for key, ats in by_month.items()}


def waiting(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(account_month_dirty.c.account_id)).scalars())


def retention(engine, settings: Settings = SETTINGS) -> tuple:
    r = query(engine, settings, MetricQuery("retention", "admin", NOW, period="2026-10", scope=Scope("org")))
    counts = tuple(
        r.measure(k).value
        for k in ("start_customers", "end_customers", "retained_customers", "new_customers")
    )
    cohorts = {row[0]: row[1] for row in r.table("cohorts").rows}
    return counts, r.measure("repeat_purchase_rate").detail, cohorts


def test_a_refresh_keeps_every_accounts_months_as_they_are_worked_out_again(base):
    with base.connect() as conn:
        # Never built, and the orders just written marked their accounts: every month is read live.
        assert account_months_current(conn, SETTINGS) == (False, True)
    refresh_store(base, SETTINGS)
    with base.connect() as conn:
        assert account_months_current(conn, SETTINGS) == (True, False)
    rows = kept(base)
    assert rows == recomputed(base)
    # acc-1 ordered Aug 10, Oct 5 and Oct 20: two months, the first order of all kept on each.
    aug10, oct5, oct20 = datetime(2026, 8, 10, 9), datetime(2026, 10, 5, 9), datetime(2026, 10, 20, 9)
    assert rows[("acc-1", "2026-08")] == (1, aug10, aug10, aug10)
    assert rows[("acc-1", "2026-10")] == (2, oct5, oct20, aug10)
    # Five accounts with orders, eight account-months; acc-3, acc-4, acc-7 and acc-8 have MRR only.
    assert len(rows) == 8
    assert {account for account, _month in rows} == {"acc-1", "acc-2", "acc-5", "acc-6", "acc-9"}


def test_every_kind_of_change_marks_its_accounts_and_is_read_live_until_the_refresh(base):
    refresh_store(base, SETTINGS)
    before = retention(base)
    assert before[0] == (6, 6, 3, 1)
    with base.begin() as conn:
        # acc-7 (MRR only) places its first order on Oct 3: a new customer of October.
        conn.execute(
            insert(Order).values(
                order_id="o-new", account_id="acc-7", ordered_at=datetime(2026, 10, 3, 9), amount=1
            )
        )
        # acc-9's Aug 1 order moves to acc-2 (still active on Oct 1 by its Jul 5 order; acc-2 by Jul 10).
        conn.execute(update(Order).where(Order.order_id == "o-9").values(account_id="acc-2"))
        # acc-6's Oct 25 order is deleted: acc-6 neither orders in October nor is active on Nov 1.
        conn.execute(delete(Order).where(Order.order_id == "o-7"))
    assert waiting(base) == {"acc-7", "acc-9", "acc-2", "acc-6"}
    assert kept(base) != recomputed(base)  # the table itself has not moved yet
    # Read before the refresh: E loses acc-6, gains nothing (acc-7 was in E by MRR); N gains acc-7.
    counts, repeat, cohorts = retention(base)
    assert counts == (6, 5, 3, 2)
    assert repeat == "1 / 3"  # October buyers acc-1 (twice), acc-5, acc-7
    assert cohorts["2026-10"] == 2  # acc-5 and acc-7
    assert cohorts["2026-06"] == 1  # acc-6 still first ordered in June
    # Four of nine accounts changed, past a fifth: the table is rebuilt, and answers the same.
    with base.begin() as conn:
        assert refresh_account_months(conn, SETTINGS) == 4
    assert waiting(base) == set()
    assert kept(base) == recomputed(base)
    assert retention(base) == (counts, repeat, cohorts)


def test_a_reader_takes_a_waiting_account_live_not_its_kept_rows(base):
    refresh_store(base, SETTINGS)
    with base.begin() as conn:  # no trigger watches account_months itself: only a reader of it sees this
        conn.execute(delete(account_months).where(account_months.c.account_id == "acc-5"))
    assert retention(base)[0] == (6, 5, 3, 0)  # acc-5's October order is gone from the kept rows
    with base.begin() as conn:  # a change to acc-5's orders marks it: from now on its months are read live
        conn.execute(update(Order).where(Order.account_id == "acc-5").values(ordered_at=Order.ordered_at))
    assert waiting(base) == {"acc-5"}
    assert retention(base)[0] == (6, 6, 3, 1)
    refresh_store(base, SETTINGS)  # one account of nine: only its rows are worked out again
    assert kept(base) == recomputed(base)


def test_another_time_zone_is_read_live_until_a_refresh_rebuilds_the_months(base):
    with base.begin() as conn:
        # 03:00 UTC on Nov 1 is still October 31 in New York.
        conn.execute(
            insert(Order).values(
                order_id="o-late", account_id="acc-2", ordered_at=datetime(2026, 11, 1, 3), amount=1
            )
        )
    refresh_store(base, SETTINGS)
    assert kept(base)[("acc-2", "2026-11")][0] == 1
    with base.connect() as conn:
        assert account_months_current(conn, NEW_YORK) == (False, False)
    before = retention(base, NEW_YORK)
    refresh_store(base, NEW_YORK)
    with base.connect() as conn:
        assert account_months_current(conn, NEW_YORK) == (True, False)
        assert account_months_current(conn, SETTINGS) == (False, False)
    rows = kept(base)
    assert rows == recomputed(base, NEW_YORK)
    assert rows[("acc-2", "2026-10")] == (
        1,
        datetime(2026, 11, 1, 3),
        datetime(2026, 11, 1, 3),
        datetime(2026, 7, 10, 9),
    )
    assert retention(base, NEW_YORK) == before
    # In New York October has acc-2's order of its evening of Oct 31: a cohort of July ordering again in month 3.
    r = query(base, NEW_YORK, MetricQuery("retention", "admin", NOW, period="2026-10", scope=Scope("org")))
    july = {row[0]: row for row in r.table("cohorts").rows}["2026-07"]
    assert july[1:6] == (2, 1.0, 0.5, 0.0, 0.5)  # acc-2 and acc-9; acc-9 in August, acc-2 again in October


def test_kpibot_import_of_orders_leaves_the_months_it_changed_worked_out(base, db_url, tmp_path):
    refresh_store(base, SETTINGS)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,account_id,ordered_at,amount\n"
        "o-2,acc-1,2026-09-15T10:00:00Z,150\n"  # acc-1's Oct 5 order was really placed in September
        "o-100,acc-9,2026-10-02T10:00:00Z,70\n"
    )
    assert main(["--db", db_url, "import", "orders", str(orders)]) == 0
    assert waiting(base) == set()
    rows = kept(base)
    assert rows == recomputed(base)
    assert rows[("acc-1", "2026-09")][0] == 1 and rows[("acc-1", "2026-10")][0] == 1
    assert rows[("acc-9", "2026-10")][0] == 1
    # The same file again changes nothing, and leaves nothing waiting.
    assert main(["--db", db_url, "import", "orders", str(orders)]) == 0
    assert waiting(base) == set()
    assert kept(base) == rows


def test_the_bots_minute_pass_does_not_wait_for_an_import_of_orders_still_writing(base):
    if base.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its busy timeout is the wait")
    refresh_store(base, SETTINGS)
    with base.begin() as conn:  # a change already committed: there is work for the pass
        conn.execute(update(Order).where(Order.account_id == "acc-1").values(ordered_at=Order.ordered_at))
    with base.connect() as importing:
        importing.execute(
            insert(Order).values(
                order_id="o-imp", account_id="acc-7", ordered_at=datetime(2026, 10, 3, 9), amount=1
            )
        )
        with pytest.raises(OperationalError):
            refresh_store(base, SETTINGS, wait=False)
        importing.commit()
    refresh_store(base, SETTINGS, wait=False)
    assert waiting(base) == set()
    assert kept(base) == recomputed(base)


def test_the_demo_leaves_every_accounts_months_kept(engine):
    generate_demo(engine, scale="tiny", today=date(2026, 11, 23), settings=SETTINGS)
    with engine.connect() as conn:
        assert account_months_current(conn, SETTINGS) == (True, False)
    rows = kept(engine)
    assert len(rows) > 100
    assert rows == recomputed(engine)


def test_months_are_those_of_the_org_time_zone_even_at_a_jump_of_the_clocks():
    tz = ZoneInfo("America/New_York")
    assert month_of(datetime(2026, 11, 1, 3, 59), tz) == "2026-10"  # 23:59 EDT on Oct 31
    assert month_of(datetime(2026, 11, 1, 4, 0), tz) == "2026-11"  # midnight EDT
    assert month_of(datetime(2026, 3, 1, 4, 59), tz) == "2026-02"  # 23:59 EST on Feb 28
    assert month_of(datetime(2026, 3, 1, 5, 0), tz) == "2026-03"
