"""Revenue (SPEC 3.4, 3.6): revenue and new revenue, deals won and the average deal size, with every breakdown."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.kpis.mrr import money
from metrics.result import Measure, ratio
from metrics.sql.breakdowns import add_up, breakdown_rows, group_key, lead_filters, product_filter
from metrics.sql.customers import acquisitions, day_number
from storage.schema import Account, Deal, Lead, Order

__all__ = ["REVENUE", "RevenueSums", "revenue_sums"]


@dataclass(frozen=True)
class RevenueSums:
    """One group's revenue items: their amount, the part from new customers, and how many there were."""

    amount: Decimal = Decimal(0)
    new_amount: Decimal = Decimal(0)
    items: int = 0


def _is_new(acquired_at: Any, at: Any, days: int) -> ColumnElement[bool]:
    # A sale is new revenue while its customer was acquired at most `new_customer_days` before it.
    return and_(acquired_at.is_not(None), day_number(acquired_at) >= day_number(at) - days)


def _acquired(ctx: ComputeContext, source: str) -> Any:
    """When each customer of the period's sales was acquired (the only customers whose first orders and deals
    decide what counts as new)."""
    customers: Select[Any]
    if source == "deals":
        customers = select(Deal.account_id).where(
            Deal.status == "won",
            Deal.closed_at >= ctx.start,
            Deal.closed_at < ctx.end,
            ctx.owner_in_scope(Deal.owner_id),
        )
    else:
        customers = select(Order.account_id).where(Order.ordered_at >= ctx.start, Order.ordered_at < ctx.end)
    return acquisitions(customers)


def revenue_sums(
    ctx: ComputeContext, source: str, by: str | None, *, new: bool = True
) -> dict[str, RevenueSums]:
    """Won deals (`source` "deals", by close date) or orders ("orders", by order date) in the period, per group;
    without `new`, the part from new customers is not worked out (it stays 0)."""
    days = ctx.settings.revenue.new_customer_days
    acquired = _acquired(ctx, source) if new else None
    if source == "deals":
        owner: Any = Deal.owner_id
        amount, product, at = Deal.amount, Deal.product_id, Deal.closed_at
        base = select().select_from(Deal).outerjoin(Lead, Lead.lead_id == Deal.lead_id)
        if acquired is not None:
            base = base.outerjoin(acquired, acquired.c.account_id == Deal.account_id)
        base = base.where(Deal.status == "won")
    else:
        # An order without its own owner belongs to the account's owner.
        owner = func.coalesce(Order.owner_id, Account.owner_id)
        amount, product, at = Order.amount, Order.product_id, Order.ordered_at
        base = (
            select()
            .select_from(Order)
            .outerjoin(Account, Account.account_id == Order.account_id)
            .outerjoin(Deal, Deal.deal_id == Order.deal_id)
            .outerjoin(Lead, Lead.lead_id == Deal.lead_id)
        )
        if acquired is not None:
            base = base.outerjoin(acquired, acquired.c.account_id == Order.account_id)
    key = group_key(by, period=ctx.period, owner=owner, lead=Lead, product=product, time=at)
    new_amount: Any = literal(0)
    if acquired is not None:
        new_amount = case((_is_new(acquired.c.acquired_at, at, days), func.coalesce(amount, 0)), else_=0)
    inner = (
        base.add_columns(
            key.label("group_key"),
            func.coalesce(amount, 0).label("amount"),
            new_amount.label("new_amount"),
        )
        .where(
            at >= ctx.start,
            at < ctx.end,
            ctx.owner_in_scope(owner),
            *lead_filters(ctx.filters, Lead),
            *product_filter(ctx.filters, product),
        )
        .subquery("items")
    )
    stmt = select(
        inner.c.group_key, func.sum(inner.c.amount), func.sum(inner.c.new_amount), func.count()
    ).group_by(inner.c.group_key)
    return {
        key: RevenueSums(money(total), money(new), int(count))
        for key, total, new, count in ctx.conn.execute(stmt)
    }


@dataclass(frozen=True)
class _Group:
    deals: RevenueSums
    orders: RevenueSums | None  # only when revenue comes from orders


def _measures(group: _Group, *, new: bool = True) -> tuple[Measure, ...]:
    sales = group.orders or group.deals
    per = "orders" if group.orders else "deals won"
    measures = [
        Measure("revenue", "Revenue", "money", sales.amount),
        *([Measure("new_revenue", "New revenue", "money", sales.new_amount)] if new else []),
        Measure("deals_won", "Deals won", "count", group.deals.items),
        Measure(
            "avg_deal_size",
            "Average deal size",
            "money",
            ratio(sales.amount, sales.items),
            detail=f"{sales.amount} / {sales.items} {per}",
        ),
    ]
    if group.orders:
        measures.append(Measure("orders", "Orders", "count", group.orders.items))
    return tuple(measures)


def compute(ctx: ComputeContext) -> Computed:
    from_orders = ctx.settings.revenue.source == "orders"
    # `detail=summary` (the leaderboard's ranking by revenue) leaves new revenue out: telling a new customer's sale
    # from a returning one's means finding every customer's first order and first won deal, which costs the
    # database several times what the sums themselves do.
    new = ctx.options.get("detail", "full") != "summary"

    def measures(group: _Group) -> tuple[Measure, ...]:
        return _measures(group, new=new)

    def groups(by: str | None) -> dict[str, _Group]:
        deals = revenue_sums(ctx, "deals", by, new=new)
        orders = revenue_sums(ctx, "orders", by, new=new) if from_orders else {}
        return {
            key: _Group(
                deals.get(key, RevenueSums()), orders.get(key, RevenueSums()) if from_orders else None
            )
            for key in {**deals, **orders}
        }

    empty = _Group(RevenueSums(), RevenueSums() if from_orders else None)
    if not ctx.by:
        return Computed(measures=measures(groups(None).get("", empty)))
    # Every sale falls in exactly one group (a missing owner, source, product … is the "" group), so the totals
    # are the groups' sums and the sales are read once.
    by_group = groups(ctx.by)
    totals = _Group(
        add_up((g.deals for g in by_group.values()), RevenueSums()),
        add_up((g.orders for g in by_group.values() if g.orders), RevenueSums()) if from_orders else None,
    )
    rows = breakdown_rows(ctx.conn, ctx.by, ctx.period, by_group, measures, empty=empty)
    return Computed(measures=measures(totals), rows=rows)


REVENUE = MetricDef(
    name="revenue",
    title="Revenue",
    description=(
        "Revenue = amount of deals won (closed) in the period, or of orders placed in it when revenue.source is "
        "orders. New revenue is the part from customers acquired (first order or first won deal) at most "
        "revenue.new_customer_days (default 365) before the sale; a sale without an account is not new. "
        "Average deal size = revenue / deals won (or / orders when revenue comes from orders)."
    ),
    compute=compute,
    needs=("deals", "orders", "leads", "accounts"),
    options=("detail",),
    breakdowns=("rep", "team", "source", "segment", "product", "month", "week"),
    filters=("source", "segment", "product", "campaign"),
    defines=(
        "revenue",
        "new_revenue",
        "deals_won",
        "orders",
        "avg_deal_size",
    ),
)
