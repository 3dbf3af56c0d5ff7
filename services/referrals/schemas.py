"""Referrals' API models: ``*Create`` request bodies refuse unknown fields; what a referrer
sees of a lead is its stage and reward and the referee's public name (never the phone);
staff see the lead's contact details until they are erased."""

import enum
import uuid
from datetime import datetime

from pydantic import Field

from kit.api.schemas import TRIMMED_LINE, PublicModel, StrictBody
from kit.api.times import IsoDateTime
from services.referrals.models import (
    CITY_MAX,
    CODE_LENGTH,
    NAME_MAX,
    REASON_MAX,
    BlockKind,
    RewardState,
    Source,
    Stage,
)
from services.referrals.service.phones import PHONE_INPUT_MAX

CODE_PATTERN = r"^[A-Za-z0-9]+$"
CodeText = Field(
    min_length=CODE_LENGTH,
    max_length=CODE_LENGTH,
    pattern=CODE_PATTERN,
    examples=["K7M3QX9P"],
    description="a referral code (any case)",
)


class Step(enum.StrEnum):
    """The steps staff (or a partner) can record after the lead."""

    TEST_DRIVE_BOOKED = Stage.TEST_DRIVE_BOOKED
    TEST_DRIVE_DONE = Stage.TEST_DRIVE_DONE
    ORDER_PLACED = Stage.ORDER_PLACED
    ORDER_CANCELLED = Stage.ORDER_CANCELLED
    DELIVERED = Stage.DELIVERED
    REFUNDED = Stage.REFUNDED


class ReferralCodePublic(PublicModel):
    code: str
    link: str = Field(description="the share link: opening it fills in the code")


class CodeOwnerPublic(PublicModel):
    code: str
    referrer_name: str | None = Field(description="the referrer's public name")


class ReferralSummaryPublic(ReferralCodePublic):
    leads: int = Field(ge=0)
    test_drives: int = Field(ge=0)
    orders: int = Field(ge=0)
    deliveries: int = Field(ge=0)
    pending: int = Field(ge=0, description="delivered, rewards held until the refund window ends")
    approved: int = Field(ge=0, description="rewarded")


class MyReferralPublic(PublicModel):
    """One of my referrals: how far the referee got and where its reward stands (the
    points it earned are in rewards' ledger under the reference ``referral``, this id)."""

    id: uuid.UUID
    source: Source
    stage: Stage
    reward_state: RewardState
    under_review: bool
    referee_name: str | None
    created_at: datetime
    test_drive_done_at: datetime | None
    order_placed_at: datetime | None
    delivered_at: datetime | None
    approves_at: datetime | None


class MyReferrerPublic(PublicModel):
    referral_id: uuid.UUID
    code: str
    referrer_name: str | None
    source: Source
    created_at: datetime


class ReferrerClaim(StrictBody):
    code: str = CodeText


class LeadCreate(StrictBody):
    """The share form: the prospect's details, their consent to be contacted, and whether
    they want a test drive."""

    code: str = CodeText
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=TRIMMED_LINE)
    phone: str = Field(min_length=3, max_length=PHONE_INPUT_MAX, examples=["+86 138 0013 8000"])
    city: str | None = Field(default=None, min_length=1, max_length=CITY_MAX, pattern=TRIMMED_LINE)
    consent: bool = Field(description="must be true: the prospect agrees to be contacted")
    test_drive_requested: bool = False


class LeadPublic(PublicModel):
    """What the prospect gets back: the lead's id (to show at the dealer) and who referred
    them."""

    id: uuid.UUID
    referrer_name: str | None
    test_drive_requested: bool
    created_at: datetime


class ReferralPublic(PublicModel):
    """A referral as staff review it."""

    id: uuid.UUID
    referrer_id: uuid.UUID
    referee_user_id: uuid.UUID | None
    source: Source
    stage: Stage
    announced: bool = Field(description="false while a fraud check holds the lead for staff")
    review_open: bool
    review_reasons: list[str]
    name: str | None
    phone: str | None = Field(description="E.164; null once erased or for an account lead")
    city: str | None
    test_drive_requested: bool
    erased_at: datetime | None
    created_at: datetime
    test_drive_booked_at: datetime | None
    test_drive_done_at: datetime | None
    order_placed_at: datetime | None
    order_cancelled_at: datetime | None
    delivered_at: datetime | None
    refunded_at: datetime | None
    reward_state: RewardState
    approves_at: datetime | None
    decided_at: datetime | None
    decided_by: uuid.UUID | None
    decision_reason: str | None


class StepRecord(StrictBody):
    stage: Step
    occurred_at: IsoDateTime | None = Field(
        default=None, description="when it happened; now when left out"
    )
    reason: str | None = Field(
        default=None, min_length=1, max_length=REASON_MAX, pattern=TRIMMED_LINE
    )


class Decision(StrictBody):
    reason: str = Field(min_length=1, max_length=REASON_MAX, pattern=TRIMMED_LINE)


class BlockCreate(StrictBody):
    kind: BlockKind
    value: str = Field(
        min_length=1,
        max_length=PHONE_INPUT_MAX + 4,
        description="a phone number (kind phone) or a referrer's account id (kind referrer)",
    )
    reason: str = Field(min_length=1, max_length=REASON_MAX, pattern=TRIMMED_LINE)


class BlockedEntryPublic(PublicModel):
    id: uuid.UUID
    kind: BlockKind
    label: str = Field(description="the referrer's id, or the phone with its middle masked")
    reason: str
    created_by: uuid.UUID
    created_at: datetime
