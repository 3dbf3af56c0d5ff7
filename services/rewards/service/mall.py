"""The mall: items staff sell for points, and members' orders of them.

An order runs under the member's account lock (:func:`ledger.lock_account`, so one
member's orders and their per-user limit are serialized), then takes its stock by one
conditional ``UPDATE ... WHERE stock >= :q RETURNING`` (never below zero, whatever the
concurrency) and pays by :func:`ledger.spend_points`; a refusal anywhere rolls back the
whole unit of work, the stock included. Every order carries the caller's
``Idempotency-Key`` under ``UNIQUE (user_id, idempotency_key)``: a retry finds the first
order. Cancelling locks the owner's account, then the order: the refund (source
``mall.order.cancel``/<order id>) and the returned stock happen once.
"""

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.rewards import OrderCancelled, OrderPlaced
from kit.api.idempotency import refuse_reuse
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.ids import new_id
from kit.problems import Conflict, Forbidden, NotFound, Problem
from services.rewards.auth import STAFF_ROLES
from services.rewards.models import EntryKind, MallItem, OrderStatus
from services.rewards.models import Order as MallOrder
from services.rewards.schemas import MallItemCreate, MallItemUpdate, OrderCreate
from services.rewards.service import ledger
from services.rewards.service.ledger import Source

ORDER = "mall.order"
ORDER_CANCEL = "mall.order.cancel"

KEPT = ("stock", "price_points", "cash_cents", "min_tier", "starts_at")
"""What every item has: a PATCH changes them, never clears them."""

ITEMS_NEWEST = Keyset(
    Order(col(MallItem.starts_at), descending=True), Order(col(MallItem.id), descending=True)
)
ORDERS_NEWEST = Keyset(
    Order(col(MallOrder.created_at), descending=True), Order(col(MallOrder.id), descending=True)
)


class NotOnSale(Conflict):
    code = "item-not-on-sale"


class BadPeriod(Problem):
    status, code = 422, "bad-period"


def on_sale(now: datetime) -> ColumnElement[bool]:
    return and_(
        col(MallItem.starts_at) <= now,
        or_(col(MallItem.ends_at).is_(None), col(MallItem.ends_at) > now),
    )


# --- items --------------------------------------------------------------------------------


async def create_item(
    *, session: AsyncSession, data: MallItemCreate, principal: Principal, now: datetime
) -> MallItem:
    item = MallItem(**data.model_dump(), created_at=now, updated_at=now)
    session.add(item)
    record_action(
        session,
        actor=principal.user_id,
        action="mall.item.created",
        subject=item.id,
        stock=item.stock,
    )
    await session.flush()
    return item


