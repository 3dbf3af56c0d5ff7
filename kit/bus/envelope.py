"""The CloudEvents 1.0 envelope and its Kafka binary-mode encoding.

Binary content mode (ADR 0003): attributes travel as ``ce_*`` headers, the JSON payload
is the record value, ``subject`` is also the record key. ``id`` is the dedupe key of
every consumer. Who caused the event travels in the CloudEvents auth context extension:
``authtype`` ``app_user`` with the user's id in ``authid``, or ``system``. Events from an
outbox carry ``sequence`` (the CloudEvents sequence extension): 1, 2, 3, ... per aggregate and
topic in commit order, zero-padded to 20 digits so that it also orders as a string.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from kit.ids import new_id

JSON = "application/json"
_FORMAT = JSONFormat()
USER_ACTOR = "app_user"
SYSTEM_ACTOR = "system"
SEQUENCE_DIGITS = 20


@dataclass(frozen=True)
class Envelope:
    """One event as it travels: CloudEvents attributes plus a JSON object payload."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(new_id()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    actor: str | None = None
    """The id of the user whose action caused the event; ``None`` when the system acted."""
    sequence: int | None = None
    """The event's place among its aggregate's events on its topic (1 is the first)."""

    def to_record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Encode as Kafka ``(key, value, headers)``."""
        auth = {"authtype": USER_ACTOR, "authid": self.actor} if self.actor else {}
        order = {"sequence": f"{self.sequence:0{SEQUENCE_DIGITS}d}"} if self.sequence else {}
        cloud_event = CloudEvent(
            attributes={
                "id": self.id,
                "type": self.type,
                "source": self.source,
                "subject": self.subject,
                "time": self.time,
                "datacontenttype": JSON,
                "authtype": SYSTEM_ACTOR,
                **auth,
                **order,
            },
            data=self.data,
        )
        message = to_binary(cloud_event, _FORMAT, key_mapper=lambda _: self.subject)
        return self.subject.encode(), message.value, list(message.headers.items())

    @classmethod
    def from_record(
        cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> "Envelope":
        """Decode a Kafka record; raise ``ValueError`` when it is not a CloudEvent."""
        try:
            message = KafkaMessage(headers=dict(headers), key=key, value=value or b"")
            cloud_event = from_binary(message, _FORMAT)
        except Exception as exc:  # the SDK raises several types for malformed input
            raise ValueError(f"not a CloudEvent: {exc}") from exc
        data = cloud_event.get_data()
        if not isinstance(data, dict):
            raise ValueError("CloudEvent data is not a JSON object")
        time = cloud_event.get_time() or datetime.now(UTC)
        return cls(
            id=cloud_event.get_id(),
            type=cloud_event.get_type(),
            source=cloud_event.get_source(),
            subject=cloud_event.get_subject() or "",
            time=time,
            data=data,
            actor=_actor(cloud_event),
            sequence=_sequence(cloud_event),
        )


def _actor(cloud_event: BaseCloudEvent) -> str | None:
    if cloud_event.get_extension("authtype") != USER_ACTOR:
        return None
    actor = cloud_event.get_extension("authid")
    return str(actor) if actor else None


def _sequence(cloud_event: BaseCloudEvent) -> int | None:
    sequence = cloud_event.get_extension("sequence")
    try:
        return int(sequence) if sequence else None
    except ValueError:
        raise ValueError(f"CloudEvent sequence {sequence!r} is not a number") from None
