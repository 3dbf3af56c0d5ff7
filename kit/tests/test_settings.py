"""Settings refuse placeholder secrets outside development, and Kafka connections that make
no sense at startup."""

import ssl

import pytest
from pydantic import ValidationError

from kit.settings import ServiceSettings, refuse_placeholder


def test_placeholders_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_ENV", "production")
    settings = ServiceSettings()
    with pytest.raises(ValueError, match="real secret"):
        refuse_placeholder(settings, "qr_secret", "changethis")
    refuse_placeholder(settings, "qr_secret", "a-long-random-value")


def test_placeholders_are_tolerated_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_ENV", "development")
    refuse_placeholder(ServiceSettings(), "qr_secret", "changethis")


def test_kafka_and_environment_come_from_their_shared_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("PADDOCK_ENV", "test")
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.environment == "test"


def test_kafka_is_plaintext_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    options = ServiceSettings().kafka.client_options()
    assert options == {"bootstrap_servers": "kafka:9092", "security_protocol": "PLAINTEXT"}


def test_kafka_sasl_ssl_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_USERNAME", "events")
    monkeypatch.setenv("KAFKA_PASSWORD", "s3cret-from-a-secret")
    settings = ServiceSettings()
    options = settings.kafka.client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "events",
        "s3cret-from-a-secret",
    )
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # the system's trust store
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_USERNAME": "events"}, "KAFKA_PASSWORD"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_PASSWORD": "hunter2"}, "KAFKA_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_PASSWORD": "hunter2"}, "not SSL"),
        ({"KAFKA_SSL_CAFILE": "ca.crt"}, "PLAINTEXT"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "k.pem"}, "KAFKA_SSL_CERTFILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nowhere"}, "no such file"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_MECHANISM": "PLAIN"}, "SCRAM-SHA-512"),
    ],
)
def test_nonsensical_kafka_settings_fail_at_startup(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], reason: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=reason) as refused:
        ServiceSettings()
    assert "hunter2" not in str(refused.value)
