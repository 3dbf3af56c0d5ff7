"""Identity's HTTP API: auth, the caller's own account, public profiles, admin, JWKS.

Routes translate HTTP to :mod:`services.identity.service` calls and back, inside the
request's unit of work (``SessionDep``); every error is a problem document declared in
OpenAPI. Who may call what is in :mod:`services.identity.auth`.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kit.api.devices import device_id_header
from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.app import app_state
from kit.auth import CurrentPrincipal, Role
from kit.db import ReadsDep, SessionDep
from kit.openapi import created_response
from kit.problems import Unauthorized, problem_responses
from services.identity.auth import ACCOUNT_GONE, Admin, CurrentUser, StaffOrAdmin
from services.identity.models import User, Vehicle
from services.identity.passwords import Passwords
from services.identity.schemas import (
    Email,
    Jwks,
    LoginRequest,
    ProfilePublic,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserPublic,
    UserRolesPublic,
    UserUpdate,
    VehicleCreate,
    VehicleList,
    VehiclePublic,
)
from services.identity.service import accounts, roles, sessions, vehicles
from services.identity.service.throttle import LoginClient, Throttling
from services.identity.tokens import KeyRing, TokenIssuer

auth = APIRouter(prefix="/v1/auth", tags=["auth"])
me = APIRouter(prefix="/v1/me", tags=["me"], responses=problem_responses(401))
users = APIRouter(prefix="/v1/users", tags=["users"], responses=problem_responses(401))
admin = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403))
well_known = APIRouter(prefix="/.well-known", tags=["keys"])
ROUTERS = (auth, me, users, admin, well_known)

PasswordsDep = Annotated[Passwords, app_state("passwords")]
IssuerDep = Annotated[TokenIssuer, app_state("token_issuer")]
ThrottlingDep = Annotated[Throttling, app_state("throttling")]
ForwardedHopsDep = Annotated[int, app_state("forwarded_hops")]
KeyRingDep = Annotated[KeyRing, app_state("key_ring")]


async def _user_public(session: AsyncSession, user: User) -> UserPublic:
    held = await roles.roles_of(session=session, user_id=user.id)
    return UserPublic.model_validate({**user.model_dump(), "roles": held})


def _vehicle_public(vehicle: Vehicle) -> VehiclePublic:
    return VehiclePublic.model_validate(vehicle)


# Auth


@auth.post(
    "/register",
    operation_id="auth.register",
    status_code=201,
    responses={**created_response("the account"), **problem_responses(400, 409, 413, 422)},
    summary="Sign up",
)
async def register(
    body: UserCreate,
    session: SessionDep,
    passwords: PasswordsDep,
    response: Response,
    device_id: Annotated[
        str | None,
        device_id_header(
            "A stable id of the app's installation (as for login). Only its SHA-256 is "
            "kept and announced, for the referral checks that compare devices."
        ),
    ] = None,
) -> UserPublic:
    user = await accounts.register(
        session=session, data=body, passwords=passwords, device_id=device_id
    )
    response.headers["Location"] = f"/v1/users/{user.id}"
    return await _user_public(session, user)


def client_address(request: Request, hops: int) -> str | None:
    """The caller's address: ``hops`` entries from the right of ``X-Forwarded-For`` (each
    proxy in front of identity, the gateway first, appends the address it saw), else the
    peer's address."""
    forwarded = [
        entry.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for entry in header.split(",")
        if entry.strip()
    ]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.client.host if request.client else None


@auth.post(
    "/login",
    operation_id="auth.login",
    responses=problem_responses(400, 401, 413, 422, 429),
    summary="Log in",
    description=(
        "Failed logins are throttled per account and client (the caller's address, and the "
        "`X-Device-Id` when sent): after 5 failures each further attempt of that client must "
        "wait 30 s, doubling up to 15 min (429 with `Retry-After`). 100 failures from all "
        "clients lock the account for an hour for every device except one that logged in to "
        "it before. Unknown emails are answered exactly like known ones."
    ),
)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    passwords: PasswordsDep,
    issuer: IssuerDep,
    throttling: ThrottlingDep,
    hops: ForwardedHopsDep,
    device_id: Annotated[
        str | None,
        device_id_header(
            "A stable id of the app's installation (8 to 128 of `A-Z a-z 0-9 . _ : -`, "
            "e.g. a random UUID kept on the device). A device that logged in before "
            "is never locked out by failures from other clients."
        ),
    ] = None,
) -> TokenPair:
    return await sessions.login(
        session=session,
        email=body.email,
        password=body.password,
        passwords=passwords,
        issuer=issuer,
        throttling=throttling,
        client=LoginClient(address=client_address(request, hops), device_id=device_id),
    )


@auth.post(
    "/refresh",
    operation_id="auth.refresh",
    responses=problem_responses(400, 401, 413, 422),
    summary="Rotate a refresh token",
)
async def refresh(body: RefreshRequest, session: SessionDep, issuer: IssuerDep) -> TokenPair:
    return await sessions.refresh(session=session, refresh_token=body.refresh_token, issuer=issuer)


