"""Webhooks benchmark (``make bench-webhooks``): deliveries per second from the bus to a
partner's server through the whole pipeline, beside a plain HTTP client posting the same
bodies to the same server in the same run.

    make bench-webhooks
    BENCH_SECONDS=30 make bench-webhooks
    make bench-webhooks BENCH_ARGS="--profile .data/bench/webhooks-profile.txt"

Real processes on loopback, as production runs them: PostgreSQL on durable settings, a Kafka
broker, webhooks (one uvicorn worker: its consumer and its dispatcher on, tokens verified
against a JWKS) and a partner's server (``receiver.py``, a bare ASGI app under uvicorn in a
process of its own, answering 200 and recording each webhook's id, CloudEvent id and time,
and arrival). One partner and one HMAC endpoint subscribed to ``referrals.funnel.*``
(``max_in_flight`` 50) are made through the admin API with an admin's token.

* ``webhooks``: ``LeadCreated`` events, each about a referral of its own, are published to
  ``referrals.funnel`` as referrals' outbox relay publishes them (an idempotent producer,
  batches of 500 awaited), and the clock runs from the first publish until the receiver
  holds a ``webhook-id`` for every one of them: consumer (dedupe claim, message and
  delivery in one transaction), queue, dispatcher (claim, sign, POST, the attempt logged).
  N is sized from a warm-up round so that the run lasts about ``BENCH_SECONDS``;
* the baseline: a plain ``httpx.AsyncClient`` (keep-alive, 50 at a time) posting the same N
  CloudEvent bodies to the same receiver;
* beside it, not a ratio: aiohttp posting them too, what the receiver itself takes;
* ``webhooks-latency``: p50 and p99 of each webhook's first arrival minus its CloudEvent
  ``time`` (set as the event is published): event on the bus to delivery. All N events are
  published at once, so this is mostly the time an event waits behind the others.

The run fails (exit 1) unless the receiver got exactly N distinct ``webhook-id`` values, one
for each event; redeliveries of one id (at least once) are counted and reported.
``--profile FILE`` records the service with py-spy (``PY_SPY``: its path, when not on ``PATH``)
during the measured round as collapsed stacks, and prints its hottest frames and PostgreSQL's
counters per delivery (transactions, scans, rows written).
"""

import argparse
import asyncio
import collections
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    SECONDS,
    Result,
    database,
    dsn,
    durable_postgres,
    kafka_broker,
    print_ratio,
    print_table,
    serve,
    serve_jwks,
)
from contracts.referrals import REFERRALS_FUNNEL, LeadCreated  # noqa: E402
from devstack import run_sync  # noqa: E402
from kit.bus.envelope import Envelope  # noqa: E402
from kit.bus.kafka import KafkaConnection, idempotent_producer  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.testing.kafka import create_topics  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402
from services.webhooks.service.event_types import PARTNER_TOPICS, cloud_event_body  # noqa: E402

HERE = Path(__file__).resolve().parent
PARTITIONS = 6
IN_FLIGHT = 50
"""The endpoint's ``max_in_flight`` and the plain client's concurrency."""
BATCH = 500
"""Records sent before their acks are awaited, as the outbox relay sends them."""
WARMUP_EVENTS = 300
MIN_EVENTS = 100
STALL_SECONDS = 60.0
"""No new webhook for this long: the missing ones are lost (a failed attempt retries after
5 s, a lease runs out after the 15 s timeout and a 10 s margin)."""
GRACE_SECONDS = 1.0
"""After the last webhook-id arrived, how long redeliveries are still counted."""
POLL_SECONDS = 0.05
READY_TIMEOUT = 60.0
SERVICE_HOOK, PLAIN_HOOK, PLAIN_WARMUP_HOOK = "service", "plain", "plain-warmup"
PY_SPY = os.environ.get("PY_SPY", "py-spy")


@dataclass
class Arrival:
    webhook_id: str
    event_id: str
    event_time: float
    at: float


