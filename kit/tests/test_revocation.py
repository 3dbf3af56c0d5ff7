"""The revocation view: identity's events on a real broker make the verifier refuse tokens
issued before them, on a running view within a bounded time and on a starting one before
``start()`` returns; old entries are forgotten; an unreachable broker is degraded."""

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalog import Payload
from contracts.identity import SessionsRevoked, UserDeleted, UserRegistered, UserRoleChanged
from devstack import LOCALHOST, free_port
from kit.auth import MAX_TOKEN_LIFETIME_SECONDS, Principal, TokenVerifier
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, idempotent_producer
from kit.problems import Unauthorized
from kit.revocation import RevocationView, attach_revocation_view
from kit.testing.clock import FakeClock
from kit.testing.tokens import TokenMinter
from kit.testing.waiting import eventually


@pytest.fixture
def topic() -> str:
    return f"test.identity.users.{uuid.uuid4().hex[:10]}"


async def publish(bootstrap: str, topic: str, *payloads: Payload) -> None:
    producer = idempotent_producer(KafkaConnection(bootstrap), client_id="revocation-test")
    await producer.start()
    try:
        for payload in payloads:
            envelope = Envelope(
                type=payload.event_type,
                source="identity",
                subject=payload.subject(),
                data=payload.model_dump(mode="json"),
            )
            key, value, headers = envelope.to_record()
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture
async def view(kafka_bootstrap: str, topic: str) -> AsyncIterator[RevocationView]:
    await publish(kafka_bootstrap, topic, registered(uuid.uuid4()))  # the topic exists
    running = RevocationView(KafkaConnection(kafka_bootstrap), service="test", topic=topic)
    await running.start()
    yield running
    await running.stop()


def registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(user_id=user_id, display_name="Ann", registered_at=datetime.now(UTC))


def principal(
    user_id: uuid.UUID, *, issued_at: float, session_id: uuid.UUID | None = None
) -> Principal:
    return Principal(
        user_id=user_id, roles=frozenset({"fan"}), session_id=session_id, issued_at=issued_at
    )


async def test_a_running_view_refuses_tokens_issued_before_each_kind_of_revocation(
    view: RevocationView, kafka_bootstrap: str, topic: str
) -> None:
    deleted, demoted, logged_out, everywhere = (uuid.uuid4() for _ in range(4))
    session, other_session = uuid.uuid4(), uuid.uuid4()
    before = time.time() - 1
    await publish(
        kafka_bootstrap,
        topic,
        UserDeleted(user_id=deleted, deleted_at=datetime.now(UTC)),
        UserRoleChanged(
            user_id=demoted,
            roles=["fan"],
            granted=[],
            revoked=["staff"],
            changed_at=datetime.now(UTC),
        ),
        SessionsRevoked(
            user_id=logged_out,
            session_ids=[session],
            revoked_at=datetime.now(UTC),
            reason="logout",
        ),
        SessionsRevoked(
            user_id=everywhere, session_ids=[], revoked_at=datetime.now(UTC), reason="admin"
        ),
    )
    refused = [
        principal(deleted, issued_at=before),
        principal(demoted, issued_at=before),
        principal(logged_out, issued_at=before, session_id=session),
        principal(everywhere, issued_at=before, session_id=other_session),
    ]
    await eventually(
        lambda: all(view.refuses(p) for p in refused),
        timeout=10,
        message=lambda: f"not every revocation arrived: {view.users} {view.sessions}",
    )
    after = time.time() + 1
    assert view.refuses(principal(demoted, issued_at=after)) is None, "a fresh token passes"
    assert view.refuses(principal(logged_out, issued_at=before, session_id=other_session)) is None
    assert view.refuses(principal(uuid.uuid4(), issued_at=before)) is None
    await view.check()


async def test_a_role_grant_does_not_refuse_the_old_token(
    view: RevocationView, kafka_bootstrap: str, topic: str
) -> None:
    granted, marker = uuid.uuid4(), uuid.uuid4()
    before = time.time() - 1
    await publish(
        kafka_bootstrap,
        topic,
        UserRoleChanged(user_id=granted, roles=["fan", "staff"], granted=["staff"], revoked=[]),
        UserDeleted(user_id=marker, deleted_at=datetime.now(UTC)),  # read after the grant
    )
    await eventually(lambda: view.refuses(principal(marker, issued_at=before)), timeout=10)
    assert view.refuses(principal(granted, issued_at=before)) is None


