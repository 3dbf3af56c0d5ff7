"""Benchmark the weekend rush: signups per second on one hot event and the sold-out event
page, against the floor (:mod:`floor`: the same statements with nothing in between) and
pgbench on the same hot row, all on durable PostgreSQL.

    make bench-rush

Sets up a throwaway PostgreSQL on production settings and a Kafka broker, migrates events'
database, serves a JWKS for pre-minted tokens, starts the events service (PostgreSQL, the
bus on as in production: the outbox relay publishes every signup to Kafka, events and the
gateway keep their revocation views), the gateway in front of it and the floor app on a
database of its own (so that no relay works for it), then measures with wrk:

* ``POST /v1/events/{id}/signups`` of a hot event, every request a distinct user, through
  the gateway, directly, and on the floor; and the floor's hot-row update alone (the
  signup statement's part that holds the event row's lock); and the floor's signups again
  on a database without the outbox ordering trigger (ADR 0003), which weighs it (``ordering``);
* ``GET /v1/events/{id}`` of a sold-out event with a viewer token, the same three ways;
* pgbench: ``UPDATE hot SET n = n + 1 WHERE id = 1 AND n < 1000000000``;
* the direct signups again with events on 2 uvicorn workers instead of 1.

The gateway's per-IP limit is lifted for the run (every wrk connection comes from
127.0.0.1); its per-user limit stays.
"""

import json
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    CONNECTIONS,
    SECONDS,
    THREADS,
    Result,
    database,
    dsn,
    durable_postgres,
    kafka_broker,
    mint_tokens,
    print_ratio,
    print_table,
    serve,
    serve_jwks,
    wrk,
)
from devstack import LOCALHOST, ensure_wrk, run_sync  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from kit.bus.outbox import UNORDERING_DDL  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402

TOKENS = 60_000  # distinct users: more than a run and its warm-up sign up
HOT_CAPACITY = 100_000  # the most an event may have
EVENTS = "services.events.app:create_app"
ON_THE_FLOOR = "on the floor"


def main() -> None:
    ensure_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-rush-") as scratch,
        durable_postgres(Path(scratch)) as server,
        kafka_broker(Path(scratch)) as kafka,
    ):
        run(server, kafka, Path(scratch), TokenMinter())


def run(server: PostgresServer, kafka: str, workdir: Path, minter: TokenMinter) -> None:
    events_url, floor_url = database(server, "events_bench"), database(server, "events_floor")
    unordered_url = database(server, "events_floor_unordered")
    for url in (events_url, floor_url, unordered_url):
        upgrade("events", url)
    run_sync(drop_ordering(dsn(unordered_url)))
    jwks_server, jwks_url = serve_jwks(minter.jwks)
    signup_tokens = mint_tokens(minter, workdir / "signup-tokens.txt", TOKENS)
    viewer_tokens = mint_tokens(minter, workdir / "viewer-tokens.txt", 200)
    staff = minter.headers(roles=("staff",))
    env = {
        "EVENTS_DATABASE_URL": events_url,
        "EVENTS_DATABASE_POOL_SIZE": str(CONNECTIONS),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "PADDOCK_JWKS_URL": jwks_url,
    }
    floor_env = {"FLOOR_EVENTS_DSN": dsn(floor_url), "FLOOR_POOL_SIZE": str(CONNECTIONS)}
    unordered_env = {**floor_env, "FLOOR_EVENTS_DSN": dsn(unordered_url)}
    measured: dict[str, Result] = {}
    with (
        serve("events", EVENTS, env) as events,
        serve("gateway", "gateway.app:create_app", gateway_env(events, jwks_url, kafka)) as gw,
        serve("floor", "floor:create_app", floor_env) as floor,
        serve("floor-unordered", "floor:create_app", unordered_env) as unordered,
    ):

        def event(capacity: int, via: str, taken: dict[str, str] | None = None) -> str:
            """An event created through events; on the floor, a copy in the floor's database."""
            event_id = create_event(events, staff, capacity, taken=taken)
            if via == ON_THE_FLOOR:
                run_sync(copy_event(dsn(events_url), dsn(floor_url), event_id))
            return event_id

        fronts = {"via gateway": gw, "direct": events, ON_THE_FLOOR: floor}
        for via, target in fronts.items():
            hot = event(HOT_CAPACITY, via)
            measured[f"signups {via}"] = wrk(
                f"POST signups {via}",
                f"{target}/v1/events/{hot}/signups",
                tokens=signup_tokens,
                method="POST",
            )
        hot = create_event(events, staff, HOT_CAPACITY)
        run_sync(copy_event(dsn(events_url), dsn(unordered_url), hot))
        measured["signups unordered"] = wrk(
            "POST signups on the floor, outbox not ordered",
            f"{unordered}/v1/events/{hot}/signups",
            tokens=signup_tokens,
            method="POST",
        )
        hot = event(HOT_CAPACITY, ON_THE_FLOOR)
        measured["hot row"] = wrk(
            "POST hot-row UPDATE alone on the floor",
            f"{floor}/hot/{hot}",
            tokens=signup_tokens,
            method="POST",
        )
        for via, target in fronts.items():
            sold_out = event(1, via, taken=minter.headers())
            measured[f"page {via}"] = wrk(
                f"GET sold-out event page {via}",
                f"{target}/v1/events/{sold_out}",
                tokens=viewer_tokens,
            )
    with serve("events-2-workers", EVENTS, env, workers=2) as events:
        hot = create_event(events, staff, HOT_CAPACITY)
        measured["signups 2 workers"] = wrk(
            "POST signups direct, events on 2 workers",
            f"{events}/v1/events/{hot}/signups",
            tokens=signup_tokens,
            method="POST",
        )
    measured["pgbench"] = pgbench(server, "events_bench", workdir)
    jwks_server.shutdown()
    report(measured)


