"""Referrals' HTTP API: my code, my referrals and my referrer; resolving a code and the
share form (no token needed); staff's review, steps, decisions, blocklist and erasure.

Authorization is per object: a member reads only their own referrals and referrer (the
referrer sees a referee's public name and stage, never a phone); everything about
someone else's referral is staff's. Staff actions are audited (:mod:`kit.audit`).
"""

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from kit.api.devices import device_hash, device_id_header
from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.app import app_state
from kit.audit import record_action
from kit.auth import CurrentPrincipal, OptionalPrincipal, Principal
from kit.db import SessionDep, utcnow
from kit.problems import NotFound, problem_responses
from services.referrals.auth import Staff
from services.referrals.config import ReferralsSettings
from services.referrals.models import BlockKind, Member, Referral, RewardState, Source, Stage
from services.referrals.schemas import (
    BlockCreate,
    BlockedEntryPublic,
    CodeOwnerPublic,
    Decision,
    LeadCreate,
    LeadPublic,
    MyReferralPublic,
    MyReferrerPublic,
    ReferralCodePublic,
    ReferralPublic,
    ReferralSummaryPublic,
    ReferrerClaim,
    StepRecord,
)
from services.referrals.service import blocklist, funnel, leads, listings, members, privacy
from services.referrals.service.leads import ShareForm
from services.referrals.service.phones import PhoneBook

me_router = APIRouter(prefix="/v1/me", tags=["referrals"])
code_router = APIRouter(prefix="/v1/referral-codes", tags=["referrals"])
referral_router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
staff_router = APIRouter(prefix="/v1/referrals", tags=["referrals (staff)"])
blocklist_router = APIRouter(prefix="/v1/referral-blocklist", tags=["referrals (staff)"])

Settings = Annotated[ReferralsSettings, app_state("settings")]
Phones = Annotated[PhoneBook, app_state("phone_book")]
DeviceId = Annotated[
    str | None,
    device_id_header(
        "The app's installation id: the same device as the referrer's is a self-referral."
    ),
]
CODE_PATH = r"^[A-Za-z0-9]{1,64}$"


class NoReferrer(NotFound):
    code = "no-referrer"

    def __init__(self) -> None:
        super().__init__("no one referred this account")


def code_public(member: Member, settings: ReferralsSettings) -> ReferralCodePublic:
    return ReferralCodePublic(code=member.code, link=f"{settings.link_base}{member.code}")


def my_referral_public(referral: Referral, referee_name: str | None) -> MyReferralPublic:
    return MyReferralPublic.model_validate(
        {
            **referral.model_dump(),
            "under_review": referral.review_open or not referral.announced,
            "referee_name": referee_name if referral.referee_user_id else referral.name,
        }
    )


# --- me ---------------------------------------------------------------------------------


@me_router.get(
    "/referral-code",
    operation_id="referrals.myCode",
    response_model=ReferralCodePublic,
    responses=problem_responses(401),
)
async def my_code(
    session: SessionDep, principal: CurrentPrincipal, settings: Settings
) -> ReferralCodePublic:
    """My referral code and share link (made on first use; it never changes)."""
    member = await members.ensure_member(session=session, user_id=principal.user_id)
    return code_public(member, settings)


@me_router.get(
    "/referrals/summary",
    operation_id="referrals.mySummary",
    response_model=ReferralSummaryPublic,
    responses=problem_responses(401),
)
async def my_summary(
    session: SessionDep, principal: CurrentPrincipal, settings: Settings
) -> ReferralSummaryPublic:
    """My code and how my referrals are doing: what the home screen shows."""
    member = await members.ensure_member(session=session, user_id=principal.user_id)
    counts = await listings.summary(session=session, referrer_id=principal.user_id)
    return ReferralSummaryPublic(**code_public(member, settings).model_dump(), **asdict(counts))


