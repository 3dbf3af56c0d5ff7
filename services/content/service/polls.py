"""Polls: staff ask, members vote, counts stay equal to the ballots; weighted final rounds.

One ballot per user and poll (``poll_ballots`` unique on ``(poll_id, user_id)``). Voting
again replaces the earlier choice: the old options lose the ballot and the new ones gain
it in the same transaction. A vote first upserts its ballot row and holds its lock, so a
user racing themselves is serialized; it then moves the option rows in sorted id order
and the poll's ``voter_count`` last, the one lock order every vote, withdrawal and charge
settlement follows, so concurrent voters never deadlock. Only ``counted`` ballots are in
the counts: ``vote_count``, ``weight_total`` and ``voter_count`` always equal them.

Weighted rounds (owners choose the festival's host city): staff turn a closed poll into
a ``shortlist`` and create a ``final`` poll from its top options. A vote of weight ``w > 1``
in a poll with ``points_per_weight > 0`` costs ``(w - 1) * points_per_weight`` points:

1. content stores the ballot ``pending_charge``, uncounted, and publishes
   ``content.poll.vote_charge_requested.v1`` (``ballot_id``, ``points``);
2. rewards charges the points and answers ``rewards.poll_charge.settled.v1``
   (:func:`settle_charge`, through the ``rewards-charges`` consumer): ``charged=true``
   counts the ballot (even if the poll closed meanwhile: it was cast in time),
   ``charged=false`` marks it ``refused``; only a pending ballot moves, so a redelivered
   answer changes nothing.

Until the answer arrives the voter cannot change or withdraw that ballot (409
``charge-pending``). A shortlist's leaders are taken when its final round is created; a
weighted ballot of the shortlist settled later still counts in its results, not in that
choice. Rewards completes the hook: it consumes the request and publishes the
answer; until it does, weighted votes with a price stay pending.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from contracts.content import PollVoteCast, PollVoteChargeRequested
from contracts.rewards import PollChargeSettled
from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import Conflict, Forbidden, NotFound, Problem
from services.content.models import (
    BallotStatus,
    Member,
    Poll,
    PollAudience,
    PollBallot,
    PollKind,
    PollOption,
    PollRound,
)
from services.content.schemas import FinalRoundCreate, PollCreate, PollSchedule, PollState, PollVote

OWNER_ROLES = ("owner", "volunteer")
"""Who votes in an owners' poll: owners, and volunteers (owners who organise)."""
NEWEST = Keyset(Order(col(Poll.created_at), descending=True), Order(col(Poll.id), descending=True))
LOCK_ATTEMPTS = 3


@dataclass(frozen=True)
class PollView:
    """A poll as one viewer sees it: its options in order and the viewer's ballot."""

    poll: Poll
    options: list[PollOption]
    ballot: PollBallot | None
    state: PollState
    winner_ids: list[uuid.UUID] | None


@dataclass(frozen=True)
class Choice:
    """What a ballot says: its options (sorted), its weight and whether it counts."""

    option_ids: list[uuid.UUID]
    weight: int
    status: BallotStatus

    @classmethod
    def of(cls, ballot: PollBallot) -> "Choice":
        option_ids = sorted(uuid.UUID(str(option_id)) for option_id in ballot.option_ids)
        return cls(option_ids=option_ids, weight=ballot.weight, status=BallotStatus(ballot.status))

    def tally(self) -> tuple[list[uuid.UUID], int] | None:
        """What it adds to the counts: its options and weight when counted, else nothing."""
        return (self.option_ids, self.weight) if self.status == BallotStatus.COUNTED else None


def state_of(poll: Poll, now: datetime) -> PollState:
    if now < poll.opens_at:
        return PollState.UPCOMING
    if now < poll.closes_at:
        return PollState.OPEN
    return PollState.CLOSED


def winners(options: Sequence[PollOption]) -> list[uuid.UUID]:
    """The options carrying the most weight (all of them on a tie; none without votes)."""
    most = max((option.weight_total for option in options), default=0)
    return [option.id for option in options if most > 0 and option.weight_total == most]


def _future(data: PollSchedule, now: datetime) -> None:
    if data.closes_at <= now:
        raise Problem("closes_at must be in the future", status=422, code="closes-in-past")


