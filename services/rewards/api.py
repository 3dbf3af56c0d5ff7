"""Rewards' HTTP API: the wallet and ledger, rules, grants and adjustments, check-in,
gifts, the mall, tiers, leaderboards and the club.

A member reads only their own wallet, ledger, orders and gifts; staff manage rules and the
mall; admins grant and adjust, with a mandatory reason, audited.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, get_args

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kit.api import idempotency
from kit.api.idempotency import IdempotencyKey
from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.app import app_state
from kit.auth import CurrentPrincipal, Principal
from kit.db import ReadSessionDep, SessionDep
from kit.openapi import created_response
from kit.problems import problem_responses
from services.rewards.auth import Admin, Staff
from services.rewards.config import RewardsSettings
from services.rewards.models import (
    CITY_MAX,
    Account,
    BoardKind,
    Checkin,
    Currency,
    LedgerEntry,
    Period,
)
from services.rewards.schemas import (
    AdjustmentCreate,
    CancelRequest,
    ClubMemberPublic,
    ClubReasonPublic,
    DailyCheckinPublic,
    EntryPublic,
    ExpiringPoints,
    ExpiringPublic,
    GiftCreate,
    GiftPublic,
    GrantCreate,
    GrantPublic,
    KeepTierPublic,
    LeaderboardPublic,
    MallItemCreate,
    MallItemPublic,
    MallItemUpdate,
    MyRankPublic,
    MyTierPublic,
    NextTierPublic,
    OrderCreate,
    OrderPublic,
    PlacingPublic,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    TierPublic,
    TiersReplace,
    TimezonePublic,
    TimezoneRequest,
    ValuePublic,
    WalletPublic,
)
from services.rewards.service import (
    checkins,
    club,
    gifts,
    grants,
    jobs,
    leaderboards,
    ledger,
    mall,
    rules,
    tiers,
    wallet,
)

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

Settings = Annotated[RewardsSettings, app_state("settings")]
RequiredIdempotencyKey = Annotated[str, *get_args(IdempotencyKey)[1:]]
"""kit's ``Idempotency-Key`` header, required (an order without one is a 422)."""


def checkin_public(checkin: Checkin) -> DailyCheckinPublic:
    return DailyCheckinPublic.model_validate(checkin)


def timezone_public(account: Account) -> TimezonePublic:
    return TimezonePublic(
        timezone=account.timezone,
        changed_at=account.timezone_changed_at,
        next_change_at=checkins.next_change_at(account),
    )


