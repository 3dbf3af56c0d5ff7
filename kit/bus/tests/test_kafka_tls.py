"""Secured Kafka on a broker of this module's own: the outbox relay publishes over SASL_SSL
(SCRAM-SHA-512, as in deploy/k8s), a consumer reads over mutual TLS, and clients without
the right credentials, or that do not trust the broker, are refused."""

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devstack import DevstackError
from devstack.kafka import BrokerTls, KafkaBroker
from kit.bus.consumer import EventConsumer
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, idempotent_producer, stop_within
from kit.bus.outbox import publish
from kit.bus.relay import OutboxRelay
from kit.bus.tests.conftest import Pinged, count_effects, make_payload_type
from kit.db import Database
from kit.testing.tls import ThrowawayCA
from kit.testing.waiting import eventually

USER = "events"
PASSWORD = uuid.uuid4().hex


@dataclass(frozen=True)
class SecuredBroker:
    broker: KafkaBroker
    ca: ThrowawayCA

    def scram(self, *, password: str = PASSWORD) -> KafkaConnection:
        return KafkaConnection(
            self.broker.sasl_ssl_bootstrap_servers,
            security_protocol="SASL_SSL",
            username=USER,
            password=SecretStr(password),
            ca_file=self.ca.certificate,
        )

    def mutual_tls(self, *, client_certificate: bool = True) -> KafkaConnection:
        client = self.ca.issue(USER) if client_certificate else None
        return KafkaConnection(
            self.broker.mtls_bootstrap_servers,
            security_protocol="SSL",
            ca_file=self.ca.certificate,
            cert_file=client.certificate if client else None,
            key_file=client.key if client else None,
        )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A broker with both TLS listeners, its certificates from a throwaway CA."""
    ca = ThrowawayCA(tmp_path_factory.mktemp("pki"))
    server = ca.issue("broker", server=True)
    tls = BrokerTls(
        key=server.key,
        certificate=server.certificate,
        client_ca=ca.certificate,
        scram_users={USER: PASSWORD},
    )
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), tls=tls)
    try:
        try:
            broker.start()
            broker.wait_ready()
        except DevstackError as exc:
            pytest.fail(f"cannot start a Kafka broker with TLS: {exc}", pytrace=False)
        yield SecuredBroker(broker, ca)
    finally:
        broker.stop()


async def record_effect(session: AsyncSession, payload: Pinged, _: Envelope) -> None:
    await session.execute(
        text("INSERT INTO effects (ping_id, note) VALUES (:id, :note)"),
        {"id": payload.ping_id, "note": payload.note},
    )


async def test_the_relay_publishes_over_scram_and_a_consumer_reads_over_mutual_tls(
    secured: SecuredBroker, database: Database, topic_name: str
) -> None:
    model = make_payload_type(topic_name)
    relay = OutboxRelay(database=database, kafka=secured.scram(), service="test")
    consumer = EventConsumer(
        name=f"tls-{uuid.uuid4().hex[:6]}",
        service="test",
        database=database,
        kafka=secured.mutual_tls(),
        handlers={model: record_effect},
    )
    await relay.start()
    await consumer.start()
    try:
        async with database.transaction() as session:
            publish(session, model(ping_id=uuid.uuid4(), note="over tls"), actor=None)

        async def consumed() -> bool:
            return await count_effects(database) == 1

        await eventually(consumed, timeout=60, message="the event never came back over TLS")
        await relay.check()
        await consumer.check()
    finally:
        await consumer.stop()
        await relay.stop()


Refusal = Callable[[SecuredBroker, Path], KafkaConnection]


def _untrusting(secured: SecuredBroker) -> KafkaConnection:
    """SCRAM with the right password, but trusting only the system's CAs."""
    return KafkaConnection(
        secured.broker.sasl_ssl_bootstrap_servers,
        security_protocol="SASL_SSL",
        username=USER,
        password=SecretStr(PASSWORD),
    )


def _without_login(secured: SecuredBroker) -> KafkaConnection:
    """TLS to the SCRAM listener, but no login."""
    return KafkaConnection(
        secured.broker.sasl_ssl_bootstrap_servers,
        security_protocol="SSL",
        ca_file=secured.ca.certificate,
    )


def _unsigned_client(secured: SecuredBroker, tmp_path: Path) -> KafkaConnection:
    """A client certificate from another CA than the one the broker trusts."""
    stranger = ThrowawayCA(tmp_path / "stranger", name="stranger-ca").issue(USER)
    return KafkaConnection(
        secured.broker.mtls_bootstrap_servers,
        security_protocol="SSL",
        ca_file=secured.ca.certificate,
        cert_file=stranger.certificate,
        key_file=stranger.key,
    )


@pytest.mark.parametrize(
    ("refused", "reason"),
    [
        pytest.param(
            lambda s, _: s.scram(password="wrong-password"),
            "SaslAuthenticationFailed",
            id="wrong-password",
        ),
        pytest.param(lambda s, _: _without_login(s), "closed", id="no-login"),
        pytest.param(
            lambda s, _: _untrusting(s), "CERTIFICATE_VERIFY_FAILED", id="broker-not-trusted"
        ),
        pytest.param(
            lambda s, _: s.mutual_tls(client_certificate=False), "closed", id="no-certificate"
        ),
        pytest.param(_unsigned_client, "closed", id="certificate-of-another-ca"),
    ],
)
async def test_clients_without_the_right_credentials_are_refused(
    secured: SecuredBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    refused: Refusal,
    reason: str,
) -> None:
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        await _write_once(refused(secured, tmp_path))
    assert any(reason in record.getMessage() for record in caplog.records), caplog.text


async def _write_once(connection: KafkaConnection) -> None:
    producer = idempotent_producer(connection, client_id="tls-refused")
    try:
        async with asyncio.timeout(30):
            await producer.start()
            await producer.send_and_wait("tls.refused", b"must not arrive")
    finally:
        await stop_within(producer)
