"""Identity's tables: users, their roles, refresh tokens, vehicles, the login throttles
(per account, per account and client) and the devices known to an account.

They derive from :class:`IdentityTable`, whose MetaData is identity's own: :data:`METADATA`
holds them and kit's tables (the outbox's ``outbox`` and ``processed_events``, the audit
record of staff and admin actions ``audit_records``), and no other service's. Migrations and
tests build exactly :data:`METADATA` (ADR 0002).
"""

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Enum, ForeignKey, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from kit.audit import AuditRecord
from kit.auth import ROLES
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "AuditRecord",
    "IdentityTable",
    "KnownDevice",
    "LoginClientThrottle",
    "LoginThrottle",
    "OutboxMessage",
    "OutboxSequence",
    "ProcessedEvent",
    "RefreshToken",
    "User",
    "UserRole",
    "Vehicle",
    "VehicleStatus",
]

EMAIL_MAX = 320
DISPLAY_NAME_MAX = 50
BIO_MAX = 500
CITY_MAX = 100
URL_MAX = 2048
VIN_LENGTH = 17
MODEL_MAX = 100
VERIFIED_BY_MAX = 200

_ROLE_LIST = ", ".join(f"'{role}'" for role in ROLES)


class IdentityTable(SQLModel, registry=service_registry()):
    """Base of identity's tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = IdentityTable.metadata
"""identity's whole schema: its tables and kit's; what its migrations and tests build."""


class User(IdentityTable, table=True):
    """An account. A deleted account stays as a tombstone row without personal data."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=EMAIL_MAX, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)
    bio: str | None = Field(default=None, max_length=BIO_MAX)
    city: str | None = Field(default=None, max_length=CITY_MAX)
    avatar_url: str | None = Field(default=None, max_length=URL_MAX)
    # Unused since migration 0003 moved all throttling to the login_*throttles tables;
    # still erased on deletion (accounts.py), to be dropped once nothing writes them.
    failed_logins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tier: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """The rewards tier rewards last announced: the access token's ``tier`` claim."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class UserRole(IdentityTable, table=True):
    """One role held by one user; the primary key makes a grant happen at most once."""

    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLE_LIST})", name="role_known"),)

    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(primary_key=True, max_length=20)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RefreshToken(IdentityTable, table=True):
    """A refresh token, stored as its SHA-256; every rotation stays in one family."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    family_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VehicleStatus(enum.StrEnum):
    pending = "pending"
    verified = "verified"


class Vehicle(IdentityTable, table=True):
    """A vehicle a user says they own; verified by staff or by a partner's delivery report.

    A VIN is verified for at most one account at a time (partial unique index); the VIN
    is erased (null) when the account is deleted.
    """

    __tablename__ = "vehicles"
    __table_args__ = (
        UniqueConstraint("user_id", "vin"),
        Index(
            "uq_vehicles_verified_vin",
            "vin",
            unique=True,
            postgresql_where=text("status = 'verified'"),
            sqlite_where=text("status = 'verified'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    vin: str | None = Field(default=None, max_length=VIN_LENGTH)
    model: str = Field(max_length=MODEL_MAX)
    status: VehicleStatus = Field(
        default=VehicleStatus.pending,
        sa_column=Column(
            Enum(
                VehicleStatus,
                name="vehicle_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
    )
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(default=None, max_length=VERIFIED_BY_MAX)


class LoginThrottle(IdentityTable, table=True):
    """The per-account ceiling on failed logins, keyed by the email's SHA-256.

    Every email is counted here, with or without an account, so that the throttle does not
    reveal which emails are registered; the plain email is not stored. When it locks, only
    a known device of the account still gets its password checked
    (:mod:`services.identity.service.throttle`).
    """

    __tablename__ = "login_throttles"

    email_hash: str = Field(primary_key=True, max_length=64)
    failed_logins: int = Field(default=0)
    last_failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginClientThrottle(IdentityTable, table=True):
    """Failed logins of one client (an address, or a device id) against one email.

    Keyed by SHA-256s of the email and of the client key, for emails with and without
    an account alike; past the free failures each one delays that client's next attempt.
    """

    __tablename__ = "login_client_throttles"

    email_hash: str = Field(primary_key=True, max_length=64)
    client_hash: str = Field(primary_key=True, max_length=64)
    failed_logins: int = Field(default=0)
    last_failed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class KnownDevice(IdentityTable, table=True):
    """A device id (its SHA-256) that logged in to the account successfully before."""

    __tablename__ = "known_devices"

    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    device_hash: str = Field(primary_key=True, max_length=64)
    last_login_at: datetime = Field(sa_type=UTCDateTime)
