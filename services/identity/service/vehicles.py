"""Vehicles: what users say they own, and its verification, which makes them owners.

A vehicle is verified by staff (an audit record ``vehicle.verified``) or, later, by a
sales partner's delivery report. A VIN is verified for one account at a time (a partial
unique index decides).
"""

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import VehicleVerified
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound
from services.identity.models import User, Vehicle, VehicleStatus
from services.identity.schemas import VehicleCreate
from services.identity.service.roles import OWNER_ROLE, add_role, publish_role_change

MAX_VEHICLES_PER_USER = 10
SUBMISSION_ORDER = Keyset(Order(col(Vehicle.id)))
"""Vehicles in the order they were submitted (their ids are UUIDv7)."""


async def submit_vehicle(*, session: AsyncSession, user: User, data: VehicleCreate) -> Vehicle:
    """Record a vehicle the user says they own, pending verification."""
    query = select(func.count()).select_from(Vehicle).where(col(Vehicle.user_id) == user.id)
    count = await session.scalar(query)
    if (count or 0) >= MAX_VEHICLES_PER_USER:
        raise Conflict(f"at most {MAX_VEHICLES_PER_USER} vehicles per account", code="too-many")
    vehicle = Vehicle(user_id=user.id, vin=data.vin, model=data.model)
    session.add(vehicle)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("this vehicle is already on your account", code="vehicle-exists") from exc
    return vehicle


async def vehicles_of(*, session: AsyncSession, user_id: uuid.UUID) -> list[Vehicle]:
    """The user's vehicles (at most :data:`MAX_VEHICLES_PER_USER`), oldest first."""
    query = select(Vehicle).where(col(Vehicle.user_id) == user_id).order_by(col(Vehicle.id))
    return list((await session.scalars(query)).all())


async def pending_vehicles(
    *, session: AsyncSession, page: PageParams
) -> tuple[list[Vehicle], str | None]:
    """One page of the vehicles waiting for verification, oldest first, and the cursor of
    the next page (``None`` on the last one)."""
    query = select(Vehicle).where(
        col(Vehicle.status) == VehicleStatus.pending,
        col(Vehicle.vin).is_not(None),
    )
    rows = (await session.scalars(SUBMISSION_ORDER.paged(query, page))).all()
    return SUBMISSION_ORDER.page(rows, page, lambda vehicle: (vehicle.id,))


async def verify_vehicle(
    *,
    session: AsyncSession,
    vehicle_id: uuid.UUID,
    verified_by: str,
    changed_by: uuid.UUID | None,
) -> Vehicle:
    """Verify a pending vehicle: its user becomes an owner. Idempotent.

    ``verified_by`` says who vouched (``staff:<user id>`` or ``partner:<app>``);
    ``changed_by`` is the person behind it, if any: the events' actor and, for staff, the
    audit record's. A VIN is verified for one account at a time: a second one is a 409.
    """
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.vin is None:
        raise NotFound("no such vehicle")
    if vehicle.status == VehicleStatus.verified:
        return vehicle
    if not await _mark_verified(session, vehicle, verified_by):
        await session.refresh(vehicle)
        return vehicle
    await session.refresh(vehicle)
    assert vehicle.vin is not None
    publish(
        session,
        VehicleVerified(
            user_id=vehicle.user_id,
            vehicle_id=vehicle.id,
            vin_last4=vehicle.vin[-4:],
            verified_by=verified_by,
        ),
        actor=changed_by,
    )
    if changed_by is not None:
        record_action(
            session,
            actor=changed_by,
            action="vehicle.verified",
            subject=vehicle.id,
            user_id=vehicle.user_id,
        )
    if await add_role(session=session, user_id=vehicle.user_id, role=OWNER_ROLE):
        await publish_role_change(
            session=session, user_id=vehicle.user_id, granted=[OWNER_ROLE], changed_by=changed_by
        )
    return vehicle


async def _mark_verified(session: AsyncSession, vehicle: Vehicle, verified_by: str) -> bool:
    """Move pending to verified; ``False`` when someone else just did."""
    statement = (
        update(Vehicle)
        .where(col(Vehicle.id) == vehicle.id, col(Vehicle.status) == VehicleStatus.pending)
        .values(status=VehicleStatus.verified, verified_at=utcnow(), verified_by=verified_by)
        .returning(col(Vehicle.id))
        .execution_options(synchronize_session=False)
    )
    try:
        result = await session.execute(statement)
    except IntegrityError as exc:
        raise Conflict(
            "this VIN is already verified for another account", code="vin-verified"
        ) from exc
    return result.first() is not None