async def update_item(
    *,
    session: AsyncSession,
    item_id: uuid.UUID,
    data: MallItemUpdate,
    principal: Principal,
    now: datetime,
) -> MallItem:
    """Change an item under its row lock (an order's stock update waits, then sees it)."""
    item = await session.scalar(
        select(MallItem)
        .where(col(MallItem.id) == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if item is None:
        raise NotFound("no such item")
    changes = data.model_dump(exclude_unset=True)
    cleared = [name for name in KEPT if name in changes and changes[name] is None]
    if cleared:
        raise Problem(f"{', '.join(cleared)} cannot be cleared", status=422, code="not-clearable")
    for name, value in changes.items():
        setattr(item, name, value)
    if item.ends_at is not None and item.ends_at <= item.starts_at:
        raise BadPeriod("ends_at must be after starts_at")
    item.updated_at = now
    record_action(
        session, actor=principal.user_id, action="mall.item.updated", subject=item.id, **changes
    )
    await session.flush()
    return item


async def items_on_sale(
    *, session: AsyncSession, page: PageParams, now: datetime
) -> tuple[list[MallItem], str | None]:
    """Items on sale now (sold-out ones included), latest launched first."""
    query = select(MallItem).where(on_sale(now))
    found = (await session.scalars(ITEMS_NEWEST.paged(query, page))).all()
    return ITEMS_NEWEST.page(found, page, lambda item: (item.starts_at, item.id))


async def get_item(*, session: AsyncSession, item_id: uuid.UUID) -> MallItem:
    """Any item, on sale or not (an upcoming one's page counts down, an ended one's is
    linked from its orders)."""
    item = await session.get(MallItem, item_id)
    if item is None:
        raise NotFound("no such item")
    return item


# --- orders -------------------------------------------------------------------------------


async def place_order(
    *,
    session: AsyncSession,
    principal: Principal,
    data: OrderCreate,
    idempotency_key: str,
    now: datetime,
) -> tuple[MallOrder, bool]:
    """Order ``data.quantity`` of an item, paid in points; ``(order, created)``, the
    first order again on a retry with the same key."""
    user_id = principal.user_id
    account = await ledger.lock_account(session=session, user_id=user_id)
    earlier = await session.scalar(
        select(MallOrder).where(
            col(MallOrder.user_id) == user_id, col(MallOrder.idempotency_key) == idempotency_key
        )
    )
    if earlier is not None:
        refuse_reuse(
            used_for=(earlier.item_id, earlier.quantity),
            requested=(data.item_id, data.quantity),
            what="another order",
        )
        return earlier, False
    item = await session.get(MallItem, data.item_id)
    if item is None:
        raise NotFound("no such item")
    if item.starts_at > now:
        raise NotOnSale(
            f"on sale from {item.starts_at.isoformat()}", starts_at=item.starts_at.isoformat()
        )
    if item.ends_at is not None and item.ends_at <= now:
        raise NotOnSale("this item is no longer on sale")
    if account.tier < item.min_tier:
        raise Forbidden(
            f"this item is for tier {item.min_tier} and above",
            code="tier-too-low",
            min_tier=item.min_tier,
            tier=account.tier,
        )
    if item.per_user_limit is not None:
        ordered = await _ordered(session, user_id, item.id)
        if ordered + data.quantity > item.per_user_limit:
            raise Conflict(
                f"at most {item.per_user_limit} per member; {ordered} ordered already",
                code="order-limit",
                per_user_limit=item.per_user_limit,
                ordered=ordered,
            )
    left = await session.scalar(
        update(MallItem)
        .where(col(MallItem.id) == item.id, col(MallItem.stock) >= data.quantity)
        .values(stock=col(MallItem.stock) - data.quantity, updated_at=now)
        .returning(col(MallItem.stock))
        .execution_options(synchronize_session=False)
    )
    if left is None:
        raise Conflict("sold out", code="sold-out")
    order = MallOrder(
        id=new_id(),
        user_id=user_id,
        item_id=item.id,
        quantity=data.quantity,
        points=item.price_points * data.quantity,
        cash_cents=item.cash_cents * data.quantity,
        status=OrderStatus.PLACED,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    await ledger.spend_points(
        session=session,
        user_id=user_id,
        amount=order.points,
        source=Source(
            type=ORDER, id=str(order.id), reference_type="order", reference_id=str(order.id)
        ),
        at=now,
        created_by=user_id,
    )
    session.add(order)
    publish(
        session,
        OrderPlaced(
            order_id=order.id,
            user_id=user_id,
            item_id=item.id,
            item_name=item.name,
            quantity=order.quantity,
            points=order.points,
            cash_cents=order.cash_cents,
            placed_at=now,
        ),
        actor=user_id,
    )
    await session.flush()
    return order, True


async def _ordered(session: AsyncSession, user_id: uuid.UUID, item_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(col(MallOrder.quantity)), 0)).where(
            col(MallOrder.user_id) == user_id,
            col(MallOrder.item_id) == item_id,
            col(MallOrder.status) != OrderStatus.CANCELLED,
        )
    )
    return int(total or 0)


def _may_manage(principal: Principal, order: MallOrder) -> bool:
    return order.user_id == principal.user_id or principal.has_any(*STAFF_ROLES)


async def get_order(
    *, session: AsyncSession, order_id: uuid.UUID, principal: Principal
) -> MallOrder:
    """An order, for its owner and staff (anyone else: not found)."""
    order = await session.get(MallOrder, order_id)
    if order is None or not _may_manage(principal, order):
        raise NotFound("no such order")
    return order


async def cancel_order(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    principal: Principal,
    reason: str,
    now: datetime,
) -> MallOrder:
    """Cancel an order (its owner, or staff): the points are refunded and the stock
    returned, once; a cancelled order is a 409."""
    found = await get_order(session=session, order_id=order_id, principal=principal)
    await ledger.lock_account(session=session, user_id=found.user_id)
    order = await session.scalar(
        select(MallOrder)
        .where(col(MallOrder.id) == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert order is not None
    if order.status == OrderStatus.CANCELLED:
        raise Conflict("this order was cancelled already", code="order-cancelled")
    order.status, order.cancel_reason, order.updated_at = OrderStatus.CANCELLED, reason, now
    await session.execute(
        update(MallItem)
        .where(col(MallItem.id) == order.item_id)
        .values(stock=col(MallItem.stock) + order.quantity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await ledger.credit_points(
        session=session,
        user_id=order.user_id,
        amount=order.points,
        source=Source(
            type=ORDER_CANCEL,
            id=str(order.id),
            reference_type="order",
            reference_id=str(order.id),
        ),
        at=now,
        kind=EntryKind.REFUND,
        note=reason,
        created_by=principal.user_id,
    )
    if principal.user_id != order.user_id:
        record_action(
            session,
            actor=principal.user_id,
            action="mall.order.cancelled",
            subject=order.id,
            reason=reason,
        )
    publish(
        session,
        OrderCancelled(
            order_id=order.id,
            user_id=order.user_id,
            item_id=order.item_id,
            quantity=order.quantity,
            refunded_points=order.points,
            cancelled_by=principal.user_id,
            reason=reason,
        ),
        actor=principal.user_id,
    )
    await session.flush()
    return order


async def my_orders(
    *, session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[MallOrder], str | None]:
    """The member's orders, newest first."""
    query = select(MallOrder).where(col(MallOrder.user_id) == user_id)
    found = (await session.scalars(ORDERS_NEWEST.paged(query, page))).all()
    return ORDERS_NEWEST.page(found, page, lambda order: (order.created_at, order.id))
