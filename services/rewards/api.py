"""Rewards' HTTP API: the wallet and ledger, rules, grants and adjustments, check-in,
gifts, the mall, tiers, leaderboards and the club.

A member reads only their own wallet, ledger, orders and gifts; staff manage rules and the
mall; admins grant and adjust, with a mandatory reason, audited.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.auth import CurrentPrincipal
from kit.db import ReadSessionDep, SessionDep
from kit.problems import problem_responses
from services.rewards.auth import Staff
from services.rewards.models import CITY_MAX, Account, Currency
from services.rewards.schemas import (
    ClubMemberPublic,
    ClubReasonPublic,
    EntryPublic,
    KeepTierPublic,
    LeaderboardPublic,
    MyRankPublic,
    MyTierPublic,
    NextTierPublic,
    PlacingPublic,
    TierPublic,
    TiersReplace,
    ValuePublic,
    WalletPublic,
)
from services.rewards.service import club, leaderboards, ledger, tiers, wallet
from services.rewards.service.leaderboards import BoardKind, Period

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


@standing_router.get(
    "/v1/rewards/tiers",
    operation_id="tiers.list",
    response_model=list[TierPublic],
    responses=problem_responses(),
)
async def list_tiers(session: ReadSessionDep) -> list[TierPublic]:
    """The tiers and the community value each takes, lowest first."""
    return [TierPublic.model_validate(tier) for tier in await tiers.all_tiers(session=session)]


@standing_router.put(
    "/v1/rewards/tiers",
    operation_id="tiers.replace",
    response_model=list[TierPublic],
    responses=problem_responses(401, 403, 422),
)
async def replace_tiers(
    session: SessionDep, principal: Staff, body: TiersReplace
) -> list[TierPublic]:
    """Replace every tier (staff). Members move to the new thresholds at their next value
    change (or, when now below their tier, after its grace period), not all at once."""
    replaced = await tiers.replace(
        session=session,
        tiers=[(tier.name, tier.threshold) for tier in body.tiers],
        changed_by=principal.user_id,
    )
    return [TierPublic.model_validate(tier) for tier in replaced]


@standing_router.get(
    "/v1/me/tier",
    operation_id="tiers.mine",
    response_model=MyTierPublic,
    responses=problem_responses(401),
)
async def my_tier(session: SessionDep, principal: CurrentPrincipal) -> MyTierPublic:
    """My tier, what the next one needs, and what keeps mine."""
    account = await wallet.account_of(session=session, user_id=principal.user_id)
    standing = await tiers.standing_of(session=session, account=account)
    following = standing.next
    return MyTierPublic(
        tier=standing.tier.level,
        name=standing.tier.name,
        community_value=standing.value,
        next=None
        if following is None
        else NextTierPublic(
            tier=following.level,
            name=following.name,
            needed=max(following.threshold - standing.value, 0),
        ),
        keep=KeepTierPublic(
            threshold=standing.tier.threshold,
            kept_until=standing.kept_until,
            needed=max(standing.tier.threshold - standing.value, 0),
        ),
    )


City = Annotated[str | None, Query(max_length=CITY_MAX)]
Limit = Annotated[int, Query(ge=1, le=100)]


def _board_public(
    placings: list[leaderboards.Placing],
    *,
    of: leaderboards.Board,
    kind: BoardKind,
    period: Period,
    city: str | None,
) -> LeaderboardPublic:
    return LeaderboardPublic(
        board=kind,
        period=period,
        period_key=of.period,
        city=city,
        items=[
            PlacingPublic(
                rank=placing.rank,
                user_id=placing.account.user_id,
                display_name=placing.account.display_name,
                city=placing.account.city,
                score=placing.score,
            )
            for placing in placings
        ],
    )


@standing_router.get(
    "/v1/leaderboards/value",
    operation_id="leaderboards.value",
    response_model=LeaderboardPublic,
    responses=problem_responses(422),
)
async def value_board(
    session: ReadSessionDep, period: Period = Period.YEAR, city: City = None, limit: Limit = 100
) -> LeaderboardPublic:
    """The top members by this year's community value, or by this quarter's growth."""
    of = leaderboards.board(BoardKind.VALUE, period, now=datetime.now(UTC))
    placings = await leaderboards.top(session=session, of=of, city=city, limit=limit)
    return _board_public(placings, of=of, kind=BoardKind.VALUE, period=period, city=city)


@standing_router.get(
    "/v1/leaderboards/referrers",
    operation_id="leaderboards.referrers",
    response_model=LeaderboardPublic,
    responses=problem_responses(422),
)
async def referrers_board(
    session: ReadSessionDep, city: City = None, limit: Limit = 100
) -> LeaderboardPublic:
    """The members whose referrals were rewarded most this year."""
    of = leaderboards.board(BoardKind.REFERRERS, Period.YEAR, now=datetime.now(UTC))
    placings = await leaderboards.top(session=session, of=of, city=city, limit=limit)
    return _board_public(placings, of=of, kind=BoardKind.REFERRERS, period=Period.YEAR, city=city)


@standing_router.get(
    "/v1/me/rank",
    operation_id="leaderboards.rank",
    response_model=MyRankPublic,
    responses=problem_responses(401, 422),
)
async def my_rank(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    board: BoardKind = BoardKind.VALUE,
    period: Period = Period.YEAR,
    city: City = None,
) -> MyRankPublic:
    """Where I stand on a board (ties go by user id); null when I have no score there."""
    of = leaderboards.board(board, period, now=datetime.now(UTC))
    rank, score = await leaderboards.rank_of(
        session=session, of=of, city=city, user_id=principal.user_id
    )
    return MyRankPublic(board=board, period=period, city=city, rank=rank, score=score)


@standing_router.get(
    "/v1/club",
    operation_id="club.list",
    response_model=list[ClubMemberPublic],
    responses=problem_responses(),
)
async def list_club(session: ReadSessionDep) -> list[ClubMemberPublic]:
    """The club as last computed: each member and why they are in it."""
    return [
        ClubMemberPublic(
            user_id=member.user_id,
            display_name=member.account.display_name if member.account else None,
            city=member.account.city if member.account else None,
            reasons=[ClubReasonPublic.model_validate(row) for row in member.reasons],
        )
        for member in await club.members(session=session)
    ]


ROUTERS = (wallet_router, rules_router, mall_router, standing_router)
