"""Kafka client construction in one place, so that every producer is idempotent and
waits for all in-sync replicas, every consumer reads only committed records, and every
client reaches the cluster the same way: :class:`KafkaConnection` (bootstrap servers,
TLS, SASL/SCRAM or a client certificate), which :class:`kit.settings.ServiceSettings`
builds once from the environment and refuses when it makes no sense."""

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_MS = 10_000
STOP_TIMEOUT_SECONDS = 10.0

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaConnection:
    """How a client reaches the cluster.

    ``PLAINTEXT`` (the default, for ``make run`` and the tests) has no TLS; ``SSL`` verifies
    the brokers against ``ca_file`` (the system's trust store when unset) and, with
    ``cert_file`` and ``key_file``, authenticates the client by certificate (mutual TLS);
    ``SASL_SSL`` adds a SCRAM-SHA-512 login with ``username`` and ``password``.
    """

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ValueError(f"Kafka connection refused: {problem}")

    def _problem(self) -> str | None:
        sasl = self.security_protocol == "SASL_SSL"
        if self.security_protocol == "PLAINTEXT" and (self.ca_file or self.cert_file):
            return "TLS files are set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"
        if not sasl and (self.username or self.password):
            return f"KAFKA_USERNAME and KAFKA_PASSWORD need SASL_SSL, not {self.security_protocol}"
        if sasl and not (self.username and self.password and self.password.get_secret_value()):
            return "SASL_SSL needs both KAFKA_USERNAME and KAFKA_PASSWORD"
        if bool(self.cert_file) != bool(self.key_file):
            return "mutual TLS needs both KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE"
        files = (self.ca_file, self.cert_file, self.key_file)
        missing = [str(file) for file in files if file is not None and not file.is_file()]
        if missing:
            return f"no such file: {', '.join(missing)}"
        return None

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments aiokafka's clients take for this connection."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol != "PLAINTEXT":
            options["ssl_context"] = self.ssl_context()
        if self.security_protocol == "SASL_SSL":
            assert self.password is not None  # checked in __post_init__
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """A context that verifies the brokers' certificates and host names."""
        return create_ssl_context(
            cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file
        )


def idempotent_producer(connection: KafkaConnection, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection.client_options(),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def committed_reader(
    connection: KafkaConnection, *topics: str, group_id: str | None, client_id: str
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **connection.client_options(),
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        metadata_max_age_ms=5_000,
    )


async def stop_within(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Stop a client, giving up after ``STOP_TIMEOUT_SECONDS``: a client interrupted while
    starting (or with a broker gone) can otherwise wait forever, and a shutdown must end."""
    try:
        async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
            await client.stop()
    except TimeoutError:
        log.warning(
            "Kafka client %s did not stop in %.0fs", type(client).__name__, STOP_TIMEOUT_SECONDS
        )