@mall_router.post(
    "/v1/me/checkins",
    operation_id="checkins.create",
    status_code=201,
    response_model=DailyCheckinPublic,
    responses={
        201: {"description": "today's check-in, credited"},
        200: {
            "model": DailyCheckinPublic,
            "description": "today was checked in already (a second tap): that check-in, "
            "nothing credited again",
        },
        **problem_responses(401, 409),
    },
)
async def check_in(
    session: SessionDep, principal: CurrentPrincipal, response: Response
) -> DailyCheckinPublic:
    """Check in for today in my time zone: points, a streak, a bonus every 7th day in a row.

    At most once a day; a 409 ``already-checked-in`` when a later day (in the time zone I
    had before) was checked in already."""
    checkin, created = await checkins.check_in(
        session=session, user_id=principal.user_id, now=datetime.now(UTC)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return checkin_public(checkin)


@mall_router.get(
    "/v1/me/checkins",
    operation_id="checkins.listMine",
    response_model=CursorPage[DailyCheckinPublic],
    responses=problem_responses(401, 422),
)
async def my_checkins(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[DailyCheckinPublic]:
    """My check-ins, latest day first."""
    found, next_cursor = await checkins.checkins(
        session=session, user_id=principal.user_id, page=page
    )
    items = [checkin_public(checkin) for checkin in found]
    return CursorPage[DailyCheckinPublic](items=items, next_cursor=next_cursor)


@mall_router.put(
    "/v1/me/timezone",
    operation_id="checkins.setTimezone",
    response_model=TimezonePublic,
    responses=problem_responses(401, 409, 422),
)
async def set_timezone(
    session: SessionDep, principal: CurrentPrincipal, body: TimezoneRequest
) -> TimezonePublic:
    """Where my day starts and ends; it changes at most once in 30 days (409 otherwise)."""
    account = await checkins.set_timezone(
        session=session,
        user_id=principal.user_id,
        timezone=body.timezone.value,
        now=datetime.now(UTC),
    )
    return timezone_public(account)


@mall_router.post(
    "/v1/me/gifts",
    operation_id="gifts.create",
    status_code=201,
    response_model=GiftPublic,
    responses={
        201: {
            "description": "the gift, spent from me and credited to the recipient; a retry "
            "with the same Idempotency-Key answers it again"
        },
        **problem_responses(401, 404, 409, 422),
    },
)
async def give_gift(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: Settings,
    body: GiftCreate,
    idempotency_key: IdempotencyKey = None,
) -> GiftPublic:
    """Give some of my spendable points to another member (never to myself: 422).

    409 ``gift-limit`` past the daily limit (UTC day), ``not-enough-points`` when short."""
    return await gifts.give(
        session=session,
        sender_id=principal.user_id,
        data=body,
        daily_limit=settings.gift_daily_limit,
        now=datetime.now(UTC),
        idempotency_key=idempotency_key,
    )


@mall_router.get(
    "/v1/me/gifts",
    operation_id="gifts.listMine",
    response_model=CursorPage[GiftPublic],
    responses=problem_responses(401, 422),
)
async def my_gifts(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[GiftPublic]:
    """The gifts I sent and received, newest first."""
    items, next_cursor = await gifts.gifts(session=session, user_id=principal.user_id, page=page)
    return CursorPage[GiftPublic](items=items, next_cursor=next_cursor)


@mall_router.post(
    "/v1/mall/items",
    operation_id="mall.createItem",
    status_code=201,
    response_model=MallItemPublic,
    responses={**created_response("the item"), **problem_responses(401, 403, 422)},
)
async def create_item(
    session: SessionDep, staff: Staff, body: MallItemCreate, response: Response
) -> MallItemPublic:
    item = await mall.create_item(
        session=session, data=body, principal=staff, now=datetime.now(UTC)
    )
    response.headers["Location"] = f"/v1/mall/items/{item.id}"
    return MallItemPublic.model_validate(item)


@mall_router.patch(
    "/v1/mall/items/{item_id}",
    operation_id="mall.updateItem",
    response_model=MallItemPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_item(
    session: SessionDep, staff: Staff, item_id: uuid.UUID, body: MallItemUpdate
) -> MallItemPublic:
    """Change stock, price, limits or the sale period (``null`` clears an optional one)."""
    item = await mall.update_item(
        session=session, item_id=item_id, data=body, principal=staff, now=datetime.now(UTC)
    )
    return MallItemPublic.model_validate(item)


@mall_router.get(
    "/v1/mall/items",
    operation_id="mall.listItems",
    response_model=CursorPage[MallItemPublic],
    responses=problem_responses(422),
)
async def list_items(session: SessionDep, page: PageDep) -> CursorPage[MallItemPublic]:
    """Items on sale now, latest launched first."""
    found, next_cursor = await mall.items_on_sale(session=session, page=page, now=datetime.now(UTC))
    items = [MallItemPublic.model_validate(item) for item in found]
    return CursorPage[MallItemPublic](items=items, next_cursor=next_cursor)


@mall_router.get(
    "/v1/mall/items/{item_id}",
    operation_id="mall.readItem",
    response_model=MallItemPublic,
    responses=problem_responses(404, 422),
)
async def get_item(session: SessionDep, item_id: uuid.UUID) -> MallItemPublic:
    """An item, on sale or not (upcoming: its ``starts_at`` counts down)."""
    item = await mall.get_item(session=session, item_id=item_id)
    return MallItemPublic.model_validate(item)


@mall_router.post(
    "/v1/mall/orders",
    operation_id="mall.createOrder",
    status_code=201,
    response_model=OrderPublic,
    responses={
        **created_response("the order, paid"),
        200: {
            "model": OrderPublic,
            "description": "a retry with the same Idempotency-Key: the first order",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def place_order(
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    body: OrderCreate,
    idempotency_key: RequiredIdempotencyKey,
) -> OrderPublic:
    """Order an item, paid in points; the ``Idempotency-Key`` is required.

    409: ``item-not-on-sale``, ``order-limit`` (per member), ``sold-out``,
    ``not-enough-points``; 403 ``tier-too-low``; 422 for a key used for another order."""
    order, created = await mall.place_order(
        session=session,
        principal=principal,
        data=body,
        idempotency_key=idempotency_key,
        now=datetime.now(UTC),
    )
    if created:
        response.headers["Location"] = f"/v1/mall/orders/{order.id}"
    else:
        response.status_code = status.HTTP_200_OK
    return OrderPublic.model_validate(order)


@mall_router.get(
    "/v1/mall/orders/{order_id}",
    operation_id="mall.readOrder",
    response_model=OrderPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_order(
    session: SessionDep, principal: CurrentPrincipal, order_id: uuid.UUID
) -> OrderPublic:
    """An order: its owner's, or any for staff."""
    order = await mall.get_order(session=session, order_id=order_id, principal=principal)
    return OrderPublic.model_validate(order)


@mall_router.post(
    "/v1/mall/orders/{order_id}/cancel",
    operation_id="mall.cancelOrder",
    response_model=OrderPublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def cancel_order(
    session: SessionDep, principal: CurrentPrincipal, order_id: uuid.UUID, body: CancelRequest
) -> OrderPublic:
    """Cancel an order (its owner, or staff): points refunded, stock returned; once (409)."""
    order = await mall.cancel_order(
        session=session,
        order_id=order_id,
        principal=principal,
        reason=body.reason,
        now=datetime.now(UTC),
    )
    return OrderPublic.model_validate(order)


@mall_router.get(
    "/v1/me/orders",
    operation_id="mall.listMyOrders",
    response_model=CursorPage[OrderPublic],
    responses=problem_responses(401, 422),
)
async def my_orders(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[OrderPublic]:
    """My mall orders, newest first."""
    found, next_cursor = await mall.my_orders(session=session, user_id=principal.user_id, page=page)
    items = [OrderPublic.model_validate(order) for order in found]
    return CursorPage[OrderPublic](items=items, next_cursor=next_cursor)


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


City = Annotated[str | None, Query(max_length=CITY_MAX, pattern=r"^[^\x00-\x1f\x7f]*$")]
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
                user_id=placing.user_id,
                display_name=placing.display_name,
                city=placing.city,
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
    settings: Settings,
    board: BoardKind = BoardKind.VALUE,
    period: Period = Period.YEAR,
    city: City = None,
) -> MyRankPublic:
    """Where I stand on a board (ties go by user id); null when I have no score there.
    Exact within the first 10,000 (``REWARDS_RANK_EXACT_LIMIT``), estimated from the last
    jobs run's snapshot of the board further down."""
    of = leaderboards.board(board, period, now=datetime.now(UTC))
    placed = await leaderboards.rank_of(
        session=session,
        of=of,
        city=city,
        user_id=principal.user_id,
        exact_limit=settings.rank_exact_limit,
    )
    return MyRankPublic(
        board=board,
        period=period,
        city=city,
        rank=placed.rank,
        exact=placed.exact,
        score=placed.score,
    )


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