async def test_a_starting_view_has_read_the_revocations_before_start_returns(
    kafka_bootstrap: str, topic: str
) -> None:
    users = [uuid.uuid4() for _ in range(20)]
    before = time.time() - 1
    await publish(
        kafka_bootstrap,
        topic,
        *(UserDeleted(user_id=user, deleted_at=datetime.now(UTC)) for user in users),
    )
    view = RevocationView(KafkaConnection(kafka_bootstrap), service="test", topic=topic)
    await view.start()
    try:
        assert all(view.refuses(principal(user, issued_at=before)) for user in users)
        await view.check()
    finally:
        await view.stop()


async def test_a_view_starting_before_the_topic_exists_picks_it_up(
    kafka_bootstrap: str, topic: str
) -> None:
    view = RevocationView(KafkaConnection(kafka_bootstrap), service="test", topic=topic)
    await view.start()
    try:
        user, before = uuid.uuid4(), time.time() - 1
        await publish(
            kafka_bootstrap, topic, UserDeleted(user_id=user, deleted_at=datetime.now(UTC))
        )
        await eventually(lambda: view.refuses(principal(user, issued_at=before)), timeout=15)
    finally:
        await view.stop()


async def test_the_verifier_rechecks_a_cached_token_on_every_request(
    view: RevocationView, kafka_bootstrap: str, topic: str, minter: TokenMinter
) -> None:
    verifier = minter.verifier()
    verifier.revocations = view
    user, session = uuid.uuid4(), uuid.uuid4()
    token = minter.token(user, sid=str(session), iat=time.time() - 1)
    assert (await verifier.verify(token)).session_id == session  # now cached
    await publish(
        kafka_bootstrap,
        topic,
        SessionsRevoked(
            user_id=user,
            session_ids=[session],
            revoked_at=datetime.now(UTC),
            reason="refresh_reused",
        ),
    )

    async def refused() -> bool:
        try:
            await verifier.verify(token)
        except Unauthorized as exc:
            return exc.code == "token-revoked"
        return False

    await eventually(refused, timeout=10, message="the cached token was never refused")


def test_revocations_older_than_the_longest_token_lifetime_are_forgotten() -> None:
    clock = FakeClock()
    view = RevocationView(KafkaConnection("unused:9092"), service="test", clock=clock)
    user, session = uuid.uuid4(), uuid.uuid4()
    for payload in (
        UserDeleted(user_id=user, deleted_at=clock.now()),
        SessionsRevoked(user_id=user, session_ids=[session], revoked_at=clock.now(), reason="x"),
    ):
        view.apply(
            Envelope(
                type=payload.event_type,
                source="identity",
                subject=str(user),
                data=payload.model_dump(mode="json"),
            )
        )
    clock.advance(MAX_TOKEN_LIFETIME_SECONDS)
    view.prune()
    assert user in view.users, "a token issued just before could still be valid"
    assert session in view.sessions
    clock.advance(120)
    view.prune()
    assert view.users == {}
    assert view.sessions == {}


async def test_an_unreachable_broker_is_degraded_after_a_bounded_wait() -> None:
    view = RevocationView(
        KafkaConnection(f"{LOCALHOST}:{free_port()}"), service="test", catch_up_timeout=1.0
    )
    started = time.monotonic()
    await view.start()
    try:
        assert time.monotonic() - started < 5
        with pytest.raises(Exception, match=r"."):
            await view.check()
    finally:
        await view.stop()


def test_attach_shares_the_verifiers_clock_and_cap(minter: TokenMinter) -> None:
    clock = FakeClock()
    verifier: TokenVerifier = minter.with_clock(clock).verifier()
    verifier.max_token_lifetime = 300
    view = attach_revocation_view(verifier, kafka=KafkaConnection("unused:9092"), service="test")
    assert verifier.revocations is view
    assert view.clock is clock
    assert view.max_token_lifetime == 300


async def test_the_verifier_caps_the_token_lifetime(minter: TokenMinter) -> None:
    verifier = minter.verifier()
    await verifier.verify(minter.token(ttl=int(MAX_TOKEN_LIFETIME_SECONDS)))
    with pytest.raises(Unauthorized, match="lifetime"):
        await verifier.verify(minter.token(ttl=int(MAX_TOKEN_LIFETIME_SECONDS) + 1))
    now = time.time()
    assert (await verifier.verify(minter.token(iat=now - 0.5))).issued_at == now - 0.5
    assert timedelta(seconds=MAX_TOKEN_LIFETIME_SECONDS) > timedelta(minutes=15)
