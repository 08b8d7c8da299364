"""A small hand-made customer base for the retention, MRR and customer-success tests (org time zone UTC).

The question is always about October 2026 (`2026-10`), asked on 2026-11-15. With the default 90-day window a
customer is active on Oct 1 if it ordered in [Jul 3, Oct 1) or had MRR in September, and on Nov 1 if it ordered in
[Aug 3, Nov 1) or had MRR in October.

account owner  segment  orders                    MRR Sep → Oct   active Oct 1   active Nov 1
acc-1   rep-1  smb      Aug 10, Oct 5, Oct 20     -               yes (order)    yes (order)
acc-2   rep-1  smb      Jul 10                    -               yes (order)    no
acc-3   rep-2  ent      -                         500 → 600       yes (MRR)      yes (MRR)      expansion +100
acc-4   rep-2  ent      -                         300 → 0         yes (MRR)      no             churned 300
acc-5   rep-3  ent      Oct 12 (its first)        -               no             yes            new customer
acc-6   rep-3  smb      Jun 1, Oct 25             -               no (too old)   yes            came back
acc-7   rep-1  smb      -                         - → 200         no             yes (MRR)      new MRR 200
acc-8   rep-3  smb      -                         100 → 80        yes (MRR)      yes (MRR)      contraction 20
acc-9   rep-2  ent      Jul 5, Aug 1              -               yes (order)    no (Aug 1 < Aug 3)

Org: S = {1,2,3,4,8,9} = 6, E = {1,3,5,6,7,8} = 6, S ∩ E = {1,3,8} = 3, N = {5} = 1.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, insert

from storage.schema import Account, Mrr, Order
from tests.metrics.org import seed_people

__all__ = ["seed_customers", "ACCOUNTS"]

ACCOUNTS = [
    ("acc-1", "rep-1", "smb"),
    ("acc-2", "rep-1", "smb"),
    ("acc-3", "rep-2", "ent"),
    ("acc-4", "rep-2", "ent"),
    ("acc-5", "rep-3", "ent"),
    ("acc-6", "rep-3", "smb"),
    ("acc-7", "rep-1", "smb"),
    ("acc-8", "rep-3", "smb"),
    ("acc-9", "rep-2", "ent"),
]

ORDERS = [
    ("acc-1", datetime(2026, 8, 10, 9), "100"),
    ("acc-1", datetime(2026, 10, 5, 9), "150"),
    ("acc-1", datetime(2026, 10, 20, 9), "250"),
    ("acc-2", datetime(2026, 7, 10, 9), "400"),
    ("acc-5", datetime(2026, 10, 12, 9), "1000"),
    ("acc-6", datetime(2026, 6, 1, 9), "300"),
    ("acc-6", datetime(2026, 10, 25, 9), "200"),
    ("acc-9", datetime(2026, 7, 5, 9), "50"),
    ("acc-9", datetime(2026, 8, 1, 9), "50"),
]

MRR = [
    ("acc-3", "2026-09", "500"),
    ("acc-3", "2026-10", "600"),
    ("acc-4", "2026-09", "300"),
    ("acc-4", "2026-10", "0"),
    ("acc-7", "2026-10", "200"),
    ("acc-8", "2026-09", "100"),
    ("acc-8", "2026-10", "80"),
]


def seed_customers(engine: Engine) -> None:
    """The fixture org's people plus the customer base above."""
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            [
                dict(account_id=a, name=a.upper(), owner_id=o, segment=s, created_at=datetime(2026, 1, 1))
                for a, o, s in ACCOUNTS
            ],
        )
        conn.execute(
            insert(Order),
            [
                dict(order_id=f"o-{i}", account_id=a, ordered_at=at, amount=Decimal(amount))
                for i, (a, at, amount) in enumerate(ORDERS, 1)
            ],
        )
        conn.execute(insert(Mrr), [dict(account_id=a, month=m, mrr=Decimal(v)) for a, m, v in MRR])
