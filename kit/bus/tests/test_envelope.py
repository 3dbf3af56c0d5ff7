"""The CloudEvents envelope survives a trip through Kafka's record shape."""

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from kit.bus.envelope import Envelope


def test_binary_mode_round_trip_keeps_every_attribute() -> None:
    sent = Envelope(type="x.thing.happened.v1", source="x", subject="abc", data={"n": 1})
    key, value, headers = sent.to_record()
    assert key == b"abc"
    assert dict(headers)["ce_type"] == b"x.thing.happened.v1"
    assert dict(headers)["ce_subject"] == b"abc"
    assert Envelope.from_record(key, value, headers) == sent


def test_a_record_without_cloudevent_headers_is_refused() -> None:
    with pytest.raises(ValueError, match="CloudEvent"):
        Envelope.from_record(b"k", b'{"n": 1}', [])


def test_a_non_object_payload_is_refused() -> None:
    _, _, headers = Envelope(type="t.v1", source="s", subject="k", data={}).to_record()
    with pytest.raises(ValueError, match="JSON object"):
        Envelope.from_record(b"k", b"[1, 2]", headers)


def test_the_actor_travels_in_the_cloudevents_auth_context() -> None:
    for actor, authtype in (
        ("7b1c7e52-0000-7000-8000-000000000001", b"app_user"),
        (None, b"system"),
    ):
        sent = Envelope(type="t.v1", source="s", subject="k", data={}, actor=actor)
        key, value, headers = sent.to_record()
        assert dict(headers)["ce_authtype"] == authtype
        assert Envelope.from_record(key, value, headers).actor == actor


def test_the_sequence_travels_zero_padded_and_comes_back_a_number() -> None:
    envelope = Envelope(type="t.v1", source="s", subject="k", data={}, sequence=42)
    key, value, headers = envelope.to_record()
    assert dict(headers)["ce_sequence"] == b"00000000000000000042"
    assert Envelope.from_record(key, value, headers).sequence == 42


def test_what_we_write_is_what_the_cloudevents_sdk_reads() -> None:
    """``to_record`` writes binary mode by hand: the SDK must read every attribute back."""
    sent = Envelope(
        type="t.v1",
        source="s",
        subject="k",
        data={"name": "Zoë", "n": [1, 2]},
        actor="7b1c7e52-0000-7000-8000-000000000001",
        sequence=7,
    )
    key, value, headers = sent.to_record()
    read = from_binary(KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat())
    assert read.get_attributes() == {
        "specversion": "1.0",
        "id": sent.id,
        "type": "t.v1",
        "source": "s",
        "subject": "k",
        "time": sent.time,
        "datacontenttype": "application/json",
        "authtype": "app_user",
        "authid": sent.actor,
        "sequence": "00000000000000000007",
        "partitionkey": "k",  # the SDK's Kafka binding reads the record key as this
    }
    assert read.get_data() == sent.data