async def create_poll(*, session: AsyncSession, data: PollCreate, principal: Principal) -> Poll:
    _future(data, utcnow())
    poll = Poll(
        question=data.question,
        kind=data.kind,
        audience=data.audience,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        max_weight=data.max_weight,
        points_per_weight=data.points_per_weight,
        created_by=principal.user_id,
    )
    session.add(poll)
    session.add_all(
        PollOption(poll_id=poll.id, position=position, label=label.strip())
        for position, label in enumerate(data.options)
    )
    await session.flush()
    return poll


async def final_round(
    *, session: AsyncSession, poll_id: uuid.UUID, data: FinalRoundCreate, principal: Principal
) -> Poll:
    """A ``final`` poll of the ``top`` options of a closed poll, which becomes its shortlist
    (ranked by weight, then votes, then their order; a tie at the cut goes by that order)."""
    now = utcnow()
    _future(data, now)
    source = await session.get(Poll, poll_id, with_for_update=True)
    if source is None:
        raise NotFound("no such poll")
    if state_of(source, now) != PollState.CLOSED:
        raise Conflict("a final round follows a closed poll", code="poll-not-closed")
    if source.round == PollRound.SHORTLIST:
        raise Conflict("this poll has its final round already", code="final-round-exists")
    if source.round == PollRound.FINAL:
        raise Conflict("a final round has no final round of its own", code="already-final")
    leaders = await session.scalars(
        select(PollOption)
        .where(col(PollOption.poll_id) == poll_id)
        .order_by(
            col(PollOption.weight_total).desc(),
            col(PollOption.vote_count).desc(),
            col(PollOption.position),
        )
        .limit(data.top)
    )
    source.round = PollRound.SHORTLIST
    final = Poll(
        question=source.question,
        kind=PollKind.SINGLE,
        audience=source.audience,
        round=PollRound.FINAL,
        shortlist_of=source.id,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        max_weight=data.max_weight,
        points_per_weight=data.points_per_weight,
        created_by=principal.user_id,
    )
    session.add(final)
    session.add_all(
        PollOption(poll_id=final.id, position=position, label=option.label)
        for position, option in enumerate(leaders.all())
    )
    await session.flush()
    return final


async def get_poll(*, session: AsyncSession, poll_id: uuid.UUID) -> Poll:
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise NotFound("no such poll")
    return poll


async def list_polls(*, session: AsyncSession, page: PageParams) -> tuple[list[Poll], str | None]:
    """Polls, newest first."""
    rows = (await session.scalars(NEWEST.paged(select(Poll), page))).all()
    return NEWEST.page(rows, page, lambda poll: (poll.created_at, poll.id))


async def views(
    *, session: AsyncSession, polls: Sequence[Poll], principal: Principal | None
) -> list[PollView]:
    """``polls`` with their options and ``principal``'s ballots, in two queries."""
    ids = [poll.id for poll in polls]
    options: dict[uuid.UUID, list[PollOption]] = defaultdict(list)
    found = await session.scalars(
        select(PollOption)
        .where(col(PollOption.poll_id).in_(ids))
        .order_by(col(PollOption.poll_id), col(PollOption.position))
        .execution_options(populate_existing=True)
    )
    for option in found.all():
        options[option.poll_id].append(option)
    ballots: dict[uuid.UUID, PollBallot] = {}
    if principal is not None and ids:
        mine = await session.scalars(
            select(PollBallot).where(
                col(PollBallot.poll_id).in_(ids), col(PollBallot.user_id) == principal.user_id
            )
        )
        ballots = {ballot.poll_id: ballot for ballot in mine.all()}
    now = utcnow()
    result = []
    for poll in polls:
        state = state_of(poll, now)
        result.append(
            PollView(
                poll=poll,
                options=options[poll.id],
                ballot=ballots.get(poll.id),
                state=state,
                winner_ids=winners(options[poll.id]) if state == PollState.CLOSED else None,
            )
        )
    return result


