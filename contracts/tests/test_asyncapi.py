"""The checked-in AsyncAPI document must match the catalog it is generated from."""

from contracts.asyncapi import DOCUMENT_PATH, build_document, render
from contracts.catalog import EVENTS, TOPICS


def test_checked_in_document_is_current() -> None:
    assert DOCUMENT_PATH.read_text() == render(), (
        "contracts/asyncapi.yaml is stale: run `python -m contracts.asyncapi --write`"
    )


def test_every_event_type_is_documented_on_its_topic() -> None:
    document = build_document()
    for spec in EVENTS.values():
        channel = document["channels"][spec.topic.name.replace(".", "_")]
        assert spec.payload.__name__ in channel["messages"]
        assert document["components"]["messages"][spec.payload.__name__]["name"] == spec.event_type
    assert {c["address"] for c in document["channels"].values()} == set(TOPICS)


def test_event_types_are_versioned_and_named_after_their_topic_owner() -> None:
    for event_type, spec in EVENTS.items():
        assert event_type.rsplit(".", 1)[-1].startswith("v"), event_type
        assert event_type.split(".")[0] == spec.topic.name.split(".")[0], event_type
