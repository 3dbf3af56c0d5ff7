"""Identity's API models: what requests may carry and what responses show.

Request bodies (``<Thing>Create``, ``<Thing>Update``, ``<Action>Request``) derive from
:class:`kit.api.schemas.StrictBody`: an unknown field is a 422, never silently ignored, so
that a client cannot try to set a role, an email or an owner flag through a profile update.
Free text refuses control characters (NUL cannot be stored by PostgreSQL). Resources are
``<Thing>Public`` (:class:`kit.api.schemas.PublicModel`); ``TokenPair`` and ``Jwks`` are
documents, not resources, and keep their standard names.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from kit.api.schemas import TRIMMED_LINE, PublicModel, StrictBody
from kit.auth import Role
from services.identity import models
from services.identity.models import VehicleStatus
from services.identity.passwords import MAX_LENGTH, MIN_DISTINCT, MIN_LENGTH

"""One line with something besides whitespace: what stays non-empty once stripped, so the
schema refuses what the stripping would empty (``"\u0085"``, a lone NEL, is whitespace)."""
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Email = Annotated[EmailStr, Field(max_length=models.EMAIL_MAX), AfterValidator(str.lower)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters; also not only digits, at "
        f"least {MIN_DISTINCT} different characters and not the email address (checked on "
        "registration: a 422 ``weak-password`` says which)",
    ),
]
DisplayName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=models.DISPLAY_NAME_MAX,
        pattern=TRIMMED_LINE,
    ),
]
Bio = Annotated[str, StringConstraints(max_length=models.BIO_MAX, pattern=MULTI_LINE)]
City = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=models.CITY_MAX, pattern=TRIMMED_LINE
    ),
]
AvatarUrl = Annotated[AnyHttpUrl, Field(max_length=models.URL_MAX)]
Vin = Annotated[
    str,
    StringConstraints(pattern=r"^[A-HJ-NPR-Z0-9]{17}$"),
    BeforeValidator(_upper),
    Field(description="17 characters: digits and capital letters except I, O and Q"),
]
ReferralCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class UserBase(BaseModel):
    display_name: DisplayName


class UserCreate(UserBase, StrictBody):
    email: Email
    password: NewPassword
    referral_code: ReferralCode | None = None


class UserUpdate(StrictBody):
    """A partial profile update: only the fields sent change; ``null`` clears a field."""

    display_name: DisplayName | None = None
    bio: Bio | None = None
    city: City | None = None
    avatar_url: AvatarUrl | None = None

    @field_validator("display_name")
    @classmethod
    def _display_name_stays(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("display_name cannot be cleared")
        return value


class ProfilePublic(UserBase, PublicModel):
    """What anyone signed in may see about a user (never the email)."""

    id: uuid.UUID
    bio: str | None
    city: str | None
    avatar_url: str | None
    roles: list[Role]


class UserPublic(ProfilePublic):
    """The account as its owner sees it."""

    email: str
    created_at: datetime


class LoginRequest(StrictBody):
    email: Email
    password: Password


class RefreshRequest(StrictBody):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class TokenPair(PublicModel):
    """The tokens of a login or a refresh (an OAuth 2.0 token response)."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class UserRolesPublic(PublicModel):
    """The roles a user holds after a grant or a revocation."""

    user_id: uuid.UUID
    roles: list[Role]


class VehicleBase(BaseModel):
    model: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=models.MODEL_MAX, pattern=TRIMMED_LINE
        ),
    ]


class VehicleCreate(VehicleBase, StrictBody):
    vin: Vin


class VehiclePublic(VehicleBase, PublicModel):
    id: uuid.UUID
    user_id: uuid.UUID
    vin: str | None
    status: VehicleStatus
    submitted_at: datetime
    verified_at: datetime | None


class VehicleList(PublicModel):
    """The caller's own vehicles: at most ten, so one bounded list rather than pages."""

    items: list[VehiclePublic]


class Jwk(PublicModel):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str
    e: str


class Jwks(PublicModel):
    """The JSON Web Key Set (RFC 7517) that verifies access tokens."""

    keys: list[Jwk]