async def vote(
    *, session: AsyncSession, poll_id: uuid.UUID, data: PollVote, principal: Principal
) -> PollView:
    """Cast or replace ``principal``'s ballot (see the module docstring): the poll after it.

    The counts' rows are the hot ones: they are written last, each returning its new
    counts, and nothing is read after them, so their locks last only until the commit."""
    poll = await _open_poll(session, poll_id)
    if poll.audience == PollAudience.OWNERS and not await _is_owner(session, principal):
        raise Forbidden("only owners vote in this poll", code="owners-only")
    options = await _options(session, poll.id)
    pending = data.weight > 1 and poll.points_per_weight > 0
    choice = Choice(
        option_ids=_valid_choice(poll, options, data),
        weight=data.weight,
        status=BallotStatus.PENDING_CHARGE if pending else BallotStatus.COUNTED,
    )
    ballot, earlier = await _claim_ballot(session, poll.id, principal.user_id, choice)
    view = PollView(
        poll=poll, options=options, ballot=ballot, state=PollState.OPEN, winner_ids=None
    )
    if earlier == choice:
        return view
    await _recount(
        session, poll, options, taken=earlier.tally() if earlier else None, given=choice.tally()
    )
    if pending:
        publish(
            session,
            PollVoteChargeRequested(
                poll_id=poll.id,
                ballot_id=ballot.id,
                user_id=principal.user_id,
                weight=choice.weight,
                points=(choice.weight - 1) * poll.points_per_weight,
            ),
            actor=principal.user_id,
        )
    else:
        publish(
            session,
            PollVoteCast(
                poll_id=poll.id,
                user_id=principal.user_id,
                option_ids=choice.option_ids,
                weight=choice.weight,
            ),
            actor=principal.user_id,
        )
    return view


async def withdraw(*, session: AsyncSession, poll_id: uuid.UUID, principal: Principal) -> None:
    """Take ``principal``'s ballot back while the poll is open (nothing to take: a no-op)."""
    poll = await _open_poll(session, poll_id)
    ballot = await _locked_ballot(session, poll.id, principal.user_id)
    if ballot is None:
        return
    if ballot.status == BallotStatus.PENDING_CHARGE:
        raise Conflict("this ballot waits for its points to be charged", code="charge-pending")
    await session.delete(ballot)
    await session.flush()
    await _recount(session, poll, [], taken=Choice.of(ballot).tally(), given=None)


async def settle_charge(*, session: AsyncSession, payload: PollChargeSettled) -> None:
    """Rewards' answer to a weighted vote: count it (charged) or refuse it; only a pending
    ballot moves, so a second delivery changes nothing."""
    ballot = await session.scalar(
        select(PollBallot)
        .where(
            col(PollBallot.id) == payload.ballot_id,
            col(PollBallot.poll_id) == payload.poll_id,
            col(PollBallot.user_id) == payload.user_id,
            col(PollBallot.status) == BallotStatus.PENDING_CHARGE,
        )
        .with_for_update()
    )
    if ballot is None:
        return
    ballot.updated_at = utcnow()
    if not payload.charged:
        ballot.status = BallotStatus.REFUSED
        await session.flush()
        return
    ballot.status = BallotStatus.COUNTED
    await session.flush()
    counted = Choice.of(ballot)
    poll = await get_poll(session=session, poll_id=ballot.poll_id)
    await _recount(session, poll, [], taken=None, given=counted.tally())
    publish(
        session,
        PollVoteCast(
            poll_id=ballot.poll_id,
            user_id=ballot.user_id,
            option_ids=counted.option_ids,
            weight=counted.weight,
        ),
        actor=ballot.user_id,
    )


async def _open_poll(session: AsyncSession, poll_id: uuid.UUID) -> Poll:
    poll = await get_poll(session=session, poll_id=poll_id)
    state = state_of(poll, utcnow())
    if state == PollState.UPCOMING:
        raise Conflict(
            "the poll is not open yet", code="poll-not-open", opens_at=str(poll.opens_at)
        )
    if state == PollState.CLOSED:
        raise Conflict("the poll is closed", code="poll-closed")
    return poll


async def _is_owner(session: AsyncSession, principal: Principal) -> bool:
    """An owner by the token's roles or by identity's latest announcement."""
    if principal.has_any(*OWNER_ROLES):
        return True
    member = await session.get(Member, principal.user_id)
    announced = {str(role) for role in (member.roles or [])} if member else set()
    return bool(announced & set(OWNER_ROLES))


async def _options(session: AsyncSession, poll_id: uuid.UUID) -> list[PollOption]:
    found = await session.scalars(
        select(PollOption)
        .where(col(PollOption.poll_id) == poll_id)
        .order_by(col(PollOption.position))
        .execution_options(populate_existing=True)
    )
    return list(found.all())


