"""Which events partners may subscribe to, how a subscription's patterns match them, an
example of each, and the body a partner receives: the CloudEvent in structured JSON.

Partners get the events of the activities they run or sell for (events and signups, the
referral funnel and rewards, mall orders for fulfilment) and webhooks' own (an endpoint
disabled, a message exhausted: those only about the partner's own endpoints). Accounts,
posts and the like stay in the community. A pattern is an exact type, a prefix ending in
``.*`` (``referrals.funnel.*``) or ``*`` for all of them.
"""

import json
from datetime import UTC, datetime
from typing import Any

from contracts.catalog import EVENTS, EventSpec
from contracts.events import EVENTS_EVENTS, EVENTS_SIGNUPS
from contracts.referrals import REFERRALS_FUNNEL, REFERRALS_REWARDS
from contracts.rewards import REWARDS_ORDERS
from contracts.webhooks import WEBHOOKS_ENDPOINTS, WEBHOOKS_MESSAGES
from kit.bus.envelope import Envelope

PARTNER_TOPICS = (
    EVENTS_EVENTS,
    EVENTS_SIGNUPS,
    REFERRALS_FUNNEL,
    REFERRALS_REWARDS,
    REWARDS_ORDERS,
    WEBHOOKS_ENDPOINTS,
    WEBHOOKS_MESSAGES,
)
OWN_TOPICS = frozenset({WEBHOOKS_ENDPOINTS.name, WEBHOOKS_MESSAGES.name})
"""Events about one partner's endpoints: delivered to that partner only."""
TEST_EVENT_TYPE = "webhooks.test.v1"
SOURCE = "paddock/webhooks"

PARTNER_EVENTS: dict[str, EventSpec] = {
    event_type: spec for event_type, spec in sorted(EVENTS.items()) if spec.topic in PARTNER_TOPICS
}
MAX_PATTERNS = 50


def matches(pattern: str, event_type: str) -> bool:
    if pattern in ("*", event_type):
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def subscribed(patterns: list[str], event_type: str) -> bool:
    return event_type == TEST_EVENT_TYPE or any(matches(p, event_type) for p in patterns)


def unknown_patterns(patterns: list[str]) -> list[str]:
    """The patterns that match no partner event type (a typo would never deliver)."""
    return [p for p in patterns if not any(matches(p, t) for t in PARTNER_EVENTS)]


def cloud_event_body(envelope: Envelope) -> str:
    """The CloudEvent as partners receive it (structured content mode, JSON)."""
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": envelope.id,
        "source": f"paddock/{envelope.source}",
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": envelope.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def test_envelope(*, endpoint_id: str, now: datetime) -> Envelope:
    return Envelope(
        type=TEST_EVENT_TYPE,
        source="webhooks",
        subject=endpoint_id,
        time=now,
        data={"endpoint_id": endpoint_id, "message": "a test event from Paddock"},
    )


def example(spec: EventSpec) -> dict[str, Any]:
    """An example payload of ``spec``, made from its JSON schema."""
    return example_of_schema(spec.payload.model_json_schema())


def example_of_schema(schema: dict[str, Any]) -> Any:
    return _example(schema, schema.get("$defs", {}))


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return _example(schema["anyOf"][0], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _example(value, defs) for name, value in properties.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), defs)]
    return _SCALARS.get(schema.get("format", ""), _SCALARS.get(str(kind)))


EXAMPLE_UUID = "0190a4b8-7c4e-7d8a-9f3b-2c1d0e9f8a7b"
_SCALARS: dict[str, Any] = {
    "uuid": EXAMPLE_UUID,
    "date-time": "2026-12-05T10:00:00Z",
    "date": "2026-12-05",
    "email": "someone@example.com",
    "string": "example",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
}