@dataclass
class Receiver:
    """What the receiver recorded under one hook name, read as it grows."""

    http: httpx.AsyncClient
    name: str
    arrivals: list[Arrival] = field(default_factory=list)

    async def fetch(self) -> None:
        response = await self.http.get(
            f"/records/{self.name}", params={"since": len(self.arrivals)}
        )
        response.raise_for_status()
        for line in response.text.splitlines():
            webhook_id, event_id, event_time, at = line.split(",")
            moment = datetime.fromisoformat(event_time).timestamp()
            self.arrivals.append(Arrival(webhook_id, event_id, moment, float(at)))

    def of(self, event_ids: Container[str]) -> list[Arrival]:
        return [arrival for arrival in self.arrivals if arrival.event_id in event_ids]

    async def wait_for(self, event_ids: dict[str, Envelope]) -> bool:
        """Until every event of ``event_ids`` arrived (then :data:`GRACE_SECONDS` more), or
        nothing new arrived for :data:`STALL_SECONDS`: whether all arrived."""
        seen: set[str] = set()
        progress = time.monotonic()
        while len(seen) < len(event_ids):
            before = len(self.arrivals)
            await self.fetch()
            seen.update(a.event_id for a in self.arrivals[before:] if a.event_id in event_ids)
            if len(self.arrivals) > before:
                progress = time.monotonic()
            elif time.monotonic() - progress > STALL_SECONDS:
                return False
            await asyncio.sleep(POLL_SECONDS)
        await asyncio.sleep(GRACE_SECONDS)
        await self.fetch()
        return True


@dataclass(frozen=True)
class Round:
    events: int
    per_second: float
    latencies_ms: list[float]
    distinct_ids: int
    events_delivered: int
    duplicates: int
    complete: bool
    service_cpu: float
    """The service's CPU seconds per wall second during the round (1.0: one core busy)."""
    event_ids: list[str]


def lead_event(referrer_id: uuid.UUID) -> Envelope:
    """A share-form lead about a referral of its own, as referrals' relay publishes it."""
    payload = LeadCreated(
        referral_id=uuid.uuid4(),
        referrer_id=referrer_id,
        referee_user_id=None,
        occurred_at=datetime.now(UTC),
        source="share_form",
    )
    return Envelope(
        type=LeadCreated.event_type,
        source="referrals",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
        sequence=1,
    )


async def publish(bootstrap: str, count: int) -> tuple[float, dict[str, Envelope]]:
    """Publish ``count`` lead events (each made as it is sent: its CloudEvent time is when
    it went out); the wall-clock time of the first send, and the events by id."""
    producer = idempotent_producer(KafkaConnection(bootstrap), client_id="bench-webhooks")
    await producer.start()
    referrer_id = uuid.uuid4()
    events: dict[str, Envelope] = {}
    try:
        started = time.time()
        for first in range(0, count, BATCH):
            acks = []
            for _ in range(first, min(first + BATCH, count)):
                envelope = lead_event(referrer_id)
                events[envelope.id] = envelope
                key, value, headers = envelope.to_record()
                acks.append(
                    await producer.send(
                        REFERRALS_FUNNEL.name, key=key, value=value, headers=headers
                    )
                )
            await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return started, events


async def pipeline_round(bootstrap: str, receiver_url: str, count: int, pid: int) -> Round:
    async with httpx.AsyncClient(base_url=receiver_url, timeout=30) as http:
        receiver = Receiver(http, SERVICE_HOOK)
        await receiver.fetch()
        cpu_before, wall_before = _cpu_seconds(pid), time.monotonic()
        started, events = await publish(bootstrap, count)
        complete = await receiver.wait_for(events)
        arrivals = receiver.of(events)
    first: dict[str, Arrival] = {}
    for arrival in arrivals:
        if arrival.webhook_id not in first or arrival.at < first[arrival.webhook_id].at:
            first[arrival.webhook_id] = arrival
    last = max((a.at for a in first.values()), default=started)
    cpu_after, wall_after = _cpu_seconds(pid), time.monotonic()
    return Round(
        events=count,
        per_second=len(first) / (last - started) if first else 0.0,
        latencies_ms=sorted((a.at - a.event_time) * 1000 for a in first.values()),
        distinct_ids=len(first),
        events_delivered=len({a.event_id for a in arrivals}),
        duplicates=len(arrivals) - len(first),
        complete=complete,
        service_cpu=(cpu_after - cpu_before) / (wall_after - wall_before),
        event_ids=list(events),
    )


