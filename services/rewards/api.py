"""Rewards' HTTP API: the wallet and ledger, rules, grants and adjustments, check-in,
gifts, the mall, tiers, leaderboards and the club.

A member reads only their own wallet, ledger, orders and gifts; staff manage rules and the
mall; admins grant and adjust, with a mandatory reason, audited.
"""

from datetime import UTC, datetime

from fastapi import APIRouter

from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.auth import CurrentPrincipal
from kit.db import SessionDep
from kit.problems import problem_responses
from services.rewards.models import Account, Currency
from services.rewards.schemas import EntryPublic, ValuePublic, WalletPublic
from services.rewards.service import ledger, wallet

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


# --- check-in, gifts, mall ----------------------------------------------------------------


# --- tiers, leaderboards, club ------------------------------------------------------------


ROUTERS = (wallet_router, rules_router, mall_router, standing_router)
