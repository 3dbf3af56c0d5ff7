"""Generate the AsyncAPI 3.0 document of the event catalog.

    python -m contracts.asyncapi --write   # refresh contracts/asyncapi.yaml

A test fails when the checked-in document differs from what the catalog generates.
"""

import argparse
from pathlib import Path
from typing import Any

import yaml

from contracts.catalog import EVENTS, TOPICS, EventSpec
from contracts.registry import MODULES

DOCUMENT_PATH = Path(__file__).with_name("asyncapi.yaml")
CLOUDEVENTS_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary mode: attributes as ce_* headers",
    "required": [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_authtype",
        "ce_sequence",
    ],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "UUIDv7; consumers dedupe on it"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string", "description": "the publishing service"},
        "ce_subject": {"type": "string", "description": "aggregate id, also the record key"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_sequence": {
            "type": "string",
            "pattern": "^[0-9]{20}$",
            "description": "CloudEvents sequence extension: 1, 2, 3, ... per subject on this "
            "topic in commit order, zero-padded to 20 digits; a jump is a gap, a repeat a replay",
        },
        "ce_authtype": {
            "type": "string",
            "enum": ["app_user", "system"],
            "description": "CloudEvents auth context: a user's action caused the event, or "
            "the system acted on its own",
        },
        "ce_authid": {
            "type": "string",
            "format": "uuid",
            "description": "the id of the user whose action caused the event (app_user only)",
        },
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _message_name(spec: EventSpec) -> str:
    return spec.payload.__name__


def _message(spec: EventSpec) -> dict[str, Any]:
    schema = spec.payload.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {
        "name": spec.event_type,
        "title": spec.payload.__name__,
        "summary": spec.description,
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
        "correlationId": {"location": "$message.header#/ce_subject"},
        "payload": schema,
    }


def build_document() -> dict[str, Any]:
    """The whole AsyncAPI document as plain data, in a stable order."""
    assert MODULES, "contracts.registry imports every contract module"
    specs = sorted(EVENTS.values(), key=lambda spec: spec.event_type)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, topic in sorted(TOPICS.items()):
        members = [spec for spec in specs if spec.topic.name == name]
        channel_id = name.replace(".", "_")
        channels[channel_id] = {
            "address": name,
            "description": topic.description,
            "messages": {
                _message_name(spec): {"$ref": f"#/components/messages/{_message_name(spec)}"}
                for spec in members
            },
            "bindings": {
                "kafka": {
                    "topic": name,
                    "partitions": topic.partitions,
                    "topicConfiguration": {"retention.ms": topic.retention_ms},
                }
            },
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{name.split('.')[0]} publishes through its outbox",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Paddock events",
            "version": "1.0.0",
            "description": (
                "Every event on Paddock's Kafka bus. Envelope: CloudEvents 1.0 in Kafka "
                "binary mode; the record key is the CloudEvents subject (aggregate id). "
                "Poison records go to <topic>.dlq."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {"CloudEventHeaders": CLOUDEVENTS_HEADERS},
            "messages": {_message_name(spec): _message(spec) for spec in specs},
        },
    }


def render() -> str:
    return yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate contracts/asyncapi.yaml")
    parser.add_argument("--write", action="store_true", help="write the file instead of printing")
    args = parser.parse_args()
    if args.write:
        DOCUMENT_PATH.write_text(render())
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
