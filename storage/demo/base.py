"""The demo's installed base: customers won before the history starts, who are still paying when it begins.

Without them every account in the data would be younger than a year, so all revenue would count as new revenue
and expansion could only come from this year's customers. These accounts have their first order before the first
day of the data (no lead, no deal: that history lies outside the demo) and then live on like any other customer.
"""

from __future__ import annotations

import numpy as np

from storage.demo.activities import IdCounter
from storage.demo.leads import NewAccounts
from storage.demo.org import PRODUCTS, SEGMENT_SHARE, SEGMENTS, TIERS, DemoOrg
from storage.demo.write import ids

__all__ = ["BASE_PER_LEAD", "installed_base"]

BASE_PER_LEAD = 0.07
"""Customers at the start of the history per lead of the year: about as many as the year will win."""

_OLDEST_DAYS = 4 * 365  # the oldest customer signed four years before the history starts


def installed_base(
    rng: np.random.Generator,
    org: DemoOrg,
    counter: IdCounter,
    *,
    hire_day: np.ndarray,
    companies: np.ndarray,
    count: int,
) -> NewAccounts:
    """`count` customers signed in the four years before the history, owned by reps who were there all year.

    Younger customers are more common than old ones, since older cohorts have had longer to churn.
    """
    weight = org.trait_array("lead_weight") * (hire_day == 0)
    owner = rng.choice(len(weight), count, p=weight / weight.sum())
    age = np.minimum(rng.exponential(_OLDEST_DAYS / 3.0, count), _OLDEST_DAYS) + 1.0
    # Sorted oldest first, so account ids stay chronological like every other series.
    created = np.sort(np.round(-age * 1440.0) / 1440.0)
    tier = org.rep_tier[owner]
    product = np.array([t.product for t in TIERS])[tier]
    quantity = rng.integers(1, np.array([t.max_quantity for t in TIERS])[tier] + 1)
    price = np.array([p[3] for p in PRODUCTS])[product]
    amount = price * quantity * rng.lognormal(0.0, 0.25, count) * org.trait_array("amount")[owner]
    return NewAccounts(
        account_id=np.array(ids("A-", counter.take("account", count), count, 7), dtype=object),
        created=created,
        owner=owner,
        amount=amount,
        product=product,
        segment=rng.choice(len(SEGMENTS), count, p=SEGMENT_SHARE),
        company=companies[rng.integers(0, len(companies), count)],
        referral=np.zeros(count, dtype=bool),
        lead_created=created,
        deal_id=np.full(count, None, dtype=object),
    )