def report(measured: dict[str, Result]) -> None:
    signups = [measured[f"signups {via}"] for via in ("via gateway", "direct", ON_THE_FLOOR)]
    pages = [measured[f"page {via}"] for via in ("via gateway", "direct", ON_THE_FLOOR)]
    print_table(
        "rush (durable PostgreSQL, relay publishing to Kafka, 1 uvicorn worker)",
        [
            ("signups", [*signups, measured["signups 2 workers"], measured["signups unordered"]]),
            ("hot row", [measured["hot row"], measured["pgbench"]]),
            ("event page", pages),
        ],
    )
    gateway, direct, floor = signups
    print_ratio("rush-floor", direct, floor, "signups/s direct / floor signups/s")
    print_ratio("rush-floor-gateway", gateway, floor, "signups/s via gateway / floor signups/s")
    print_ratio("page-floor", pages[1], pages[2], "event page direct / floor event page")
    print_ratio("workers", measured["signups 2 workers"], direct, "signups/s 2 workers / 1")
    print_ratio(
        "ordering",
        floor,
        measured["signups unordered"],
        "floor signups/s / the same without the outbox ordering trigger",
    )
    print_ratio("rush", gateway, measured["pgbench"], "signups/s via gateway / pgbench hot-row TPS")
    print_ratio(
        "floor-pgbench", floor, measured["pgbench"], "floor signups/s / pgbench hot-row TPS"
    )


def gateway_env(events: str, jwks_url: str, kafka: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps({"events": events}),
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
        "PADDOCK_JWKS_URL": jwks_url,
    }


def create_event(
    base: str, staff: dict[str, str], capacity: int, *, taken: dict[str, str] | None = None
) -> str:
    """A published event open for signups, created through the API; ``taken``'s holder
    signs up to it first."""
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
        if taken is not None:
            http.post(f"/v1/events/{event_id}/signups", headers=taken).raise_for_status()
    return event_id


async def drop_ordering(target: str) -> None:
    """Take the outbox ordering trigger out of one floor database (ADR 0003), to weigh it."""
    connection = await asyncpg.connect(target)
    try:
        for statement in UNORDERING_DDL["postgresql"]:
            await connection.execute(statement)
    finally:
        await connection.close()


async def copy_event(source: str, target: str, event_id: str) -> None:
    """Copy the row of ``event_id`` between two events databases (the floor's has no API)."""
    connection = await asyncpg.connect(source)
    try:
        rows = await connection.fetch("SELECT * FROM events WHERE id = $1", uuid.UUID(event_id))
    finally:
        await connection.close()
    connection = await asyncpg.connect(target)
    try:
        await connection.copy_records_to_table("events", records=rows)
    finally:
        await connection.close()


def pgbench(server: PostgresServer, database_name: str, workdir: Path) -> Result:
    """The hot-row conditional update, as fast as PostgreSQL itself serves it."""
    assert server.bin_dir is not None, "durable_postgres gives the server its bin_dir"
    connect = ["-h", LOCALHOST, "-p", str(server.port), "-U", "postgres"]
    psql = [str(server.bin_dir / "psql"), *connect, "-d", database_name, "-tAc"]
    for statement in ("CREATE TABLE hot (id int PRIMARY KEY, n bigint NOT NULL)",
                      "INSERT INTO hot VALUES (1, 0)"):  # fmt: skip
        subprocess.run([*psql, statement], check=True, capture_output=True)
    script = workdir / "hot.sql"
    script.write_text("UPDATE hot SET n = n + 1 WHERE id = 1 AND n < 1000000000;\n")
    command = [str(server.bin_dir / "pgbench"), "-n", f"-c{CONNECTIONS}", f"-j{THREADS}"]
    command += [f"-T{SECONDS}", "-l", "-f", str(script), *connect, database_name]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=workdir)
    tps = re.search(r"tps = ([\d.]+)", output.stdout)
    assert tps, output.stdout + output.stderr
    latencies = sorted(
        int(line.split()[2]) / 1000
        for log in workdir.glob("pgbench_log.*")
        for line in log.read_text().splitlines()
    )
    p99 = latencies[int(len(latencies) * 0.99)]
    return Result("pgbench hot-row UPDATE", float(tps[1]), statistics.median(latencies), p99)


if __name__ == "__main__":
    main()
