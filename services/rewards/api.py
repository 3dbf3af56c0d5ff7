"""Rewards' HTTP API: the wallet and ledger, rules, grants and adjustments, check-in,
gifts, the mall, tiers, leaderboards and the club.

A member reads only their own wallet, ledger, orders and gifts; staff manage rules and the
mall; admins grant and adjust, with a mandatory reason, audited.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kit.api import idempotency
from kit.api.idempotency import IdempotencyKey
from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.auth import CurrentPrincipal, Principal
from kit.db import SessionDep
from kit.openapi import created_response
from kit.problems import problem_responses
from services.rewards.auth import Admin, Staff
from services.rewards.models import Account, Currency, LedgerEntry
from services.rewards.schemas import (
    AdjustmentCreate,
    EntryPublic,
    ExpiringPoints,
    ExpiringPublic,
    GrantCreate,
    GrantPublic,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    ValuePublic,
    WalletPublic,
)
from services.rewards.service import grants, jobs, ledger, rules, wallet

wallet_router = APIRouter(tags=["wallet"])
rules_router = APIRouter(tags=["rules"])
mall_router = APIRouter(tags=["mall"])
standing_router = APIRouter(tags=["standing"])


def wallet_public(account: Account, *, now: datetime) -> WalletPublic:
    year = account.year_value if account.value_year == now.year else 0
    quarter = account.quarter_value if account.value_quarter == ledger.quarter_of(now) else 0
    total = ledger.community_value(account)
    return WalletPublic(
        points=account.points,
        pending_points=account.pending_points,
        debt=account.debt,
        community_value=total,
        value=ValuePublic(
            interaction=account.value_interaction,
            development=account.value_development,
            efficiency=account.value_efficiency,
            special=account.value_special,
            total=total,
            this_year=year,
            this_quarter=quarter,
        ),
        tier=account.tier,
        streak=account.streak,
    )


# --- wallet and ledger --------------------------------------------------------------------


@wallet_router.get(
    "/v1/me/wallet",
    operation_id="wallet.read",
    response_model=WalletPublic,
    responses=problem_responses(401),
)
async def my_wallet(session: SessionDep, principal: CurrentPrincipal) -> WalletPublic:
    """My points (spendable, pending, owed) and community value by dimension."""
    account = await wallet.account_of(session=session, user_id=principal.user_id)
    return wallet_public(account, now=datetime.now(UTC))


@wallet_router.get(
    "/v1/me/ledger",
    operation_id="wallet.ledger",
    response_model=CursorPage[EntryPublic],
    responses=problem_responses(401, 422),
)
async def my_ledger(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    currency: Currency | None = None,
) -> CursorPage[EntryPublic]:
    """Every movement of my points and value, newest first, each with its source."""
    found, next_cursor = await wallet.entries(
        session=session, user_id=principal.user_id, currency=currency, page=page
    )
    items = [EntryPublic.model_validate(entry) for entry in found]
    return CursorPage[EntryPublic](items=items, next_cursor=next_cursor)


# --- rules, grants, adjustments -----------------------------------------------------------


@rules_router.get(
    "/v1/rewards/rules",
    operation_id="rules.list",
    response_model=CursorPage[RulePublic],
    responses=problem_responses(401, 403, 422),
)
async def list_rules(session: SessionDep, staff: Staff, page: PageDep) -> CursorPage[RulePublic]:
    """Every earning rule, newest first (ended ones too)."""
    found, next_cursor = await rules.list_rules(session=session, page=page)
    items = [RulePublic.model_validate(rule) for rule in found]
    return CursorPage[RulePublic](items=items, next_cursor=next_cursor)


@rules_router.post(
    "/v1/rewards/rules",
    operation_id="rules.create",
    status_code=201,
    response_model=RulePublic,
    responses={**created_response("the rule"), **problem_responses(401, 403, 422)},
)
async def create_rule(
    session: SessionDep, staff: Staff, body: RuleCreate, response: Response
) -> RulePublic:
    """A new earning rule; 422 ``overlapping-rule`` when one of the same source, role and
    currency is active in its period, ``cap-below-amount`` when a cap or the budget could
    never pay it."""
    rule = await rules.create_rule(session=session, data=body, principal=staff, now=_now())
    response.headers["Location"] = f"/v1/rewards/rules/{rule.id}"
    return RulePublic.model_validate(rule)


@rules_router.patch(
    "/v1/rewards/rules/{rule_id}",
    operation_id="rules.update",
    response_model=RulePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_rule(
    session: SessionDep, staff: Staff, rule_id: uuid.UUID, body: RuleUpdate
) -> RulePublic:
    """Change a rule's amount, caps, end or budget (409 below what it has paid)."""
    rule = await rules.update_rule(
        session=session, rule_id=rule_id, data=body, principal=staff, now=_now()
    )
    return RulePublic.model_validate(rule)


