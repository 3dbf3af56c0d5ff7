"""Gateway benchmark (``make bench-gateway``): what the gateway costs in front of a service.

Starts real processes on loopback, one uvicorn worker each (uvloop, httptools, no uvicorn
access log; kit's own request log stays on, to a file), with a Kafka broker as in
production (identity's outbox relay publishes, identity and the gateway keep their
revocation views): identity on a throwaway SQLite file, the gateway in front of it, a
plain FastAPI hello endpoint (the ceiling) and two minimal proxies, one on a pooled
``httpx.AsyncClient`` and one on a pooled ``aiohttp.ClientSession`` (the client libraries
alone, without the gateway's work). It registers a user, logs in, then runs wrk
(2 threads, 50 connections, ``BENCH_SECONDS`` = 10 s after a 2 s warm-up) with the access
token against each, prints req/s, p50 and p99, and ends with the gateway's ratio to
identity served directly. Everything shares the machine's cores, wrk included.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import LOCALHOST, REPO_ROOT, ensure_wrk, free_port
from devstack.kafka import KafkaBroker
from gateway.config import DEFAULT_ROUTES
from kit.db.migrate import upgrade

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = 1
THREADS, CONNECTIONS = 2, 50
HERE = Path(__file__).resolve().parent
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
PASSWORD = "bench horse battery staple"
DIRECT = "identity direct /v1/me"
GATEWAY = "gateway /v1/me"


@dataclass(frozen=True)
class Result:
    name: str
    upstream: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def main() -> None:
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="paddock-bench-gateway-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        kafka = stack.enter_context(kafka_broker(workdir))
        identity = stack.enter_context(start_identity(workdir, kafka))
        token = sign_in(identity)
        hello = stack.enter_context(serve("hello", "baselines:hello", workdir))
        upstreams = {"identity": identity, "hello": hello}
        gateway = stack.enter_context(start_gateway(workdir, upstreams, kafka))
        routes = json.dumps({"/hello": hello, "/v1/me": identity})
        aiohttp_proxy, httpx_proxy = (
            stack.enter_context(
                serve(f"{lib}-proxy", f"baselines:{lib}_proxy", workdir, BENCH_ROUTES=routes)
            )
            for lib in ("aiohttp", "httpx")
        )
        fronts = {"gateway": gateway, "aiohttp proxy": aiohttp_proxy, "httpx proxy": httpx_proxy}
        results = [
            measure(f"{front} {path}", upstream, f"{url}{path}", token)
            for upstream, direct, path in (
                ("hello", hello, "/hello"),
                ("identity", identity, "/v1/me"),
            )
            for front, url in {f"{upstream} direct": direct, **fronts}.items()
        ]
    print_table(results)
    by_name = {result.name: result for result in results}
    ratio = by_name[GATEWAY].requests_per_second / by_name[DIRECT].requests_per_second
    print(f"gateway: ratio {ratio:.2f} (gateway /v1/me / direct /v1/me)")


@contextmanager
def kafka_broker(tmp: Path) -> Iterator[str]:
    """A broker for the bus, as in production (relay, revocation views)."""
    broker = KafkaBroker(tmp / "kafka")
    broker.start()
    try:
        broker.wait_ready()
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@contextmanager
def start_identity(tmp: Path, kafka: str) -> Iterator[str]:
    database_url = f"sqlite+aiosqlite:///{tmp / 'identity.db'}"
    upgrade("identity", database_url)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_JWT_PRIVATE_KEY": pem,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
    }
    with serve("identity", "services.identity.app:create_app", tmp, **env) as url:
        yield url


@contextmanager
def start_gateway(tmp: Path, upstreams: dict[str, str], kafka: str) -> Iterator[str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps(upstreams),
        "GATEWAY_ROUTES": json.dumps({**DEFAULT_ROUTES, "/hello": "hello"}),
        "PADDOCK_JWKS_URL": f"{upstreams['identity']}/.well-known/jwks.json",
        "GATEWAY_RATE_LIMIT_PER_USER": "100000000/minute",
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
    }
    with serve("gateway", "gateway.app:create_app", tmp, **env) as url:
        yield url


@contextmanager
def serve(name: str, factory: str, tmp: Path, **env: str) -> Iterator[str]:
    """Run ``uvicorn --factory`` in its own process until the block ends; yield its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", LOCALHOST, "--port", str(port), "--app-dir", str(HERE),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=log
        )
    try:
        url = f"http://{LOCALHOST}:{port}"
        wait_healthy(name, url, process, log_path)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_healthy(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited early:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(f"{url}/healthz", timeout=1)  # any HTTP answer: the server is up
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not answer within 30 s:\n{log.read_text()[-2000:]}")


def sign_in(identity: str) -> str:
    email = f"bench-{time.time_ns()}@example.com"
    registered = httpx.post(
        f"{identity}/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": "Bench"},
        timeout=30,
    )
    registered.raise_for_status()
    login = httpx.post(
        f"{identity}/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    token: str = login.json()["access_token"]
    return token


def measure(name: str, upstream: str, url: str, token: str) -> Result:
    wrk(url, token, WARMUP_SECONDS)
    output = wrk(url, token, SECONDS)
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return Result(
        name,
        upstream,
        float(_field(r"Requests/sec:\s+([\d.]+)", output)),
        _latency_ms("50%", output),
        _latency_ms("99%", output),
        _errors(output),
    )


def _errors(output: str) -> int:
    """Non-2xx/3xx answers plus socket errors (connect, read, write, timeout)."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return (int(bad[1]) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)


def wrk(url: str, token: str, seconds: int) -> str:
    command = [
        "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
        "-H", f"Authorization: Bearer {token}", url,
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    return match[1]


def _latency_ms(percentile: str, output: str) -> float:
    value, unit = re.findall(
        r"([\d.]+)(us|ms|s|m)$", _field(rf"(?m)^\s+{percentile}\s+(\S+)", output)
    )[0]
    return float(value) * UNITS_MS[unit]


def print_table(results: list[Result]) -> None:
    """Each row with its ratio to the same upstream served directly."""
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s, {os.cpu_count()} cores shared by all")
    print(f"{'target':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs direct':>11}")
    direct = {result.upstream: result for result in results if "direct" in result.name}
    for result in results:
        print(
            f"{result.name:<24}{result.requests_per_second:>9.0f}{result.p50_ms:>9.2f}"
            f"{result.p99_ms:>9.2f}{result.errors:>8}"
            f"{result.requests_per_second / direct[result.upstream].requests_per_second:>10.2f}x"
        )


if __name__ == "__main__":
    main()