async def plain_client(receiver_url: str, hook: str, bodies: list[bytes]) -> Result:
    """Post ``bodies`` to ``hook``, :data:`IN_FLIGHT` at a time on kept-alive connections."""
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    latencies: list[float] = []
    errors = 0
    work = iter(enumerate(bodies))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for n, body in work:
            headers = {
                "content-type": "application/json",
                "webhook-id": f"plain_{hook}_{n}",
                "webhook-timestamp": str(int(time.time())),
            }
            clock = time.perf_counter()
            try:
                response = await client.post(f"/hooks/{hook}", content=body, headers=headers)
                errors += response.status_code != 200
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - clock) * 1000)

    async with httpx.AsyncClient(base_url=receiver_url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
        receiver = Receiver(client, hook)
        await receiver.fetch()
    distinct = len({a.webhook_id for a in receiver.arrivals})
    if distinct != len(bodies):
        raise SystemExit(f"the plain client's {len(bodies)} posts reached the receiver {distinct}")
    latencies.sort()
    return Result(
        f"plain httpx client, keep-alive, {IN_FLIGHT} at a time",
        len(bodies) / elapsed,
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        errors,
    )


async def aiohttp_client(receiver_url: str, hook: str, bodies: list[bytes]) -> Result:
    """The same with aiohttp: what the receiver takes (httpx's pool is slow at 50 concurrent
    requests, encode/httpx#3215), beside the plain client."""
    latencies: list[float] = []
    errors = 0
    work = iter(enumerate(bodies))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for n, body in work:
            headers = {"content-type": "application/json", "webhook-id": f"aiohttp_{hook}_{n}"}
            clock = time.perf_counter()
            try:
                async with session.post(
                    f"{receiver_url}/hooks/{hook}", data=body, headers=headers
                ) as r:
                    await r.read()
                    errors += r.status != 200
            except aiohttp.ClientError:
                errors += 1
            latencies.append((time.perf_counter() - clock) * 1000)

    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        f"aiohttp client, keep-alive, {IN_FLIGHT} at a time",
        len(bodies) / elapsed,
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        errors,
    )


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_pid(url: str) -> int:
    """The uvicorn process serving ``url`` (one worker: uvicorn serves in its own process)."""
    port = url.rsplit(":", 1)[1]
    found = subprocess.run(
        ["pgrep", "-f", f"services.webhooks.app:create_app .*--port {port} "],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if len(found) != 1:
        raise SystemExit(f"expected one webhooks process on port {port}, found {found}")
    return int(found[0])


async def create_bus_topics(kafka: str) -> None:
    """Every topic webhooks reads and their dead-letter twins, before it subscribes."""
    names = sorted({name for topic in PARTNER_TOPICS for name in (topic.name, topic.dlq)})
    await create_topics(kafka, names, partitions=PARTITIONS)


async def wait_ready(service: str) -> None:
    """Until ``/readyz`` says ready: database, consumer and dispatcher up."""
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=service, timeout=5) as http:
        while True:
            body = (await http.get("/readyz")).json()
            if body.get("status") == "ready":
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"webhooks not ready after {READY_TIMEOUT:.0f} s: {body}")
            await asyncio.sleep(0.2)


async def partner_endpoint(service: str, receiver: str, minter: TokenMinter) -> None:
    """One partner and one HMAC endpoint at the receiver, through the admin API."""
    admin = minter.headers(uuid.uuid4(), ("admin",))
    async with httpx.AsyncClient(base_url=service, timeout=30, headers=admin) as http:
        partner = await http.post(
            "/v1/partner-apps",
            json={"slug": "bench", "name": "Bench partner", "contact_email": "bench@example.com"},
        )
        if partner.status_code != 201:
            raise SystemExit(f"POST /v1/partner-apps: {partner.status_code} {partner.text[:300]}")
        partner_id = partner.json()["partner"]["id"]
        endpoint = await http.post(
            f"/v1/partner-apps/{partner_id}/endpoints",
            json={
                "url": f"{receiver}/hooks/{SERVICE_HOOK}",
                "event_types": ["referrals.funnel.*"],
                "signing": "hmac",
                "max_in_flight": IN_FLIGHT,
            },
        )
        if endpoint.status_code != 201:
            raise SystemExit(f"POST endpoints: {endpoint.status_code} {endpoint.text[:300]}")


COUNTS = """
SELECT (SELECT count(*) FROM messages),
       (SELECT count(*) FROM deliveries WHERE status = 'succeeded'),
       (SELECT count(*) FROM deliveries WHERE status <> 'succeeded'),
       (SELECT count(*) FROM attempts),
       (SELECT count(*) FROM attempts WHERE NOT succeeded)
"""


async def pipeline_counts(url: str) -> tuple[int, int, int, int, int]:
    connection = await asyncpg.connect(dsn(url))
    try:
        row = await connection.fetchrow(COUNTS)
    finally:
        await connection.close()
    assert row is not None
    messages, succeeded, unfinished, attempts, failed = row
    return messages, succeeded, unfinished, attempts, failed


