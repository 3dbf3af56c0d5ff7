"""Venues: city clubhouses and outside locations. Staff write, everyone reads."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import utcnow
from kit.problems import NotFound
from services.events.models import Venue
from services.events.schemas import VenueCreate, VenueUpdate

MAX_VENUES = 500


async def create_venue(session: AsyncSession, *, data: VenueCreate) -> Venue:
    venue = Venue(**data.model_dump())
    session.add(venue)
    await session.flush()
    return venue


async def get_venue(session: AsyncSession, *, venue_id: uuid.UUID) -> Venue:
    venue = await session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("no such venue")
    return venue


async def update_venue(session: AsyncSession, *, venue_id: uuid.UUID, data: VenueUpdate) -> Venue:
    venue = await get_venue(session, venue_id=venue_id)
    for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(venue, field, value)
    venue.updated_at = utcnow()
    await session.flush()
    return venue


async def list_venues(session: AsyncSession, *, city: str | None) -> list[Venue]:
    query = (
        select(Venue).order_by(col(Venue.city), col(Venue.name), col(Venue.id)).limit(MAX_VENUES)
    )
    if city:
        query = query.where(col(Venue.city) == city)
    return list((await session.scalars(query)).all())
