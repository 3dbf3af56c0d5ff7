"""A single-node Apache Kafka broker (KRaft, combined broker + controller) for development.

This module owns the local Kafka: fetching the official jars with Maven into
``.cache/kafka/libs`` (:func:`ensure_jars`), writing ``server.properties``, formatting the
storage, running the broker as a child process and stopping it (:class:`KafkaBroker`), and the
foreground CLI that ``make run`` supervises::

    python -m devstack.kafka serve --data-dir .data/kafka --port 9092
    python -m devstack.kafka wait --bootstrap-servers 127.0.0.1:9092
    python -m devstack.kafka jars

Everything listens on 127.0.0.1 only. A broker given :class:`BrokerTls` also has two TLS
listeners, as production has (``deploy/k8s``): ``SASL_SSL`` with SCRAM-SHA-512 logins and
``SSL`` that requires a client certificate (mutual TLS), optionally enforcing ACLs
(:meth:`KafkaBroker.allow`); the plain one stays for the rest.
"""

import argparse
import asyncio
import base64
import ctypes
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from devstack import LOCALHOST, REPO_ROOT, DevstackError, free_port, port_open, run_sync

POM = Path("deploy/local/kafka/pom.xml")
LIBS = Path(".cache/kafka/libs")
POM_STAMP = ".pom.sha256"
WARMUP_TOPIC = "__paddock_warmup"
PR_SET_PDEATHSIG = 1
SASL_LISTENER = "SASL"  # SASL_SSL, SCRAM-SHA-512
MTLS_LISTENER = "MTLS"  # SSL, client certificate required
SCRAM_MECHANISM = "SCRAM-SHA-512"

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def require_tool(name: str, install_hint: str) -> str:
    """The path of executable ``name``, or a :class:`DevstackError` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise DevstackError(f"{name} not found on PATH: install {install_hint}")
    return path


def ensure_jars(repo_root: Path = REPO_ROOT) -> Path:
    """Fetch the Kafka jars with Maven once; return the directory that holds them.

    The fetch is redone only when ``deploy/local/kafka/pom.xml`` changes.
    """
    pom = repo_root / POM
    libs = repo_root / LIBS
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp = libs / POM_STAMP
    if stamp.is_file() and stamp.read_text() == digest:
        return libs
    require_tool("java", "Java 17 (apt-get install -y openjdk-17-jre-headless)")
    mvn = require_tool("mvn", "Maven (apt-get install -y maven)")
    partial = libs.with_name(f"{libs.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    result = subprocess.run(  # noqa: S603 - fixed command, no shell
        [*command, f"-DoutputDirectory={partial}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise DevstackError(
            f"fetching Kafka jars with Maven failed:\n{result.stdout}{result.stderr}"
        )
    (partial / POM_STAMP).write_text(digest)
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def kafka_cluster_id() -> str:
    """A new cluster id in Kafka's format (URL-safe base64 of 16 random bytes, no padding).

    Like Kafka's own ``Uuid.randomUuid``, never one starting with ``-``: the storage tool
    would read it as an option (one start in 64 failed with "expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class BrokerTls:
    """The TLS listeners' material: the broker's ``key`` (unencrypted PKCS#8 PEM) and its
    ``certificate`` (PEM, naming 127.0.0.1), the ``client_ca`` that signs the certificates
    the mutual TLS listener accepts, and the SCRAM users (name to password) of the SASL one.
    With ``authorize``, the broker enforces ACLs (:meth:`KafkaBroker.allow`) on both TLS
    listeners, as Strimzi's ``authorization: simple`` does; a certificate's user is its CN,
    and the plain listener stays a super user."""

    key: Path
    certificate: Path
    client_ca: Path
    scram_users: Mapping[str, str] = field(default_factory=dict)
    authorize: bool = False


def tls_properties(tls: BrokerTls, keystore: Path) -> dict[str, str]:
    """The settings of both TLS listeners; ``keystore`` is the key and certificate, in one
    PEM file as Kafka reads them."""
    sasl, mtls = SASL_LISTENER.lower(), MTLS_LISTENER.lower()
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        f"listener.name.{sasl}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.client_ca),
        f"listener.name.{mtls}.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
    } | (
        {
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",  # the plain and controller listeners
        }
        if tls.authorize
        else {}
    )


