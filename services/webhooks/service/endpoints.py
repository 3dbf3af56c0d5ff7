"""Partners' endpoints: where they are, what they subscribe to, how they are signed, and
their state (enabled, or disabled by an admin, the partner or the dispatcher).

A URL is checked when it is set (:mod:`.targets`: https in production, every resolved
address public) and again before every attempt. Every endpoint has one current signing key
and, for ``WEBHOOKS_ROTATION_OVERLAP_SECONDS`` after a rotation, the previous one, which
keeps signing so a partner can switch without a gap; retired keys are deleted. An endpoint
is reached by admins by id, by a partner only among its own (:func:`get` with
``partner_id``): another partner's endpoint is not found.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.webhooks import EndpointDisabled, EndpointEnabled
from kit.api.pagination import Keyset, Order, PageParams
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import NotFound, Problem
from services.webhooks.models import Endpoint, EndpointSecret, EndpointStatus, Signing
from services.webhooks.service import targets
from services.webhooks.service.event_types import MAX_PATTERNS, unknown_patterns
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.signing import SigningKey, new_ed25519_seed, new_hmac_secret

NEWEST_FIRST = Keyset(Order(col(Endpoint.created_at), descending=True), Order(col(Endpoint.id)))


class EndpointNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such endpoint")


class UnsafeTarget(Problem):
    status, code = 422, "unsafe-target"


class UnknownEventTypes(Problem):
    status, code = 422, "unknown-event-types"


@dataclass(frozen=True)
class NewSecret:
    """A signing key as it is shown once: the ``whsec_`` secret, or the Ed25519 public key."""

    key_id: uuid.UUID
    kind: Signing
    secret: str | None
    public_key: str | None


@dataclass(frozen=True)
class EndpointChanges:
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    ordered: bool | None = None
    max_in_flight: int | None = None
    rate_per_second: int | None = None
    clear_rate: bool = False


async def checked_url(
    url: str, *, policy: targets.TargetPolicy, resolver: targets.Resolver | None = None
) -> str:
    """``url`` if webhooks may call it (see :mod:`.targets`), else a 422."""
    try:
        target = targets.check_url(url, policy=policy)
        await targets.resolve(target, policy=policy, resolver=resolver)
    except targets.TargetRefused as refused:
        raise UnsafeTarget(f"{url} may not be called: {refused.reason}") from None
    return url


def checked_patterns(patterns: list[str]) -> list[str]:
    unknown = unknown_patterns(patterns)
    if unknown:
        raise UnknownEventTypes(
            f"no partner event type matches {', '.join(unknown)} (see /v1/webhook-event-types)"
        )
    if len(set(patterns)) > MAX_PATTERNS:
        raise UnknownEventTypes(f"at most {MAX_PATTERNS} patterns")
    return sorted(set(patterns))


async def create(
    *,
    session: AsyncSession,
    box: SecretBox,
    policy: targets.TargetPolicy,
    partner_id: uuid.UUID,
    url: str,
    description: str,
    event_types: list[str],
    signing: Signing,
    ordered: bool,
    max_in_flight: int,
    rate_per_second: int | None,
    resolver: targets.Resolver | None = None,
) -> tuple[Endpoint, NewSecret]:
    endpoint = Endpoint(
        partner_id=partner_id,
        url=await checked_url(url, policy=policy, resolver=resolver),
        description=description,
        event_types=checked_patterns(event_types),
        signing=signing,
        ordered=ordered,
        max_in_flight=max_in_flight,
        rate_per_second=rate_per_second,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, _add_secret(session, box, endpoint)


async def get(
    *, session: AsyncSession, endpoint_id: uuid.UUID, partner_id: uuid.UUID | None = None
) -> Endpoint:
    """The endpoint; with ``partner_id``, only if it is that partner's."""
    endpoint = await session.get(Endpoint, endpoint_id)
    if endpoint is None or (partner_id is not None and endpoint.partner_id != partner_id):
        raise EndpointNotFound()
    return endpoint


async def listing(
    *, session: AsyncSession, partner_id: uuid.UUID, page: PageParams
) -> tuple[list[Endpoint], str | None]:
    query = select(Endpoint).where(col(Endpoint.partner_id) == partner_id)
    rows = (await session.scalars(NEWEST_FIRST.paged(query, page))).all()
    return NEWEST_FIRST.page(rows, page, lambda endpoint: (endpoint.created_at, endpoint.id))


async def update(
    *,
    session: AsyncSession,
    policy: targets.TargetPolicy,
    endpoint: Endpoint,
    changes: EndpointChanges,
    resolver: targets.Resolver | None = None,
) -> Endpoint:
    if changes.url is not None:
        endpoint.url = await checked_url(changes.url, policy=policy, resolver=resolver)
    if changes.event_types is not None:
        endpoint.event_types = checked_patterns(changes.event_types)
    for name in ("description", "ordered", "max_in_flight", "rate_per_second"):
        value = getattr(changes, name)
        if value is not None:
            setattr(endpoint, name, value)
    if changes.clear_rate:
        endpoint.rate_per_second = None
    endpoint.updated_at = utcnow()
    return endpoint