DATABASE_STATS = """
SELECT 'transactions' AS what, xact_commit + xact_rollback AS n
FROM pg_stat_database WHERE datname = current_database()
UNION ALL
SELECT relname || ' ' || kind, n FROM pg_stat_user_tables,
LATERAL (VALUES ('seq scans', seq_scan), ('index scans', coalesce(idx_scan, 0)),
                ('rows inserted', n_tup_ins), ('rows updated', n_tup_upd)) AS stat(kind, n)
WHERE relname IN ('deliveries', 'attempts', 'messages', 'endpoints', 'processed_events')
"""


async def database_stats(url: str) -> dict[str, int]:
    """Counters of PostgreSQL's statistics views (they lag up to 0.5 s: wait before)."""
    await asyncio.sleep(1)
    connection = await asyncpg.connect(dsn(url))
    try:
        return {row["what"]: int(row["n"]) for row in await connection.fetch(DATABASE_STATS)}
    finally:
        await connection.close()


def print_database_stats(before: dict[str, int], after: dict[str, int], deliveries: int) -> None:
    print(f"database, per delivery of the run ({deliveries}):")
    for what in sorted(after):
        print(f"  {what:<34} {(after[what] - before.get(what, 0)) / deliveries:8.2f}")


STAGES = """
WITH run AS (
    SELECT m.created_at AS queued, d.claimed_at AS claimed, a.started_at AS started,
           a.duration_ms, d.succeeded_at AS recorded
    FROM messages m
    JOIN deliveries d ON d.message_id = m.id
    JOIN attempts a ON a.delivery_id = d.id AND a.attempt = d.attempts
    WHERE m.event_id = ANY($1::text[])
)
SELECT count(*) / nullif(extract(epoch FROM max(queued) - min(queued)), 0),
       count(*) / nullif(extract(epoch FROM max(recorded) - min(claimed)), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed - queued)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started - claimed)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM recorded - started)
                                          - duration_ms / 1000.0)
FROM run
"""


async def stages(url: str, event_ids: list[str]) -> str:
    """Where the run's deliveries spent their time, from the service's own timestamps."""
    connection = await asyncpg.connect(dsn(url))
    try:
        row = await connection.fetchrow(STAGES, event_ids)
    finally:
        await connection.close()
    assert row is not None
    queued, sent, wait, start, post, record = (float(v or 0) for v in row)
    return (
        f"stages: the consumer queued {queued:.1f} messages/s, the dispatcher sent"
        f" {sent:.1f}/s; medians: queued to claimed {wait * 1000:.0f} ms, claimed to POST"
        f" {start * 1000:.0f} ms, POST {post:.0f} ms,"
        f" answered to its record begun {record * 1000:.0f} ms"
    )