def server_properties(
    data_dir: Path, port: int, controller_port: int, tls_ports: tuple[int, int] | None = None
) -> str:
    """``server.properties`` for a one-node KRaft cluster tuned for development; with
    ``tls_ports``, the SASL_SSL and the mutual TLS listeners' ports are added (their
    certificates come from :func:`tls_properties`)."""
    protocols = {"PLAINTEXT": ("PLAINTEXT", port)}
    if tls_ports is not None:
        protocols[SASL_LISTENER] = ("SASL_SSL", tls_ports[0])
        protocols[MTLS_LISTENER] = ("SSL", tls_ports[1])
    advertised = ",".join(f"{name}://{LOCALHOST}:{p}" for name, (_, p) in protocols.items())
    protocol_map = ",".join(f"{name}:{protocol}" for name, (protocol, _) in protocols.items())
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOCALHOST}:{controller_port}",
        "listeners": f"{advertised},CONTROLLER://{LOCALHOST}:{controller_port}",
        "advertised.listeners": advertised,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": f"{protocol_map},CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        "num.partitions": "3",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _die_with_parent() -> None:
    """Run in the child before ``exec``: Linux sends it SIGTERM when its parent thread dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class KafkaBroker:
    """One Kafka broker process with its configuration and data under ``data_dir``.

    Ports are chosen free when not given. An already formatted ``data_dir`` is reused (its
    SCRAM users are those it was formatted with). Call :meth:`start` from a long-lived thread:
    the broker is terminated when that thread's process dies, so it never outlives its owner.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        libs: Path | None = None,
        heap: str = "512m",
        tls: BrokerTls | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.tls = tls
        self.tls_ports = (free_port(), free_port()) if tls is not None else None
        self.libs = libs
        self.heap = heap
        self.log_path = self.data_dir / "kafka.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        """The SASL_SSL listener (SCRAM-SHA-512 logins of ``tls.scram_users``)."""
        assert self.tls_ports is not None, "a broker started with tls"
        return f"{LOCALHOST}:{self.tls_ports[0]}"

    @property
    def mtls_bootstrap_servers(self) -> str:
        """The SSL listener that requires a client certificate signed by ``tls.client_ca``."""
        assert self.tls_ports is not None, "a broker started with tls"
        return f"{LOCALHOST}:{self.tls_ports[1]}"

    def _java(self, main_class: str, *args: str) -> list[str]:
        libs = self.libs or ensure_jars()
        java = require_tool("java", "Java 17 (apt-get install -y openjdk-17-jre-headless)")
        log4j = self.data_dir / "log4j.properties"
        return [
            java,
            f"-Xmx{self.heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration={log4j.as_uri()}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _configure(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j.properties").write_text(LOG4J_PROPERTIES)
        config = self.data_dir / "server.properties"
        text = server_properties(self.data_dir, self.port, self.controller_port, self.tls_ports)
        scram: list[str] = []
        if self.tls is not None:
            keystore = self.data_dir / "keystore.pem"
            keystore.write_text(self.tls.key.read_text() + self.tls.certificate.read_text())
            keystore.chmod(0o600)
            text += "".join(f"{k}={v}\n" for k, v in tls_properties(self.tls, keystore).items())
            for name, password in self.tls.scram_users.items():
                scram += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        config.write_text(text)
        if not (self.data_dir / "data" / "meta.properties").exists():
            command = self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                kafka_cluster_id(),
                "-c",
                str(config),
                *scram,
            )
            result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if result.returncode != 0:
                raise DevstackError(
                    f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}"
                )
        return config

    def start(self) -> None:
        """Write the configuration, format the storage if new, and launch the broker."""
        if port_open(self.port):
            raise DevstackError(
                f"port {self.port} is taken: stop what listens there or pick another"
            )
        config = self._configure()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            self._java("kafka.Kafka", str(config)),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def _log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until the broker accepts a produce request (acks=all) or raise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise DevstackError(
                    f"Kafka broker exited; end of {self.log_path}:\n{self._log_tail()}"
                )
            if port_open(self.port) and run_sync(_produce_once(self.bootstrap_servers)):
                return
            time.sleep(0.3)
        raise DevstackError(f"Kafka broker not ready after {timeout:.0f}s; see {self.log_path}")

    def allow(
        self,
        user: str,
        operations: Sequence[str],
        *,
        topics: Sequence[str] = (),
        groups: Sequence[str] = (),
        prefixed: bool = False,
    ) -> None:
        """Add ACLs allowing ``user`` ``operations`` on every one of ``topics`` and
        ``groups`` (names, or prefixes), with Kafka's own ``kafka-acls`` tool."""
        resources = [arg for t in topics for arg in ("--topic", t)]
        resources += [arg for g in groups for arg in ("--group", g)]
        command = self._java(
            "org.apache.kafka.tools.AclCommand",
            "--bootstrap-server",
            self.bootstrap_servers,
            "--add",
            "--allow-principal",
            f"User:{user}",
            *[arg for operation in operations for arg in ("--operation", operation)],
            *resources,
            *(["--resource-pattern-type", "prefixed"] if prefixed else []),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise DevstackError(f"adding ACLs failed:\n{result.stdout}{result.stderr}")

    def wait(self) -> int:
        """Block until the broker process exits; return its exit code."""
        assert self._process is not None, "start() first"
        return self._process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the broker's process group, SIGKILL it after ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _reachable(bootstrap_servers: str) -> bool:
    """Whether any bootstrap address accepts TCP connections (probing before that only logs)."""
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            continue
        return True
    return False


async def _produce_once(bootstrap_servers: str) -> bool:
    """Whether one record can be written to the warm-up topic within a few seconds."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", request_timeout_ms=10_000
    )
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(WARMUP_TOPIC, b"ready"), 15)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await producer.stop()
    return True


def wait_for(bootstrap_servers: str, timeout: float = 120.0) -> None:
    """Block until the cluster at ``bootstrap_servers`` accepts a produce request, or raise."""
    deadline = time.monotonic() + timeout
    while not (_reachable(bootstrap_servers) and run_sync(_produce_once(bootstrap_servers))):
        if time.monotonic() > deadline:
            raise DevstackError(f"Kafka at {bootstrap_servers} not ready after {timeout:.0f}s")
        time.sleep(0.5)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(data_dir: Path, port: int, controller_port: int | None) -> None:
    """Run a broker in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    signal.signal(signal.SIGTERM, _interrupt)
    broker = KafkaBroker(data_dir, port=port, controller_port=controller_port)
    try:
        broker.start()
        broker.wait_ready()
        print(f"kafka: ready at {broker.bootstrap_servers} (log: {broker.log_path})", flush=True)
        code = broker.wait()
        raise DevstackError(f"Kafka broker exited with code {code}; see {broker.log_path}")
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop(timeout=4)  # within honcho's 5 s before it SIGKILLs us


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.kafka", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("jars", help="fetch the Kafka jars into .cache/kafka/libs")
    serve_parser = commands.add_parser("serve", help="run a broker in the foreground")
    serve_parser.add_argument("--data-dir", type=Path, default=Path(".data/kafka"))
    serve_parser.add_argument("--port", type=int, default=9092)
    serve_parser.add_argument("--controller-port", type=int, default=None)
    wait_parser = commands.add_parser("wait", help="block until a cluster accepts writes")
    wait_parser.add_argument("--bootstrap-servers", required=True)
    wait_parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # warm-up retries are expected
    try:
        if args.command == "jars":
            print(ensure_jars())
        elif args.command == "wait":
            wait_for(args.bootstrap_servers, args.timeout)
        else:
            serve(args.data_dir, args.port, args.controller_port)
    except DevstackError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
