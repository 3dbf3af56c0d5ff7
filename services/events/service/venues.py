"""Venues: city clubhouses and outside locations. Staff write, everyone reads."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.db import utcnow
from kit.problems import NotFound
from services.events.models import Venue
from services.events.schemas import VenueCreate, VenueUpdate

BY_CITY_AND_NAME = Keyset(Order(col(Venue.city)), Order(col(Venue.name)), Order(col(Venue.id)))


async def create_venue(*, session: AsyncSession, data: VenueCreate, principal: Principal) -> Venue:
    venue = Venue(**data.model_dump())
    session.add(venue)
    await session.flush()
    record_action(session, actor=principal.user_id, action="venue.created", subject=venue.id)
    return venue


async def get_venue(*, session: AsyncSession, venue_id: uuid.UUID) -> Venue:
    venue = await session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("no such venue")
    return venue


async def update_venue(
    *, session: AsyncSession, venue_id: uuid.UUID, data: VenueUpdate, principal: Principal
) -> Venue:
    venue = await get_venue(session=session, venue_id=venue_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(venue, field, value)
    venue.updated_at = utcnow()
    await session.flush()
    record_action(
        session,
        actor=principal.user_id,
        action="venue.updated",
        subject=venue.id,
        changed=sorted(changes),
    )
    return venue


async def list_venues(
    *, session: AsyncSession, city: str | None, page: PageParams
) -> tuple[list[Venue], str | None]:
    """Venues by city and name, a page at a time."""
    query = select(Venue)
    if city:
        query = query.where(col(Venue.city) == city)
    venues = (await session.scalars(BY_CITY_AND_NAME.paged(query, page))).all()
    return BY_CITY_AND_NAME.page(venues, page, lambda venue: (venue.city, venue.name, venue.id))
