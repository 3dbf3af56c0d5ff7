"""Events published by identity on ``identity.users``."""

from datetime import datetime
from uuid import UUID

from contracts.catalog import Payload, event, topic

IDENTITY_USERS = topic(
    "identity.users", "Lifecycle of user accounts: registration, profile, roles, vehicles"
)


@event("identity.user.registered.v1", topic=IDENTITY_USERS, subject="user_id")
class UserRegistered(Payload):
    """A person created an account (a fan until a vehicle is verified)."""

    user_id: UUID
    display_name: str
    referral_code: str | None = None
    device_hash: str | None = None
    """SHA-256 (hex) of the ``X-Device-Id`` the app registered from, if it sent one:
    referrals' self-referral check compares devices without learning their ids."""
    registered_at: datetime


@event("identity.user.updated.v1", topic=IDENTITY_USERS, subject="user_id")
class UserUpdated(Payload):
    """A user changed their public profile."""

    user_id: UUID
    display_name: str
    city: str | None = None


@event("identity.user.role_changed.v1", topic=IDENTITY_USERS, subject="user_id")
class UserRoleChanged(Payload):
    """A role was granted or revoked; ``roles`` is the full set after the change.

    ``changed_by`` is the admin or staff member who made the change, or null when the
    system made it (a partner's delivery report, the bootstrap command).
    """

    user_id: UUID
    roles: list[str]
    granted: list[str]
    revoked: list[str]
    changed_by: UUID | None = None
    changed_at: datetime | None = None
    """When the change was committed; access tokens issued before it that lost a role are
    refused everywhere (ADR 0009). Null only in events published before the field existed."""


@event("identity.user.sessions_revoked.v1", topic=IDENTITY_USERS, subject="user_id")
class SessionsRevoked(Payload):
    """Sessions (refresh-token families, the ``sid`` claim of access tokens) were revoked.

    Every service refuses the access tokens of ``session_ids`` at once (ADR 0009); an empty
    list means every session of the user: tokens issued before ``revoked_at`` are refused.
    """

    user_id: UUID
    session_ids: list[UUID]
    revoked_at: datetime
    reason: str
    """``logout`` or ``refresh_reused`` today; a string, so that a new reason is not a new
    version (readers must accept reasons they do not know)."""


@event("identity.user.vehicle_verified.v1", topic=IDENTITY_USERS, subject="user_id")
class VehicleVerified(Payload):
    """A vehicle was verified for a user, who is now an owner."""

    user_id: UUID
    vehicle_id: UUID
    vin_last4: str
    verified_by: str


@event("identity.user.deleted.v1", topic=IDENTITY_USERS, subject="user_id")
class UserDeleted(Payload):
    """An account was deleted and its personal data erased; others drop what they hold.

    Access tokens of the account issued before ``deleted_at`` are refused everywhere.
    """

    user_id: UUID
    deleted_at: datetime
