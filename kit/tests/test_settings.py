"""Settings refuse placeholder secrets outside development."""

import pytest

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
