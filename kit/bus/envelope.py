"""The CloudEvents 1.0 envelope and its Kafka binary-mode encoding.

Binary content mode (ADR 0003): attributes travel as ``ce_*`` headers, the JSON payload
is the record value, ``subject`` is also the record key. ``id`` is the dedupe key of
every consumer.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from kit.ids import new_id

JSON = "application/json"
_FORMAT = JSONFormat()


@dataclass(frozen=True)
class Envelope:
    """One event as it travels: CloudEvents attributes plus a JSON object payload."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(new_id()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Encode as Kafka ``(key, value, headers)``."""
        cloud_event = CloudEvent(
            attributes={
                "id": self.id,
                "type": self.type,
                "source": self.source,
                "subject": self.subject,
                "time": self.time,
                "datacontenttype": JSON,
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
        )
