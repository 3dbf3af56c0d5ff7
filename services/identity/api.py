"""Identity's HTTP API: auth, the caller's own account, public profiles, admin, JWKS.

Routes translate HTTP to :mod:`services.identity.service` calls and back; every error
is a problem document declared in OpenAPI. Login and refresh run their own unit of work
so that a refusal is raised only after what caused it has been committed.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import CurrentPrincipal, Principal, require_roles
from kit.db import Database, SessionDep
from kit.problems import Forbidden, Unauthorized, problem_responses
from services.identity import service
from services.identity.models import User, Vehicle
from services.identity.passwords import Passwords
from services.identity.schemas import (
    Jwks,
    LoginRequest,
    ProfilePublic,
    RefreshRequest,
    Role,
    TokenPair,
    UserCreate,
    UserPublic,
    UserRoles,
    UserUpdate,
    VehicleCreate,
    VehicleList,
    VehiclePage,
    VehiclePublic,
)
from services.identity.tokens import KeyRing, TokenIssuer

auth = APIRouter(prefix="/v1/auth", tags=["auth"])
me = APIRouter(prefix="/v1/me", tags=["me"], responses=problem_responses(401))
users = APIRouter(prefix="/v1/users", tags=["users"], responses=problem_responses(401))
admin = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403))
well_known = APIRouter(prefix="/.well-known", tags=["keys"])
ROUTERS = (auth, me, users, admin, well_known)


def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


def _lockout(request: Request) -> service.Lockout:
    lockout: service.Lockout = request.app.state.lockout
    return lockout


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


PasswordsDep = Annotated[Passwords, Depends(_passwords)]
IssuerDep = Annotated[TokenIssuer, Depends(_issuer)]
LockoutDep = Annotated[service.Lockout, Depends(_lockout)]
DatabaseDep = Annotated[Database, Depends(_database)]


async def _current_user(principal: CurrentPrincipal, session: SessionDep) -> User:
    """The caller's account; a valid token of a deleted account is refused."""
    user = await service.active_user(session=session, user_id=principal.user_id)
    if user is None:
        raise Unauthorized("the account no longer exists")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def _acting_as(*roles: str) -> Any:
    """The caller, if the token *and* the account (now) hold one of ``roles``."""

    async def dependency(
        session: SessionDep, principal: Principal = require_roles(*roles)
    ) -> Principal:
        if await service.active_user(session=session, user_id=principal.user_id) is None:
            raise Unauthorized("the account no longer exists")
        held = await service.roles_of(session=session, user_id=principal.user_id)
        if not set(held) & set(roles):
            raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
        return principal

    return Depends(dependency)


async def _user_public(session: AsyncSession, user: User) -> UserPublic:
    roles = await service.roles_of(session=session, user_id=user.id)
    return UserPublic.model_validate({**user.model_dump(), "roles": roles})


def _granted(outcome: TokenPair | service.Refused) -> TokenPair:
    if isinstance(outcome, service.Refused):
        raise outcome.problem
    return outcome


# Auth


@auth.post(
    "/register", status_code=201, responses=problem_responses(400, 409, 413, 422), summary="Sign up"
)
async def register(body: UserCreate, session: SessionDep, passwords: PasswordsDep) -> UserPublic:
    user = await service.register(session=session, data=body, passwords=passwords)
    return await _user_public(session, user)


@auth.post("/login", responses=problem_responses(400, 401, 413, 422, 429), summary="Log in")
async def login(
    body: LoginRequest,
    database: DatabaseDep,
    passwords: PasswordsDep,
    issuer: IssuerDep,
    lockout: LockoutDep,
) -> TokenPair:
    async with database.transaction() as session:
        outcome = await service.login(
            session=session,
            email=body.email,
            password=body.password,
            passwords=passwords,
            issuer=issuer,
            lockout=lockout,
        )
    return _granted(outcome)


@auth.post(
    "/refresh", responses=problem_responses(400, 401, 413, 422), summary="Rotate a refresh token"
)
async def refresh(body: RefreshRequest, database: DatabaseDep, issuer: IssuerDep) -> TokenPair:
    async with database.transaction() as session:
        outcome = await service.refresh(
            session=session, refresh_token=body.refresh_token, issuer=issuer
        )
    return _granted(outcome)


