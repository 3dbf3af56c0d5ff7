"""Topics, event types and the registry that ties each payload model to both.

A payload is declared once::

    @event("identity.user.registered.v1", topic=IDENTITY_USERS, subject="user_id")
    class UserRegistered(Payload):
        user_id: UUID

``type`` is the CloudEvents type, ``topic`` the Kafka topic, and ``subject`` names the
payload field that is the aggregate id: the CloudEvents subject and the Kafka key, so
that every event of one aggregate stays in order on one partition.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Topic:
    """A Kafka topic: one per aggregate stream, with a ``.dlq`` twin for poison messages."""

    name: str
    description: str
    partitions: int = 6
    retention_ms: int = 7 * DAY_MS

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


class Payload(BaseModel):
    """Base of every event payload: strict (unknown fields refused) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    subject_field: ClassVar[str]

    def subject(self) -> str:
        return str(getattr(self, self.subject_field))


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    topic: Topic
    payload: type[Payload]
    description: str


RESERVED_NAMES = frozenset({"event_type", "topic", "subject_field"})
"""What the registry sets on a payload class: a field of that name would hide it."""
TOPICS: dict[str, Topic] = {}
EVENTS: dict[str, EventSpec] = {}

M = TypeVar("M", bound=Payload)


def topic(name: str, description: str, **options: int) -> Topic:
    """Declare a topic in the catalog."""
    declared = Topic(name=name, description=description, **options)
    if name in TOPICS:
        raise ValueError(f"topic {name} declared twice")
    TOPICS[name] = declared
    return declared


def event(event_type: str, *, topic: Topic, subject: str) -> Callable[[type[M]], type[M]]:
    """Register a payload model as the schema of ``event_type`` on ``topic``."""

    def register(model: type[M]) -> type[M]:
        if event_type in EVENTS:
            raise ValueError(f"event type {event_type} declared twice")
        if subject not in model.model_fields:
            raise ValueError(f"{model.__name__} has no subject field {subject!r}")
        shadowed = RESERVED_NAMES & set(model.model_fields)
        if shadowed:
            raise ValueError(f"{model.__name__} has fields named like the registry's: {shadowed}")
        model.event_type = event_type
        model.topic = topic
        model.subject_field = subject
        EVENTS[event_type] = EventSpec(
            event_type=event_type,
            topic=topic,
            payload=model,
            description=(model.__doc__ or "").strip(),
        )
        return model

    return register