class Profiler:
    """py-spy recording one process as collapsed stacks, until :meth:`stop`."""

    def __init__(self, pid: int, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        command = [PY_SPY, "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
        self.process = subprocess.Popen(
            [*command, "--rate", "200", "--output", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        self.process.send_signal(2)  # SIGINT: py-spy writes its output and exits
        _, stderr = self.process.communicate(timeout=60)
        if not self.path.exists():
            raise SystemExit(f"py-spy wrote nothing: {stderr.decode()[-2000:]}")


def summarize_profile(path: Path, top: int = 25) -> None:
    """The frames with the most samples on the stack (inclusive) and on top (self)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [frame.split(" (", 1)[0] + _where(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    print(f"profile: {total} samples of the service while busy ({path})")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"  top {top} by {title}:")
        for frame, samples in counter.most_common(top):
            print(f"    {100 * samples / total:5.1f}%  {frame}")


def _where(frame: str) -> str:
    """`` (file)`` of a py-spy frame ``name (path:line)``, the path from the package on."""
    if " (" not in frame:
        return ""
    location = frame.split(" (", 1)[1].rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in location:
            location = location.split(marker, 1)[1]
    return f" ({location})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, help="py-spy the service's measured round")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-webhooks-") as scratch,
        durable_postgres(Path(scratch)) as server,
        kafka_broker(Path(scratch)) as kafka,
    ):
        url = database(server, "webhooks_bench")
        upgrade("webhooks", url)
        run_sync(create_bus_topics(kafka))
        minter = TokenMinter()
        jwks_server, jwks_url = serve_jwks(minter.jwks)
        env = {
            "PADDOCK_ENV": "development",
            "WEBHOOKS_DATABASE_URL": url,
            "WEBHOOKS_REQUIRE_HTTPS": "false",
            "WEBHOOKS_ALLOWED_TARGETS": '["127.0.0.0/8"]',
            "WEBHOOKS_SECRETS_KEY": "bench-" + uuid.uuid4().hex,
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "PADDOCK_JWKS_URL": jwks_url,
        }
        with (
            serve("webhooks-receiver", "receiver:create_app", {}, app_dir=HERE) as receiver,
            serve("webhooks", "services.webhooks.app:create_app", env) as service,
        ):
            pid = service_pid(service)
            run_sync(wait_ready(service))
            run_sync(partner_endpoint(service, receiver, minter))
            warmup = run_sync(pipeline_round(kafka, receiver, WARMUP_EVENTS, pid))
            if not warmup.complete:
                raise SystemExit(lost("warm-up", warmup))
            count = max(MIN_EVENTS, round(warmup.per_second * SECONDS))
            print(
                f"  warm-up: {WARMUP_EVENTS} events, {warmup.per_second:.0f}/s;"
                f" the run sends {count}",
                file=sys.stderr,
                flush=True,
            )
            stats_before = run_sync(database_stats(url)) if args.profile else {}
            profiler = Profiler(pid, args.profile) if args.profile else None
            try:
                measured = run_sync(pipeline_round(kafka, receiver, count, pid))
            finally:
                if profiler:
                    profiler.stop()
            print("  measured webhooks", file=sys.stderr, flush=True)
            stats_after = run_sync(database_stats(url)) if args.profile else {}
            counts = run_sync(pipeline_counts(url))
            where = run_sync(stages(url, measured.event_ids))
            bodies = [cloud_event_body(lead_event(uuid.uuid4())).encode() for _ in range(count)]
            run_sync(plain_client(receiver, PLAIN_WARMUP_HOOK, bodies[:WARMUP_EVENTS]))
            baseline = run_sync(plain_client(receiver, PLAIN_HOOK, bodies))
            ceiling = run_sync(aiohttp_client(receiver, "aiohttp", bodies))
            print("  measured the plain client", file=sys.stderr, flush=True)
        jwks_server.shutdown()
    report(measured, baseline, ceiling, counts, len(bodies[0]))
    print(where)
    if args.profile:
        print_database_stats(stats_before, stats_after, count)
        summarize_profile(args.profile)
    if not measured.complete or measured.distinct_ids != count:
        raise SystemExit(lost("run", measured))


def lost(what: str, result: Round) -> str:
    return (
        f"webhooks {what}: FAILED, the receiver got {result.distinct_ids} distinct webhook-ids"
        f" for {result.events_delivered} of {result.events} events (.data/bench/webhooks.log)"
    )


def report(
    measured: Round,
    baseline: Result,
    ceiling: Result,
    counts: tuple[int, int, int, int, int],
    body_bytes: int,
) -> None:
    subject = Result(
        "events on referrals.funnel -> webhooks delivered",
        measured.per_second,
        percentile(measured.latencies_ms, 0.50),
        percentile(measured.latencies_ms, 0.99),
        counts[4],
    )
    print_table(
        f"webhooks ({measured.events} LeadCreated events, {body_bytes}-byte bodies, one HMAC"
        f" endpoint, max_in_flight {IN_FLIGHT}; durable PostgreSQL, Kafka, 1 uvicorn worker;"
        " not wrk: subject p50/p99 = event on the bus to delivery, baseline = per post)",
        [("webhooks", [subject, baseline]), ("(receiver)", [ceiling])],
    )
    messages, succeeded, unfinished, attempts, failed = counts
    print(
        f"receiver: {measured.distinct_ids} distinct webhook-ids for {measured.events_delivered}"
        f" of {measured.events} events, {measured.duplicates} duplicate deliveries (at least"
        f" once); service: {messages} messages, {succeeded} deliveries succeeded,"
        f" {unfinished} not, {attempts} attempts logged ({failed} failed), warm-up included;"
        f" its CPU {measured.service_cpu:.2f} cores during the run"
    )
    print_ratio("webhooks", subject, baseline, "deliveries/s / plain client posts/s")
    print(
        f"webhooks-latency: p50 {subject.p50_ms:.0f} ms, p99 {subject.p99_ms:.0f} ms"
        " (event on the bus to delivery)"
    )


if __name__ == "__main__":
    main()