@rules_router.post(
    "/v1/rewards/rules/{rule_id}/end",
    operation_id="rules.end",
    response_model=RulePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def end_rule(session: SessionDep, staff: Staff, rule_id: uuid.UUID) -> RulePublic:
    """End an active rule now (409 when it is not active)."""
    rule = await rules.end_rule(session=session, rule_id=rule_id, principal=staff, now=_now())
    return RulePublic.model_validate(rule)


@rules_router.post(
    "/v1/rewards/grants",
    operation_id="grants.create",
    status_code=201,
    response_model=GrantPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_grant(
    session: SessionDep,
    admin: Admin,
    body: GrantCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Grant community value (special contribution by default) with a reason; a retry
    with the same ``Idempotency-Key`` grants once and answers the same."""
    return await _replayable(
        session,
        admin,
        idempotency_key,
        ("grant", body.model_dump(mode="json")),
        lambda: grants.grant(session=session, data=body, principal=admin, now=_now()),
    )


@rules_router.post(
    "/v1/rewards/adjustments",
    operation_id="adjustments.create",
    status_code=201,
    response_model=GrantPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_adjustment(
    session: SessionDep,
    admin: Admin,
    body: AdjustmentCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Credit (positive) or debit (negative) points with a reason; 409
    ``not-enough-points`` for a debit beyond the spendable points. A retry with the same
    ``Idempotency-Key`` moves them once and answers the same."""
    return await _replayable(
        session,
        admin,
        idempotency_key,
        ("adjustment", body.model_dump(mode="json")),
        lambda: grants.adjust(session=session, data=body, principal=admin, now=_now()),
    )


@rules_router.get(
    "/v1/rewards/grants",
    operation_id="grants.list",
    response_model=CursorPage[GrantPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_grants(
    session: SessionDep, admin: Admin, page: PageDep, user_id: uuid.UUID | None = None
) -> CursorPage[GrantPublic]:
    """Grants and adjustments, newest first; of one member with ``user_id``."""
    found, next_cursor = await grants.list_grants(session=session, user_id=user_id, page=page)
    items = [GrantPublic.model_validate(entry) for entry in found]
    return CursorPage[GrantPublic](items=items, next_cursor=next_cursor)


@rules_router.get(
    "/v1/me/expiring",
    operation_id="wallet.expiring",
    response_model=ExpiringPublic,
    responses=problem_responses(401),
)
async def my_expiring(session: SessionDep, principal: CurrentPrincipal) -> ExpiringPublic:
    """My spendable points by the moment they expire, soonest first."""
    found = await jobs.expiring(session=session, user_id=principal.user_id)
    items = [ExpiringPoints(expires_at=at, points=points) for at, points in found]
    return ExpiringPublic(items=items)


def _now() -> datetime:
    return datetime.now(UTC)


async def _replayable(
    session: AsyncSession,
    admin: Principal,
    key: str | None,
    request: object,
    write: Callable[[], Awaitable[LedgerEntry]],
) -> Response:
    """``write`` once per ``Idempotency-Key`` (a retry gets the first answer back)."""
    record = None
    if key is not None:
        record = await idempotency.claim(
            session, owner=admin.user_id, key=key, request_hash=idempotency.fingerprint(request)
        )
        if record.status_code is not None:
            return JSONResponse(record.body, status_code=record.status_code)
    body = GrantPublic.model_validate(await write()).model_dump(mode="json")
    if record is not None:
        idempotency.remember(session, record, status_code=201, body=body)
    return JSONResponse(body, status_code=201)


# --- check-in, gifts, mall ----------------------------------------------------------------


# --- tiers, leaderboards, club ------------------------------------------------------------


ROUTERS = (wallet_router, rules_router, mall_router, standing_router)