def _valid_choice(poll: Poll, options: Sequence[PollOption], data: PollVote) -> list[uuid.UUID]:
    """The chosen option ids, sorted; a 422 for a choice the poll does not take."""
    chosen = sorted(set(data.option_ids))
    if len(chosen) != len(data.option_ids):
        raise Problem("an option is chosen twice", status=422, code="duplicate-option")
    if poll.kind == PollKind.SINGLE and len(chosen) != 1:
        raise Problem("a single-choice poll takes one option", status=422, code="single-choice")
    if data.weight > poll.max_weight:
        raise Problem(
            f"a vote in this poll carries a weight of at most {poll.max_weight}",
            status=422,
            code="weight-too-high",
        )
    if not set(chosen) <= {option.id for option in options}:
        raise Problem("no such option in this poll", status=422, code="unknown-option")
    return chosen


async def _claim_ballot(
    session: AsyncSession, poll_id: uuid.UUID, user_id: uuid.UUID, choice: Choice
) -> tuple[PollBallot, Choice | None]:
    """Insert the caller's ballot with ``choice``, or lock the one they have and replace
    its choice: the ballot, and the choice it had (``None`` for a first vote). Either way
    its row stays locked until the transaction ends."""
    now = utcnow()
    option_ids = [str(option_id) for option_id in choice.option_ids]
    for _ in range(LOCK_ATTEMPTS):
        ballot = PollBallot(
            id=new_id(),
            poll_id=poll_id,
            user_id=user_id,
            option_ids=option_ids,
            weight=choice.weight,
            status=choice.status,
            created_at=now,
            updated_at=now,
        )
        inserted = await session.scalar(
            dialect_insert(session, PollBallot)
            .values(ballot.model_dump())
            .on_conflict_do_nothing(index_elements=["poll_id", "user_id"])
            .returning(col(PollBallot.id))
        )
        if inserted is not None:
            return ballot, None
        locked = await _locked_ballot(session, poll_id, user_id)
        if locked is None:
            continue  # withdrawn between the insert and the lock: insert again
        earlier = Choice.of(locked)
        if earlier.status == BallotStatus.PENDING_CHARGE:
            raise Conflict("this ballot waits for its points to be charged", code="charge-pending")
        if earlier != choice:
            locked.option_ids, locked.weight = option_ids, choice.weight
            locked.status, locked.updated_at = choice.status, now
            await session.flush()
        return locked, earlier
    raise Conflict("the ballot changed while voting: try again", code="ballot-busy")


async def _locked_ballot(
    session: AsyncSession, poll_id: uuid.UUID, user_id: uuid.UUID
) -> PollBallot | None:
    return await session.scalar(
        select(PollBallot)
        .where(col(PollBallot.poll_id) == poll_id, col(PollBallot.user_id) == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _recount(
    session: AsyncSession,
    poll: Poll,
    options: Sequence[PollOption],
    *,
    taken: tuple[list[uuid.UUID], int] | None,
    given: tuple[list[uuid.UUID], int] | None,
) -> None:
    """Move the counts from the ``taken`` ballot's options to the ``given`` one's: option
    rows in sorted id order, then the poll's voter count (the one lock order). ``poll`` and
    those of ``options`` that moved take the new counts."""
    deltas: dict[uuid.UUID, tuple[int, int]] = {}
    for tally, sign in ((taken, -1), (given, 1)):
        if tally is None:
            continue
        option_ids, weight = tally
        for option_id in option_ids:
            votes, total = deltas.get(option_id, (0, 0))
            deltas[option_id] = (votes + sign, total + sign * weight)
    by_id = {option.id: option for option in options}
    for option_id in sorted(deltas):
        votes, total = deltas[option_id]
        if not votes and not total:
            continue
        moved = await session.execute(
            update(PollOption)
            .where(col(PollOption.id) == option_id)
            .values(
                vote_count=col(PollOption.vote_count) + votes,
                weight_total=col(PollOption.weight_total) + total,
            )
            .returning(col(PollOption.vote_count), col(PollOption.weight_total))
            .execution_options(synchronize_session=False)
        )
        vote_count, weight_total = moved.one()
        if option_id in by_id:
            set_committed_value(by_id[option_id], "vote_count", vote_count)
            set_committed_value(by_id[option_id], "weight_total", weight_total)
    voters = (given is not None) - (taken is not None)
    if voters:
        voter_count = await session.scalar(
            update(Poll)
            .where(col(Poll.id) == poll.id)
            .values(voter_count=col(Poll.voter_count) + voters)
            .returning(col(Poll.voter_count))
            .execution_options(synchronize_session=False)
        )
        set_committed_value(poll, "voter_count", voter_count)
