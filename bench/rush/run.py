"""Benchmark the weekend rush: signups per second on one hot event against PostgreSQL's own
speed at the same hot-row update, and the sold-out event page against a plain FastAPI hello.

    make bench-rush

Sets up a throwaway PostgreSQL and a Kafka broker, migrates events' database, serves a
JWKS for pre-minted tokens, starts the events service with uvicorn (one worker,
PostgreSQL, the bus on as in production: the outbox relay publishes every signup to Kafka,
and events and the gateway keep their revocation views), creates a hot event, then runs,
each for
``DURATION`` seconds with ``CONNECTIONS`` connections:

* wrk: ``POST /v1/events/{id}/signups`` through the gateway, every request a distinct
  user (pre-minted tokens), and the same directly against events (for reference);
* pgbench: ``UPDATE hot SET n = n + 1 WHERE id = 1 AND n < 1000000000`` (the baseline);
* wrk: ``GET /v1/events/{id}`` of a sold-out event with a viewer token, through the gateway
  and directly, and ``GET /hello`` of a plain FastAPI app (the page's baseline).

The gateway's per-IP limit is lifted for the run (every wrk connection comes from
127.0.0.1); its per-user limit stays. The ratio is the gateway's signups/s over pgbench.
"""

import concurrent.futures
import contextlib
import http.server
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from devstack import LOCALHOST, ensure_wrk, free_port, run_sync  # noqa: E402
from devstack.kafka import KafkaBroker  # noqa: E402
from devstack.postgres import PostgresServer, create_database, ensure_installed  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402

HERE = Path(__file__).resolve().parent
LOGS = REPO / ".data" / "bench-rush"  # the services' own logs, one file each
TOKEN_TTL_SECONDS = 900  # what identity issues; verifiers refuse longer-lived tokens
DURATION = 10
CONNECTIONS = 50
THREADS = 2
TOKENS = 40_000  # distinct users: more than a run signs up, so none signs up twice
HOT_CAPACITY = 100_000
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Result:
    name: str
    per_second: float
    p50_ms: float
    p99_ms: float


def serve_jwks(jwks: dict[str, object]) -> tuple[http.server.HTTPServer, str]:
    """A tiny HTTP server publishing the minter's JWKS, as identity would."""
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


@contextlib.contextmanager
def uvicorn(target: str, port: int, env: dict[str, str], *extra: str) -> Iterator[str]:
    command = [
        str(REPO / ".venv/bin/uvicorn"),
        target,
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]
    log = LOGS / f"{target.split(':')[0].replace('.', '-')}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=output, stderr=output
        )
    base = f"http://{LOCALHOST}:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server at {base} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"server at {base} did not start in {STARTUP_TIMEOUT}s")


def create_event(base: str, staff: dict[str, str], capacity: int) -> str:
    now = datetime.now(UTC)
    body = {
        "title": "Hot salon",
        "category": "salon",
        "city": "Shanghai",
        "capacity": capacity,
        "starts_at": (now + timedelta(days=2)).isoformat(),
        "ends_at": (now + timedelta(days=2, hours=2)).isoformat(),
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
    }
    with httpx.Client(base_url=base, headers=staff, timeout=10) as http:
        created = http.post("/v1/events", json=body)
        created.raise_for_status()
        event_id: str = created.json()["id"]
        http.post(f"/v1/events/{event_id}/publish").raise_for_status()
    return event_id


def wrk(url: str, tokens: Path, method: str) -> tuple[str, float]:
    """Run wrk; return its output and the run's wall time."""
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}s",
        "--latency",
        "-s",
        str(HERE / "request.lua"),
        url,
        "--",
        str(tokens),
        method,
        str(THREADS),
    ]
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return output, time.monotonic() - started


def wrk_result(name: str, output: str, per_second: float | None = None) -> Result:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    if per_second is None:
        match = re.search(r"Requests/sec:\s+([\d.]+)", output)
        assert match, output
        per_second = float(match.group(1))
    return Result(name, per_second, latency("50"), latency("99"))


def count_signups(server: PostgresServer, database: str, event_id: str) -> int:
    query = f"SELECT count(*) FROM signups WHERE event_id = '{uuid.UUID(event_id)}'"  # noqa: S608
    return int(psql(server, database, query))


def tool(server: PostgresServer, name: str) -> str:
    assert server.bin_dir is not None, "the benchmark passes the server its bin_dir"
    return str(server.bin_dir / name)


def psql(server: PostgresServer, database: str, sql: str) -> str:
    command = [tool(server, "psql"), "-h", LOCALHOST, "-p", str(server.port)]
    command += ["-U", "postgres", "-d", database, "-tAc", sql]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def pgbench(server: PostgresServer, database: str, workdir: Path) -> Result:
    """The hot-row conditional update, as fast as PostgreSQL itself serves it."""
    psql(server, database, "CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL)")
    psql(server, database, "INSERT INTO hot VALUES (1, 0)")
    script = workdir / "hot.sql"
    script.write_text("UPDATE hot SET n = n + 1 WHERE id = 1 AND n < 1000000000;\n")
    command = [tool(server, "pgbench"), "-n", f"-c{CONNECTIONS}", f"-j{THREADS}"]
    command += [f"-T{DURATION}", "-l", "-f", str(script), "-h", LOCALHOST]
    command += ["-p", str(server.port), "-U", "postgres", database]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=workdir)
    match = re.search(r"tps = ([\d.]+)", output.stdout)
    assert match, output.stdout + output.stderr
    latencies = sorted(
        int(line.split()[2]) / 1000
        for log in workdir.glob("pgbench_log.*")
        for line in log.read_text().splitlines()
    )
    p99 = latencies[int(len(latencies) * 0.99)]
    return Result(
        "pgbench hot-row UPDATE", float(match.group(1)), statistics.median(latencies), p99
    )


