"""What every benchmark is built from: real servers on loopback, wrk, and ratio lines.

* :func:`durable_postgres` and :func:`kafka_broker` — the production parts: PostgreSQL on
  its stock durable settings (fsync, synchronous_commit, full_page_writes on) and a broker
  the outbox relays publish to;
* :func:`serve` — an ASGI app under uvicorn in its own process, served as the manifests
  serve the services (uvloop, httptools, ``workers`` processes, uvicorn's access log off;
  kit's own request log stays on, to a file under :data:`LOGS`);
* :func:`serve_jwks` and :func:`mint_tokens` — identity's keys without identity;
* :func:`wrk` — one measurement: requests per second, p50 and p99, errors (a
  :class:`WrkScript` of the bench's own builds each request);
* :func:`print_table` and :func:`print_ratio` — the report, ``<name>: ratio X (what)``.
"""

import concurrent.futures
import contextlib
import http.server
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack import LOCALHOST, REPO_ROOT, free_port, run_sync
from devstack.kafka import KafkaBroker
from devstack.postgres import PostgresServer, create_database, ensure_installed
from kit.testing.tokens import TokenMinter

HERE = Path(__file__).resolve().parent
LOGS = REPO_ROOT / ".data" / "bench"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = 2
THREADS, CONNECTIONS = 2, 50
TOKEN_TTL_SECONDS = 900  # what identity issues; verifiers refuse longer-lived tokens
STARTUP_TIMEOUT = 60.0
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Result:
    name: str
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


@dataclass(frozen=True)
class WrkScript:
    """A wrk Lua script of a bench's own and its arguments (after ``--``) for the warm-up
    and for the run: different ones, so that the run does not repeat the warm-up's
    requests."""

    path: Path
    warmup_args: tuple[str, ...]
    run_args: tuple[str, ...]


@contextlib.contextmanager
def durable_postgres(workdir: Path) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL on production settings (never the tests' fast ones)."""
    os.chmod(workdir, 0o777)  # noqa: S103 - the postgres system user writes its data below
    server = PostgresServer(workdir / "pg", bin_dir=ensure_installed(), durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def database(server: PostgresServer, name: str) -> str:
    """Create database ``name`` on ``server``; its SQLAlchemy URL."""
    return run_sync(create_database(server.url(), name))


def dsn(url: str) -> str:
    """The libpq/asyncpg form of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.contextmanager
def kafka_broker(workdir: Path) -> Iterator[str]:
    """A broker for the bus, as in production (relays, revocation views)."""
    broker = KafkaBroker(workdir / "kafka")
    broker.start()
    try:
        broker.wait_ready()
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@contextlib.contextmanager
def serve(
    name: str, factory: str, env: dict[str, str], *, workers: int = 1, app_dir: Path = HERE
) -> Iterator[str]:
    """Run ``uvicorn --factory factory`` (importable from the repository or ``app_dir``) in
    its own process until the block ends; its URL."""
    LOGS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", LOCALHOST, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log_path = LOGS / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": f"{REPO_ROOT}:{app_dir}", **env},
            stdout=log,
            stderr=log,
        )
    url = f"http://{LOCALHOST}:{port}"
    try:
        _wait_answering(name, url, process, log_path)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_answering(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(f"{url}/healthz", timeout=1)  # any HTTP answer: the server is up
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    tail = log.read_text()[-3000:]
    raise SystemExit(f"{name} did not answer within {STARTUP_TIMEOUT} s:\n{tail}")


def serve_jwks(jwks: dict[str, object]) -> tuple[http.server.HTTPServer, str]:
    """A tiny HTTP server publishing a minter's JWKS, as identity would; and its URL."""
    body = json.dumps(jwks).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return None

    server = http.server.HTTPServer((LOCALHOST, free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOCALHOST}:{server.server_port}/jwks.json"


_MINTER: list[TokenMinter] = []  # handed to the forked minting processes


def _mint(count: int) -> list[str]:
    return [_MINTER[0].token(ttl=TOKEN_TTL_SECONDS) for _ in range(count)]


def mint_tokens(minter: TokenMinter, path: Path, count: int) -> Path:
    """``count`` tokens of distinct users in ``path`` (an RSA signature each: every core)."""
    workers = os.cpu_count() or 1
    _MINTER[:] = [minter]
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=fork) as pool:
        batches = pool.map(_mint, [-(-count // workers)] * workers)
        tokens = [token for batch in batches for token in batch][:count]
    path.write_text("\n".join(tokens) + "\n")
    return path


def wrk(
    name: str,
    url: str,
    *,
    tokens: Path | None = None,
    method: str = "GET",
    token: str | None = None,
    script: WrkScript | None = None,
) -> Result:
    """Measure ``url`` for :data:`SECONDS` after a warm-up: each request with its own token
    from ``tokens`` and ``method`` (request.lua; the warm-up uses the file's second half,
    the run starts at its first line), each built by ``script``, or each a ``GET`` with
    ``token``."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", "--latency"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]

    def arguments(first_token: int, *, warmup: bool) -> list[str]:
        if script is not None:
            args = script.warmup_args if warmup else script.run_args
            return ["-s", str(script.path), url, "--", *args]
        if tokens is None:
            return [url]
        request = ["-s", str(HERE / "request.lua"), url, "--", str(tokens), method]
        return [*request, str(THREADS), str(first_token)]

    middle = len(tokens.read_text().splitlines()) // 2 if tokens else 0
    _run([*command, f"-d{WARMUP_SECONDS}s", *arguments(middle, warmup=True)])
    output = _run([*command, f"-d{SECONDS}s", *arguments(0, warmup=False)])
    print(f"  measured {name}", file=sys.stderr, flush=True)
    return Result(
        name,
        float(_field(r"Requests/sec:\s+([\d.]+)", output)),
        _latency_ms("50%", output),
        _latency_ms("99%", output),
        _errors(output),
    )


def _run(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _errors(output: str) -> int:
    """Non-2xx/3xx answers plus socket errors (connect, read, write, timeout)."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return (int(bad[1]) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)


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


def print_table(title: str, rows: list[tuple[str, list[Result]]]) -> None:
    """Each group: the subject(s) first, its baseline last."""
    print(f"{title}: wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s, {os.cpu_count()} cores shared")
    print(f"{'line':<12} {'subject / baseline':<46} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for line, results in rows:
        for result in results:
            errors = f"  ({result.errors} errors)" if result.errors else ""
            print(
                f"{line:<12} {result.name:<46} {result.per_second:>9.1f}"
                f" {result.p50_ms:>8.2f} {result.p99_ms:>8.2f}{errors}"
            )


def print_ratio(name: str, subject: Result, baseline: Result, what: str) -> None:
    print(f"{name}: ratio {subject.per_second / baseline.per_second:.2f} ({what})")