@auth.post(
    "/logout",
    operation_id="auth.logout",
    status_code=204,
    response_class=Response,
    responses=problem_responses(400, 401, 413, 422),
    summary="End the session of a refresh token",
)
async def logout(body: RefreshRequest, session: SessionDep) -> None:
    await sessions.logout(session=session, refresh_token=body.refresh_token)


@well_known.get(
    "/jwks.json", operation_id="auth.jwks", summary="Public keys that verify access tokens"
)
async def jwks(keys: KeyRingDep) -> Jwks:
    return Jwks.model_validate(keys.jwks())


# The caller's own account


@me.get("", operation_id="me.read", summary="My account")
async def read_me(principal: CurrentPrincipal, reads: ReadsDep) -> UserPublic:
    account = await accounts.own_account(reads=reads, user_id=principal.user_id)
    if account is None:
        raise Unauthorized(ACCOUNT_GONE)
    row, held = account
    return UserPublic.model_validate({**row, "roles": held})


@me.patch(
    "",
    operation_id="me.update",
    responses=problem_responses(400, 413, 422),
    summary="Update my profile",
)
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    user = await accounts.update_profile(session=session, user=user, data=body)
    return await _user_public(session, user)


@me.delete(
    "",
    operation_id="me.delete",
    status_code=204,
    response_class=Response,
    summary="Delete my account",
)
async def delete_me(user: CurrentUser, session: SessionDep) -> None:
    await accounts.delete_account(session=session, user=user)


@me.post(
    "/vehicles",
    operation_id="me.submitVehicle",
    status_code=201,
    responses=problem_responses(400, 409, 413, 422),
    summary="Submit my vehicle for verification",
)
async def submit_vehicle(
    body: VehicleCreate, user: CurrentUser, session: SessionDep
) -> VehiclePublic:
    vehicle = await vehicles.submit_vehicle(session=session, user=user, data=body)
    return _vehicle_public(vehicle)


@me.get("/vehicles", operation_id="me.listVehicles", summary="My vehicles")
async def my_vehicles(user: CurrentUser, session: SessionDep) -> VehicleList:
    mine = await vehicles.vehicles_of(session=session, user_id=user.id)
    return VehicleList(items=[_vehicle_public(vehicle) for vehicle in mine])


# Public profiles


@users.get(
    "/{user_id}",
    operation_id="users.read",
    responses=problem_responses(404, 422),
    summary="A user's profile",
)
async def read_profile(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ProfilePublic:
    user = await accounts.profile(session=session, user_id=user_id)
    held = await roles.roles_of(session=session, user_id=user.id)
    return ProfilePublic.model_validate({**user.model_dump(), "roles": held})


# Administration


@admin.get(
    "/users",
    operation_id="admin.findUser",
    responses=problem_responses(404, 422),
    summary="Find a user by email (staff and admin; recorded in the audit)",
)
async def find_user(
    email: Annotated[Email, Query(description="exact match, compared in lower case")],
    session: SessionDep,
    principal: StaffOrAdmin,
) -> UserPublic:
    user = await accounts.find_by_email(
        session=session, email=email, looked_up_by=principal.user_id
    )
    return await _user_public(session, user)


@admin.post(
    "/users/{user_id}/roles/{role}",
    operation_id="admin.grantRole",
    responses=problem_responses(404, 422),
    summary="Grant a role (not owner: that follows a verified vehicle)",
)
async def grant_role(
    user_id: uuid.UUID, role: Role, session: SessionDep, principal: Admin
) -> UserRolesPublic:
    held = await roles.grant_role(
        session=session, user_id=user_id, role=role, changed_by=principal.user_id
    )
    return UserRolesPublic(user_id=user_id, roles=held)


@admin.delete(
    "/users/{user_id}/roles/{role}",
    operation_id="admin.revokeRole",
    responses=problem_responses(404, 409, 422),
    summary="Revoke a role",
)
async def revoke_role(
    user_id: uuid.UUID, role: Role, session: SessionDep, principal: Admin
) -> UserRolesPublic:
    held = await roles.revoke_role(
        session=session, user_id=user_id, role=role, changed_by=principal.user_id
    )
    return UserRolesPublic(user_id=user_id, roles=held)


@admin.get(
    "/vehicles",
    operation_id="admin.listPendingVehicles",
    responses=problem_responses(422),
    summary="Vehicles waiting for verification, oldest first",
)
async def pending_vehicles(
    session: SessionDep, page: PageDep, principal: StaffOrAdmin
) -> CursorPage[VehiclePublic]:
    pending, next_cursor = await vehicles.pending_vehicles(session=session, page=page)
    return CursorPage[VehiclePublic](
        items=[_vehicle_public(vehicle) for vehicle in pending], next_cursor=next_cursor
    )


@admin.post(
    "/vehicles/{vehicle_id}/verify",
    operation_id="admin.verifyVehicle",
    responses=problem_responses(404, 409, 422),
    summary="Verify a vehicle: its user becomes an owner",
)
async def verify_vehicle(
    vehicle_id: uuid.UUID, session: SessionDep, principal: StaffOrAdmin
) -> VehiclePublic:
    vehicle = await vehicles.verify_vehicle(
        session=session,
        vehicle_id=vehicle_id,
        verified_by=f"staff:{principal.user_id}",
        changed_by=principal.user_id,
    )
    return _vehicle_public(vehicle)
