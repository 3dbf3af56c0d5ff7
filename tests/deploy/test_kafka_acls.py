"""The generated KafkaUsers (components/strimzi/users.yaml), applied to a real broker that
enforces ACLs as Strimzi's ``authorization: simple`` does: each process, logged in as its
user over SASL_SSL, can do its bus work (its revocation view, its consumers' groups and
dead letters, its outbox topics) and can write nothing else, and the dead-letter tool
replays as ``dlq-replay``."""

import importlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError
from pydantic import SecretStr

import contracts.registry  # noqa: F401  (imports every contract module)
from contracts.catalog import TOPICS
from contracts.identity import IDENTITY_USERS
from devstack import DevstackError, run_sync
from devstack.kafka import BrokerTls, KafkaBroker
from kit.bus.consumer import EventConsumer
from kit.bus.dlq import list_dead_letters, replay
from kit.bus.kafka import KafkaConnection, committed_reader, idempotent_producer, stop_within
from kit.db import Database
from kit.revocation import RevocationView
from kit.testing.kafka import create_topics
from kit.testing.tls import ThrowawayCA
from tests.deploy.test_manifests import load_all, load_generator, processes

GENERATOR = load_generator()
USERS = {doc["metadata"]["name"]: doc for doc in load_all(GENERATOR.USERS_FILE)}
DLQ_REPLAY_USER = GENERATOR.DLQ_REPLAY_USER
ALL_TOPICS = sorted({name for topic in TOPICS.values() for name in (topic.name, topic.dlq)})


@dataclass(frozen=True)
class AclBroker:
    broker: KafkaBroker
    ca: ThrowawayCA
    passwords: dict[str, str]

    def login(self, user: str) -> KafkaConnection:
        return KafkaConnection(
            self.broker.sasl_ssl_bootstrap_servers,
            security_protocol="SASL_SSL",
            username=user,
            password=SecretStr(self.passwords[user]),
            ca_file=self.ca.certificate,
        )


def grant(broker: KafkaBroker, user: str, acls: list[dict[str, Any]]) -> None:
    """Add a KafkaUser's ACLs, one ``kafka-acls`` run per resource type, pattern and
    operations (the tool applies its operations to every resource it is given)."""
    batches: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    for acl in acls:
        resource = acl["resource"]
        key = (resource["type"], resource["patternType"], tuple(acl["operations"]))
        batches[key].append(resource["name"])
    for (kind, pattern, operations), names in batches.items():
        assert kind in {"topic", "group"}, f"no grant for {kind} ACLs yet"
        broker.allow(
            user,
            operations,
            topics=names if kind == "topic" else (),
            groups=names if kind == "group" else (),
            prefixed=pattern == "prefix",
        )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclBroker]:
    """A broker enforcing ACLs, with every generated user, its ACLs and every topic."""
    ca = ThrowawayCA(tmp_path_factory.mktemp("pki"))
    server = ca.issue("broker", server=True)
    passwords = {user: uuid.uuid4().hex for user in USERS}
    tls = BrokerTls(
        key=server.key,
        certificate=server.certificate,
        client_ca=ca.certificate,
        scram_users=passwords,
        authorize=True,
    )
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), tls=tls)
    try:
        try:
            broker.start()
            broker.wait_ready()
            for user, resource in USERS.items():
                grant(broker, user, resource["spec"]["authorization"]["acls"])
            run_sync(create_topics(broker.bootstrap_servers, ALL_TOPICS))
        except DevstackError as exc:
            pytest.fail(f"cannot start a Kafka broker with ACLs: {exc}", pytrace=False)
        yield AclBroker(broker, ca, passwords)
    finally:
        broker.stop()


def consumers_of(name: str, kafka: KafkaConnection) -> list[EventConsumer]:
    """The process's consumers as kit.service builds them (not started)."""
    if name == "gateway":
        return []
    subscriptions = importlib.import_module(f"services.{name}.consumers").SUBSCRIPTIONS
    database = Database("sqlite+aiosqlite://", service=name)
    return [
        EventConsumer(
            name=s.name, service=name, database=database, kafka=kafka, handlers=s.handlers
        )
        for s in subscriptions
    ]


async def writable(kafka: KafkaConnection) -> set[str]:
    """The topics this login can write a record to."""
    producer = idempotent_producer(kafka, client_id="acl-test")
    written: set[str] = set()
    try:
        await producer.start()
        for topic in ALL_TOPICS:
            try:
                await producer.send_and_wait(topic, b"acl test")
            except KafkaError:
                continue
            written.add(topic)
    except KafkaError:  # no Write anywhere: not even an idempotent producer id
        pass
    finally:
        await stop_within(producer)
    return written


@pytest.mark.parametrize("name", processes())
async def test_each_process_does_its_bus_work_as_its_user(secured: AclBroker, name: str) -> None:
    kafka = secured.login(name)
    view = RevocationView(kafka, service=name, catch_up_timeout=30)
    await view.start()
    try:
        await view.check()
    finally:
        await view.stop()

    consumers = consumers_of(name, kafka)
    for consumer in consumers:
        reader = committed_reader(
            kafka, *consumer.topics, group_id=consumer.group_id, client_id=consumer.group_id
        )
        await reader.start()
        try:
            for _ in range(30):
                await reader.getmany(timeout_ms=500)
                if reader.assignment():
                    break
            assert reader.assignment(), f"{consumer.group_id} got no partitions"
            await reader.commit()
        finally:
            await stop_within(reader)

    owned = {topic.name for topic in TOPICS.values() if GENERATOR.writer(topic.name) == name}
    dead_letters = {f"{topic}.dlq" for consumer in consumers for topic in consumer.topics}
    assert await writable(kafka) == owned | dead_letters


@pytest.mark.parametrize("name", processes())
async def test_no_process_joins_another_group(secured: AclBroker, name: str) -> None:
    reader = committed_reader(
        secured.login(name),
        IDENTITY_USERS.name,
        group_id=f"someone-else.{uuid.uuid4().hex[:6]}",
        client_id="acl-test",
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await reader.start()
    finally:
        await stop_within(reader)


async def test_the_dead_letter_tool_replays_as_its_user(secured: AclBroker) -> None:
    events = idempotent_producer(secured.login("events"), client_id="acl-test")
    await events.start()
    try:
        await events.send_and_wait(IDENTITY_USERS.dlq, b"a dead letter")
    finally:
        await stop_within(events)
    tool = secured.login(DLQ_REPLAY_USER)
    assert await list_dead_letters(tool, IDENTITY_USERS.name)
    assert await replay(tool, IDENTITY_USERS.name) >= 1
