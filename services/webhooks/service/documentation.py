"""What partners read before they integrate: every event type they may subscribe to
(outbound) and every message type they may post (inbound), with the JSON Schema of its data
and an example body, as ``/v1/webhook-event-types`` and the portal show them."""

import json
from datetime import UTC, datetime
from typing import Any

from contracts.asyncapi import build_document
from contracts.catalog import EventSpec
from contracts.partners import PARTNERS_INBOUND
from kit.bus.envelope import Envelope
from services.webhooks.service.event_types import (
    EXAMPLE_UUID,
    PARTNER_EVENTS,
    PARTNER_TOPICS,
    cloud_event_body,
    example,
    example_of_schema,
)
from services.webhooks.service.inbound import INBOUND_MODELS


def documented() -> list[dict[str, Any]]:
    """Every outbound type with its schema and an example body, then the inbound ones (from
    :mod:`.inbound`'s models: what a partner posts)."""
    outbound = [
        {
            "type": event_type,
            "direction": "outbound",
            "topic": spec.topic.name,
            "description": spec.description,
            "data_schema": json.dumps(spec.payload.model_json_schema()),
            "example": json.dumps(_example_event(event_type, spec)),
        }
        for event_type, spec in PARTNER_EVENTS.items()
    ]
    inbound = [
        {
            "type": event_type,
            "direction": "inbound",
            "topic": report.topic.name,
            "description": (report.__doc__ or "").strip(),
            "data_schema": json.dumps(model.model_fields["data"].annotation.model_json_schema()),  # type: ignore[union-attr]
            "example": json.dumps({"type": event_type, "data": _inbound_example(report)}),
        }
        for event_type, (model, report) in INBOUND_MODELS.items()
    ]
    return outbound + inbound


def _example_event(event_type: str, spec: EventSpec) -> dict[str, Any]:
    envelope = Envelope(
        type=event_type,
        source=spec.topic.name.split(".")[0],
        subject=EXAMPLE_UUID,
        data=example(spec),
        id=EXAMPLE_UUID,
        time=datetime(2026, 12, 5, 10, tzinfo=UTC),
    )
    body: dict[str, Any] = json.loads(cloud_event_body(envelope))
    return body


def _inbound_example(report: Any) -> dict[str, Any]:
    schema = report.model_json_schema()
    data = example_of_schema(schema)
    return {key: value for key, value in data.items() if key not in ("partner_id", "report_id")}


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI document of what partners see: the catalog's, cut down to the topics
    they may subscribe to and the one their inbound reports are published on."""
    document = build_document()
    shown = {topic.name for topic in PARTNER_TOPICS} | {PARTNERS_INBOUND.name}
    channels = {
        name: channel
        for name, channel in document["channels"].items()
        if channel["address"] in shown
    }
    messages = {ref.rsplit("/", 1)[-1] for c in channels.values() for ref in _refs(c)}
    document["channels"] = channels
    document["operations"] = {
        name: operation
        for name, operation in document["operations"].items()
        if operation["channel"]["$ref"].rsplit("/", 1)[-1] in channels
    }
    components = document["components"]
    components["messages"] = {
        name: message for name, message in components["messages"].items() if name in messages
    }
    document["info"]["title"] = "Paddock events for partners"
    return document


def _refs(channel: dict[str, Any]) -> list[str]:
    return [message["$ref"] for message in channel["messages"].values()]
