"""Partner apps: created by admins with their credentials, which are shown once.

A partner has a portal key (``pk_...``, kept as its SHA-256, what it signs in to the portal
with) and an inbound secret (``whsec_...``, kept encrypted, what signs its inbound webhooks).
Rotating credentials replaces both at once and shows them once more. A suspended partner
gets no deliveries, and its inbound webhooks and portal sign-ins are refused.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.db import utcnow
from kit.problems import Conflict, NotFound
from services.webhooks.models import Partner, PartnerStatus
from services.webhooks.service.secrets import SecretBox, digest, new_credential, same_digest
from services.webhooks.service.signing import new_hmac_secret

PORTAL_KEY_PREFIX = "pk_"
NEWEST_FIRST = Keyset(Order(col(Partner.created_at), descending=True), Order(col(Partner.id)))


class PartnerNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such partner")


@dataclass(frozen=True)
class Credentials:
    """What a partner is shown once: its portal key and inbound secret."""

    portal_key: str
    inbound_secret: str


async def create(
    *, session: AsyncSession, box: SecretBox, slug: str, name: str, contact_email: str
) -> tuple[Partner, Credentials]:
    if await by_slug(session=session, slug=slug) is not None:
        raise Conflict(f"a partner named {slug!r} exists")
    credentials = _new_credentials()
    partner = Partner(
        slug=slug,
        name=name,
        contact_email=contact_email,
        portal_key_hash=digest(credentials.portal_key),
        inbound_secret=box.seal(credentials.inbound_secret),
    )
    session.add(partner)
    await session.flush()
    return partner, credentials


async def get(*, session: AsyncSession, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise PartnerNotFound()
    return partner


async def by_slug(*, session: AsyncSession, slug: str) -> Partner | None:
    found: Partner | None = await session.scalar(select(Partner).where(col(Partner.slug) == slug))
    return found


async def listing(*, session: AsyncSession, page: PageParams) -> tuple[list[Partner], str | None]:
    rows = (await session.scalars(NEWEST_FIRST.paged(select(Partner), page))).all()
    return NEWEST_FIRST.page(rows, page, lambda partner: (partner.created_at, partner.id))


async def update(
    *,
    session: AsyncSession,
    partner_id: uuid.UUID,
    name: str | None,
    contact_email: str | None,
    status: PartnerStatus | None,
) -> Partner:
    partner = await get(session=session, partner_id=partner_id)
    if name is not None:
        partner.name = name
    if contact_email is not None:
        partner.contact_email = contact_email
    if status is not None:
        partner.status = status
    partner.updated_at = utcnow()
    return partner


async def rotate_credentials(
    *, session: AsyncSession, box: SecretBox, partner_id: uuid.UUID
) -> tuple[Partner, Credentials]:
    partner = await get(session=session, partner_id=partner_id)
    credentials = _new_credentials()
    partner.portal_key_hash = digest(credentials.portal_key)
    partner.inbound_secret = box.seal(credentials.inbound_secret)
    partner.updated_at = utcnow()
    return partner, credentials


async def sign_in(*, session: AsyncSession, slug: str, portal_key: str) -> Partner | None:
    """The active partner ``slug`` if ``portal_key`` is its key, else ``None``."""
    partner = await by_slug(session=session, slug=slug)
    # compare anyway, so that an unknown partner takes as long as a wrong key
    stored = partner.portal_key_hash if partner else digest("")
    if not same_digest(portal_key, stored) or partner is None:
        return None
    return partner if partner.status == PartnerStatus.ACTIVE else None


def _new_credentials() -> Credentials:
    return Credentials(
        portal_key=new_credential(PORTAL_KEY_PREFIX), inbound_secret=new_hmac_secret()
    )