_MINTER: list[TokenMinter] = []  # handed to the forked minting processes


def _mint(count: int) -> list[str]:
    return [_MINTER[0].token(ttl=TOKEN_TTL_SECONDS) for _ in range(count)]


def mint_tokens(minter: TokenMinter, path: Path, count: int) -> None:
    """``count`` tokens of distinct users (an RSA signature each, so on every core)."""
    workers = os.cpu_count() or 1
    _MINTER[:] = [minter]
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=fork) as pool:
        batches = pool.map(_mint, [-(-count // workers)] * workers)
        tokens = [token for batch in batches for token in batch][:count]
    path.write_text("\n".join(tokens) + "\n")


def gateway_env(events: str, jwks_url: str, kafka: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps({"events": events}),
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
        "PADDOCK_JWKS_URL": jwks_url,
    }


def print_table(rows: list[tuple[str, list[Result]]]) -> None:
    """Each line: the subject(s) first, its baseline last."""
    print(f"{'line':<12} {'subject / baseline':<44} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for line, results in rows:
        for result in results:
            print(
                f"{line:<12} {result.name:<44} {result.per_second:>9.1f}"
                f" {result.p50_ms:>8.2f} {result.p99_ms:>8.2f}"
            )


def main() -> None:
    ensure_wrk()
    LOGS.mkdir(parents=True, exist_ok=True)
    bin_dir = ensure_installed()
    minter = TokenMinter()
    with tempfile.TemporaryDirectory(prefix="paddock-bench-rush-") as scratch:
        workdir = Path(scratch)
        os.chmod(workdir, 0o777)  # noqa: S103 - the postgres user writes its data below
        server = PostgresServer(workdir / "pg", bin_dir=bin_dir)
        broker = KafkaBroker(workdir / "kafka")
        server.start()
        try:
            broker.start()
            broker.wait_ready()
            run(server, broker.bootstrap_servers, workdir, minter)
        finally:
            broker.stop()
            server.stop()


def run(server: PostgresServer, kafka: str, workdir: Path, minter: TokenMinter) -> None:
    database = "events_bench"
    url = run_sync(create_database(server.url(), database))
    upgrade("events", url)
    jwks_server, jwks_url = serve_jwks(minter.jwks)
    signup_tokens, viewer_tokens = workdir / "signup-tokens.txt", workdir / "viewer-tokens.txt"
    mint_tokens(minter, signup_tokens, TOKENS)
    mint_tokens(minter, viewer_tokens, 200)
    env = {
        "EVENTS_DATABASE_URL": url,
        "EVENTS_DATABASE_POOL_SIZE": str(CONNECTIONS),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "PADDOCK_JWKS_URL": jwks_url,
    }
    staff = minter.headers(roles=("staff",))
    with (
        uvicorn("services.events.app:create_app", free_port(), env, "--factory") as base,
        uvicorn(
            "gateway.app:create_app", free_port(), gateway_env(base, jwks_url, kafka), "--factory"
        ) as gateway,
    ):
        measured = {}
        for via, target in (("gateway", gateway), ("direct", base)):
            hot = create_event(base, staff, HOT_CAPACITY)
            output, wall = wrk(f"{target}/v1/events/{hot}/signups", signup_tokens, "POST")
            signed_up = count_signups(server, database, hot) / wall
            measured[f"signups {via}"] = wrk_result(
                f"POST signups via {via} (distinct users)", output, signed_up
            )
        sold_out = create_event(base, staff, 1)
        httpx.post(
            f"{base}/v1/events/{sold_out}/signups", headers=minter.headers()
        ).raise_for_status()
        for via, target in (("gateway", gateway), ("direct", base)):
            measured[f"page {via}"] = wrk_result(
                f"GET sold-out event page via {via}",
                wrk(f"{target}/v1/events/{sold_out}", viewer_tokens, "GET")[0],
            )
    baseline = pgbench(server, database, workdir)
    with uvicorn("hello:app", free_port(), {}, "--app-dir", str(HERE)) as hello_base:
        hello = wrk_result(
            "plain FastAPI GET /hello", wrk(f"{hello_base}/hello", viewer_tokens, "GET")[0]
        )
    jwks_server.shutdown()
    setup = f"{CONNECTIONS} connections, {DURATION}s each, 1 uvicorn worker"
    print(f"rush: {setup}, {os.cpu_count()} cores")
    print_table(
        [
            ("signups", [measured["signups gateway"], measured["signups direct"], baseline]),
            ("event page", [measured["page gateway"], measured["page direct"], hello]),
        ]
    )
    ratio = measured["signups gateway"].per_second / baseline.per_second
    print(f"rush: ratio {ratio:.2f} (signups/s / pgbench hot-row TPS)")


if __name__ == "__main__":
    main()