async def rotate_secret(
    *,
    session: AsyncSession,
    box: SecretBox,
    endpoint: Endpoint,
    overlap_seconds: int,
    signing: Signing | None = None,
) -> NewSecret:
    """A new signing key (of ``signing``, or the endpoint's kind); the keys that sign now
    retire after ``overlap_seconds`` at the latest and sign beside it until then."""
    now = utcnow()
    await session.execute(
        delete(EndpointSecret).where(
            col(EndpointSecret.endpoint_id) == endpoint.id,
            col(EndpointSecret.retires_at) <= now,
        )
    )
    retires_at = now + timedelta(seconds=overlap_seconds)
    signing_now = await session.scalars(
        select(EndpointSecret).where(
            col(EndpointSecret.endpoint_id) == endpoint.id,
            or_(col(EndpointSecret.retires_at).is_(None), col(EndpointSecret.retires_at) > now),
        )
    )
    for secret in signing_now:
        secret.retires_at = min(secret.retires_at or retires_at, retires_at)
    if signing is not None:
        endpoint.signing = signing
    endpoint.updated_at = now
    return _add_secret(session, box, endpoint)


async def signing_keys(
    *, session: AsyncSession, box: SecretBox, endpoint_id: uuid.UUID, now: datetime
) -> list[SigningKey]:
    """The keys that sign a delivery to the endpoint now: its current one and those still in
    their overlap, newest first."""
    rows = await session.scalars(
        select(EndpointSecret)
        .where(
            col(EndpointSecret.endpoint_id) == endpoint_id,
            or_(col(EndpointSecret.retires_at).is_(None), col(EndpointSecret.retires_at) > now),
        )
        .order_by(col(EndpointSecret.created_at).desc())
    )
    return [SigningKey(Signing(row.kind), box.open(row.secret)) for row in rows]


async def key_ids(*, session: AsyncSession, endpoint_id: uuid.UUID) -> list[EndpointSecret]:
    rows = await session.scalars(
        select(EndpointSecret)
        .where(col(EndpointSecret.endpoint_id) == endpoint_id)
        .order_by(col(EndpointSecret.created_at).desc())
    )
    return list(rows)


async def public_keys(*, session: AsyncSession, now: datetime) -> list[EndpointSecret]:
    """Every Ed25519 key that signs now: the key set."""
    rows = await session.scalars(
        select(EndpointSecret)
        .where(
            col(EndpointSecret.kind) == Signing.ED25519,
            or_(col(EndpointSecret.retires_at).is_(None), col(EndpointSecret.retires_at) > now),
        )
        .order_by(col(EndpointSecret.created_at))
    )
    return list(rows)


def disable(
    *,
    session: AsyncSession,
    endpoint: Endpoint,
    reason: str,
    now: datetime,
    actor: uuid.UUID | None,
) -> None:
    """Stop delivering to ``endpoint`` (pending deliveries wait) and announce it."""
    if endpoint.status == EndpointStatus.DISABLED:
        return
    endpoint.status = EndpointStatus.DISABLED
    endpoint.disabled_reason = reason
    endpoint.disabled_at = now
    endpoint.updated_at = now
    publish(
        session,
        EndpointDisabled(
            partner_id=endpoint.partner_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            reason=reason,
            failing_since=endpoint.failing_since,
            disabled_at=now,
        ),
        actor=actor,
    )


def enable(
    *, session: AsyncSession, endpoint: Endpoint, now: datetime, actor: uuid.UUID | None
) -> None:
    """Deliver to ``endpoint`` again, with a clean record (its pending deliveries go first)."""
    if endpoint.status == EndpointStatus.ENABLED:
        return
    endpoint.status = EndpointStatus.ENABLED
    endpoint.disabled_reason = None
    endpoint.disabled_at = None
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None
    endpoint.paused_until = None
    endpoint.updated_at = now
    publish(
        session,
        EndpointEnabled(
            partner_id=endpoint.partner_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            enabled_at=now,
        ),
        actor=actor,
    )


def _add_secret(session: AsyncSession, box: SecretBox, endpoint: Endpoint) -> NewSecret:
    kind = Signing(endpoint.signing)
    if kind == Signing.HMAC:
        secret, public = new_hmac_secret(), None
    else:
        secret, public = new_ed25519_seed()
    row = EndpointSecret(
        endpoint_id=endpoint.id, kind=kind, secret=box.seal(secret), public_key=public
    )
    session.add(row)
    return NewSecret(
        key_id=row.id,
        kind=kind,
        secret=secret if kind == Signing.HMAC else None,
        public_key=public,
    )
