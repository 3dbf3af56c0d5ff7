"""Vehicles: what users say they own, and its verification, which makes them owners.

A vehicle is verified by staff (an audit record ``vehicle.verified``) or by a sales
partner's delivery report (:func:`verify_delivery`, no actor and no audit record: the
system acts on the partner's word). A VIN is verified for one account at a time (a
partial unique index decides).
"""

import logging
import uuid

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.identity import VehicleVerified
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import Conflict, NotFound
from services.identity.models import VERIFIED_BY_MAX, User, Vehicle, VehicleStatus
from services.identity.schemas import VehicleCreate, Vin
from services.identity.service.accounts import active_user
from services.identity.service.roles import OWNER_ROLE, add_role, publish_role_change

log = logging.getLogger(__name__)

MAX_VEHICLES_PER_USER = 10
DELIVERED_MODEL = "Delivered vehicle"
"""The model of a vehicle identity first hears of from a delivery (reports name no model)."""
_VIN = TypeAdapter(Vin)
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


async def verify_delivery(
    *, session: AsyncSession, user_id: uuid.UUID, vin: str, partner_id: str
) -> Vehicle | None:
    """The sales partner delivered ``vin`` to the account ``user_id``: record the vehicle
    (the user's own submission of that VIN, or a new one) as verified by
    ``partner:<partner_id>``, which makes the user an owner (announced, no actor).

    Idempotent, and it never takes a vehicle from anyone: nothing changes (and the
    verified vehicle is returned) when the VIN is verified for this user already; nothing
    changes (``None``, logged) when the account is unknown or deleted, the VIN malformed,
    or verified for another account.
    """
    try:
        vin = _VIN.validate_python(vin)
    except ValidationError:
        log.warning("delivery for %s names a malformed VIN: ignored", user_id)
        return None
    if await active_user(session=session, user_id=user_id) is None:
        log.warning("delivery of a vehicle to unknown or deleted account %s: ignored", user_id)
        return None
    verified = await session.scalar(
        select(Vehicle).where(
            col(Vehicle.vin) == vin, col(Vehicle.status) == VehicleStatus.verified
        )
    )
    if verified is not None:
        if verified.user_id != user_id:
            log.warning("delivery to %s of a VIN verified for another account: ignored", user_id)
            return None
        return verified
    vehicle = await _delivered_vehicle(session, user_id, vin)
    return await verify_vehicle(
        session=session,
        vehicle_id=vehicle.id,
        verified_by=f"partner:{partner_id}"[:VERIFIED_BY_MAX],
        changed_by=None,
    )


async def _delivered_vehicle(session: AsyncSession, user_id: uuid.UUID, vin: str) -> Vehicle:
    """The user's vehicle with ``vin``: their own submission, else a new one (beyond the
    per-user limit: a delivery is a fact, not a request; the unique key decides a race)."""
    values = {
        "id": new_id(),
        "user_id": user_id,
        "vin": vin,
        "model": DELIVERED_MODEL,
        "status": VehicleStatus.pending,
        "submitted_at": utcnow(),
    }
    await session.execute(
        dialect_insert(session, Vehicle)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["user_id", "vin"])
    )
    vehicle = await session.scalar(
        select(Vehicle).where(col(Vehicle.user_id) == user_id, col(Vehicle.vin) == vin)
    )
    assert vehicle is not None
    return vehicle