@auth.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses=problem_responses(400, 401, 413, 422),
    summary="End the session of a refresh token",
)
async def logout(body: RefreshRequest, session: SessionDep) -> None:
    await service.logout(session=session, refresh_token=body.refresh_token)


@well_known.get("/jwks.json", summary="Public keys that verify access tokens")
async def jwks(request: Request) -> Jwks:
    keys: KeyRing = request.app.state.key_ring
    return Jwks.model_validate(keys.jwks())


# The caller's own account


@me.get("", summary="My account")
async def read_me(user: CurrentUser, session: SessionDep) -> UserPublic:
    return await _user_public(session, user)


@me.patch("", responses=problem_responses(400, 413, 422), summary="Update my profile")
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    user = await service.update_profile(session=session, user=user, data=body)
    return await _user_public(session, user)


@me.delete("", status_code=204, response_class=Response, summary="Delete my account")
async def delete_me(user: CurrentUser, session: SessionDep) -> None:
    await service.delete_account(session=session, user=user)


@me.post(
    "/vehicles",
    status_code=201,
    responses=problem_responses(400, 409, 413, 422),
    summary="Submit my vehicle for verification",
)
async def submit_vehicle(
    body: VehicleCreate, user: CurrentUser, session: SessionDep
) -> VehiclePublic:
    vehicle = await service.submit_vehicle(session=session, user=user, data=body)
    return _vehicle_public(vehicle)


@me.get("/vehicles", summary="My vehicles")
async def my_vehicles(user: CurrentUser, session: SessionDep) -> VehicleList:
    vehicles = await service.vehicles_of(session=session, user_id=user.id)
    return VehicleList(items=[_vehicle_public(vehicle) for vehicle in vehicles])


def _vehicle_public(vehicle: Vehicle) -> VehiclePublic:
    return VehiclePublic.model_validate(vehicle, from_attributes=True)


# Public profiles


@users.get("/{user_id}", responses=problem_responses(404, 422), summary="A user's profile")
async def read_profile(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ProfilePublic:
    user = await service.profile(session=session, user_id=user_id)
    roles = await service.roles_of(session=session, user_id=user.id)
    return ProfilePublic.model_validate({**user.model_dump(), "roles": roles})


# Administration


@admin.post(
    "/users/{user_id}/roles/{role}",
    responses=problem_responses(404, 422),
    summary="Grant a role (not owner: that follows a verified vehicle)",
)
async def grant_role(
    user_id: uuid.UUID,
    role: Role,
    session: SessionDep,
    principal: Principal = _acting_as("admin"),
) -> UserRoles:
    roles = await service.grant_role(
        session=session, user_id=user_id, role=role, changed_by=principal.user_id
    )
    return UserRoles(user_id=user_id, roles=roles)


@admin.delete(
    "/users/{user_id}/roles/{role}",
    responses=problem_responses(404, 409, 422),
    summary="Revoke a role",
)
async def revoke_role(
    user_id: uuid.UUID,
    role: Role,
    session: SessionDep,
    principal: Principal = _acting_as("admin"),
) -> UserRoles:
    roles = await service.revoke_role(
        session=session, user_id=user_id, role=role, changed_by=principal.user_id
    )
    return UserRoles(user_id=user_id, roles=roles)


@admin.get(
    "/vehicles", responses=problem_responses(422), summary="Vehicles waiting for verification"
)
async def pending_vehicles(
    session: SessionDep,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    principal: Principal = _acting_as("staff", "admin"),
) -> VehiclePage:
    vehicles = await service.pending_vehicles(session=session, after=after, limit=limit)
    cursor = vehicles[-1].id if len(vehicles) == limit else None
    return VehiclePage(items=[_vehicle_public(vehicle) for vehicle in vehicles], next_cursor=cursor)


@admin.post(
    "/vehicles/{vehicle_id}/verify",
    responses=problem_responses(404, 409, 422),
    summary="Verify a vehicle: its user becomes an owner",
)
async def verify_vehicle(
    vehicle_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = _acting_as("staff", "admin"),
) -> VehiclePublic:
    vehicle = await service.verify_vehicle(
        session=session,
        vehicle_id=vehicle_id,
        verified_by=f"staff:{principal.user_id}",
        changed_by=principal.user_id,
    )
    return _vehicle_public(vehicle)