@me_router.get(
    "/referrals",
    operation_id="referrals.listMine",
    response_model=CursorPage[MyReferralPublic],
    responses=problem_responses(401, 422),
)
async def my_referrals(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[MyReferralPublic]:
    """My referrals, newest first: each one's stage and reward."""
    found, cursor = await listings.mine(session=session, referrer_id=principal.user_id, params=page)
    items = [my_referral_public(referral, name) for referral, name in found]
    return CursorPage[MyReferralPublic](items=items, next_cursor=cursor)


async def _referrer_public(session: SessionDep, referral: Referral) -> MyReferrerPublic:
    referrer = await members.ensure_member(session=session, user_id=referral.referrer_id)
    return MyReferrerPublic(
        referral_id=referral.id,
        code=referrer.code,
        referrer_name=referrer.display_name,
        source=Source(referral.source),
        created_at=referral.created_at,
    )


@me_router.get(
    "/referrer",
    operation_id="referrals.myReferrer",
    response_model=MyReferrerPublic,
    responses=problem_responses(401, 404),
)
async def my_referrer(session: SessionDep, principal: CurrentPrincipal) -> MyReferrerPublic:
    """Who referred me."""
    referral = await leads.referrer_of(session=session, user_id=principal.user_id)
    if referral is None:
        raise NoReferrer()
    return await _referrer_public(session, referral)


@me_router.put(
    "/referrer",
    operation_id="referrals.claimReferrer",
    response_model=MyReferrerPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def claim_referrer(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: ReferrerClaim,
    settings: Settings,
    device_id: DeviceId = None,
) -> MyReferrerPublic:
    """Name the member who referred me, by their code, within the attribution window after
    registering; the first referrer stays (409 ``already-attributed``)."""
    referral, _ = await leads.claim_referrer(
        session=session,
        user_id=principal.user_id,
        code=body.code,
        device=device_hash(device_id),
        settings=settings,
        now=utcnow(),
    )
    return await _referrer_public(session, referral)


# --- public -----------------------------------------------------------------------------


@code_router.get(
    "/{code}",
    operation_id="referrals.resolveCode",
    response_model=CodeOwnerPublic,
    responses=problem_responses(404, 422),
)
async def resolve_code(
    session: SessionDep, code: Annotated[str, Path(pattern=CODE_PATH)]
) -> CodeOwnerPublic:
    """Whose code this is (their public name only): what the share page shows."""
    member = await members.by_code(session=session, code=code)
    return CodeOwnerPublic(code=member.code, referrer_name=member.display_name)


@referral_router.post(
    "/leads",
    operation_id="leads.create",
    status_code=status.HTTP_201_CREATED,
    response_model=LeadPublic,
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def create_lead(
    session: SessionDep,
    body: LeadCreate,
    settings: Settings,
    phones: Phones,
    principal: OptionalPrincipal,
    device_id: DeviceId = None,
) -> LeadPublic:
    """The share form: a prospect leaves their details with a member's code. Refused, with
    nothing kept: without consent, an invalid phone, an unknown code, the referrer's own
    account or device, a phone that is already a lead (409), a blocked phone or referrer
    (403), or too many leads for the code just now (429 with ``Retry-After``)."""
    form = ShareForm(**body.model_dump())
    referral, referrer = await leads.from_share_form(
        session=session,
        form=form,
        caller=principal.user_id if principal else None,
        device=device_hash(device_id),
        phones=phones,
        settings=settings,
        now=utcnow(),
    )
    return LeadPublic(
        id=referral.id,
        referrer_name=referrer.display_name,
        test_drive_requested=referral.test_drive_requested,
        created_at=referral.created_at,
    )


# --- staff ------------------------------------------------------------------------------


@staff_router.get(
    "",
    operation_id="referrals.list",
    response_model=CursorPage[ReferralPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_referrals(
    session: SessionDep,
    staff: Staff,
    page: PageDep,
    review_open: bool | None = None,
    reward_state: RewardState | None = None,
    stage: Stage | None = None,
    referrer_id: uuid.UUID | None = None,
) -> CursorPage[ReferralPublic]:
    """Referrals, newest first; ``review_open=true`` is the review queue."""
    where = listings.StaffFilter(
        review_open=review_open, reward_state=reward_state, stage=stage, referrer_id=referrer_id
    )
    found, cursor = await listings.for_staff(session=session, where=where, params=page)
    items = [ReferralPublic.model_validate(referral) for referral in found]
    return CursorPage[ReferralPublic](items=items, next_cursor=cursor)


@blocklist_router.get(
    "",
    operation_id="blocklist.list",
    response_model=CursorPage[BlockedEntryPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_blocked(
    session: SessionDep, staff: Staff, page: PageDep, kind: BlockKind | None = None
) -> CursorPage[BlockedEntryPublic]:
    found, cursor = await blocklist.page(session=session, kind=kind, params=page)
    items = [BlockedEntryPublic.model_validate(entry) for entry in found]
    return CursorPage[BlockedEntryPublic](items=items, next_cursor=cursor)


@blocklist_router.post(
    "",
    operation_id="blocklist.add",
    status_code=status.HTTP_201_CREATED,
    response_model=BlockedEntryPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def block(
    session: SessionDep, staff: Staff, body: BlockCreate, phones: Phones
) -> BlockedEntryPublic:
    """Block a phone or a referrer: their new referrals are refused or held for review."""
    entry = await blocklist.add(
        session=session,
        kind=body.kind,
        value=body.value,
        reason=body.reason,
        by=staff.user_id,
        phones=phones,
    )
    return BlockedEntryPublic.model_validate(entry)


@blocklist_router.delete(
    "/{entry_id}",
    operation_id="blocklist.remove",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def unblock(session: SessionDep, staff: Staff, entry_id: uuid.UUID) -> Response:
    await blocklist.remove(session=session, entry_id=entry_id, by=staff.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@staff_router.get(
    "/{referral_id}",
    operation_id="referrals.read",
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404),
)
async def read_referral(
    session: SessionDep, staff: Staff, referral_id: uuid.UUID
) -> ReferralPublic:
    referral = await session.get(Referral, referral_id)
    if referral is None:
        raise funnel.ReferralNotFound()
    return ReferralPublic.model_validate(referral)


@staff_router.post(
    "/{referral_id}/stages",
    operation_id="referrals.recordStep",
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def record_step(
    session: SessionDep, staff: Staff, referral_id: uuid.UUID, body: StepRecord, settings: Settings
) -> ReferralPublic:
    """Record a step the sales system did not report; a step already recorded is a 409."""
    now = utcnow()
    occurred_at = min(body.occurred_at or now, now)
    referral = await funnel.locked(session=session, referral_id=referral_id)
    stage = Stage(body.stage)
    if not await funnel.advance(
        session=session,
        referral=referral,
        stage=stage,
        occurred_at=occurred_at,
        actor=staff.user_id,
        settings=settings,
    ):
        raise funnel.NothingToDecide(f"the referral already reached {stage}", code="step-recorded")
    record_action(
        session,
        actor=staff.user_id,
        action="referral.step_recorded",
        subject=referral.id,
        stage=stage,
        occurred_at=occurred_at,
        reason=body.reason,
    )
    return ReferralPublic.model_validate(referral)


async def _decide(
    session: SessionDep,
    staff: Principal,
    referral_id: uuid.UUID,
    body: Decision,
    decide: Callable[..., None],
    action: str,
) -> ReferralPublic:
    """Staff's decision on a referral, under its lock, audited with the checks' reasons."""
    referral = await funnel.locked(session=session, referral_id=referral_id)
    decide(session=session, referral=referral, by=staff.user_id, reason=body.reason, now=utcnow())
    record_action(
        session,
        actor=staff.user_id,
        action=action,
        subject=referral.id,
        reason=body.reason,
        review_reasons=referral.review_reasons,
    )
    return ReferralPublic.model_validate(referral)


@staff_router.post(
    "/{referral_id}/approve",
    operation_id="referrals.approve",
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def approve(
    session: SessionDep, staff: Staff, referral_id: uuid.UUID, body: Decision
) -> ReferralPublic:
    """Clear a referral: release a lead a check held, approve its pending reward now, close
    its review."""
    return await _decide(session, staff, referral_id, body, funnel.approve, "referral.approved")


@staff_router.post(
    "/{referral_id}/void",
    operation_id="referrals.void",
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def void(
    session: SessionDep, staff: Staff, referral_id: uuid.UUID, body: Decision
) -> ReferralPublic:
    """Void a referral: it earns nothing, and rewards takes back what it earned."""
    return await _decide(session, staff, referral_id, body, funnel.void, "referral.voided")


@staff_router.delete(
    "/leads/{referral_id}/personal-data",
    operation_id="leads.erasePersonalData",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def erase_lead(session: SessionDep, staff: Staff, referral_id: uuid.UUID) -> Response:
    """Erase a lead's name, phone and city (its steps and reward stay)."""
    await privacy.erase_lead(session=session, referral_id=referral_id, by=staff.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


ROUTERS = (me_router, code_router, referral_router, blocklist_router, staff_router)
