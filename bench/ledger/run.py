"""Ledger benchmark (``make bench-ledger``): how fast rewards credits what content announces,
how soon a member sees it, and the leaderboard read at a million accounts.

    make bench-ledger                                        # 20,000 events, 1,000,000 accounts
    .venv/bin/python bench/ledger/run.py --events 5000 --accounts 100000
    .venv/bin/python bench/ledger/run.py --parts ledger      # or visible, leaderboard

Real processes on loopback, as production runs them: PostgreSQL on durable settings, a Kafka
broker, rewards (one uvicorn worker; its outbox relay, consumers and revocation view on) and
the gateway in front of it and of a plain FastAPI hello app (bench/gateway's). Three parts:

* ``ledger``: ``--events`` ``content.post.liked.v1`` CloudEvents (kit's envelope, binary
  mode, keyed by post) about posts of ``--events / 2`` distinct authors, so that no daily
  cap holds an author back, are produced to a fresh topic of 6 partitions. A no-op aiokafka
  consumer drains it (a group of its own, committing per batch as kit's consumer does),
  then rewards' own :class:`kit.bus.consumer.EventConsumer` of its ``content-posts``
  subscription (the earning rules, the caps, the ledger entries and balances, the
  processed-event row, one transaction per event) reads the same records. Each rate is
  events over the time from the first record handled to the last (joining the group is
  not counted, for either); after the run, the points entries must add up to the balances.
  Beside them, one durable commit per event: a processed-event row per transaction, one
  after the other (kit's consumer commits each event on its own);
* ``visible``: one like at a time on ``content.posts`` about a new author's post, timed from
  the send until the author's ``GET /v1/me/wallet`` through the gateway shows the points;
* ``leaderboard``: ``--accounts`` accounts written by ``COPY`` (community value lognormal
  over the four dimensions, all of it this year and part this quarter, tier by the seeded
  thresholds), then wrk through the gateway, a different seeded member's token on each
  request: the top 100 (``GET /v1/leaderboards/value?limit=100``), the caller's rank
  (``GET /v1/me/rank``: exact within 10,000, estimated from the boards' snapshot further
  down, taken after the seed as the jobs take it) and ``GET /hello`` with the same tokens.
"""

import argparse
import asyncio
import bisect
import concurrent.futures
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    CONNECTIONS,
    TOKEN_TTL_SECONDS,
    Result,
    database,
    dsn,
    durable_postgres,
    kafka_broker,
    print_ratio,
    print_table,
    serve,
    serve_jwks,
    wrk,
)
from contracts.content import PostLiked  # noqa: E402
from devstack import ensure_wrk, run_sync  # noqa: E402
from gateway.config import DEFAULT_ROUTES  # noqa: E402
from kit.bus.consumer import EventConsumer  # noqa: E402
from kit.bus.envelope import Envelope  # noqa: E402
from kit.bus.kafka import KafkaConnection, committed_reader, idempotent_producer  # noqa: E402
from kit.db import Database  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.service import Subscription  # noqa: E402
from kit.testing.kafka import create_topics  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402
from services.rewards.consumers import SUBSCRIPTIONS  # noqa: E402
from services.rewards.service import leaderboards  # noqa: E402

EVENTS = 20_000
ACCOUNTS = 1_000_000
PARTITIONS = 6
WARMUP_EVENTS = 1_000
BATCH = 500
SUBSCRIPTION = "content-posts"
TRIALS = 100
VISIBLE_TIMEOUT = 10.0
CONSUME_TIMEOUT = 3600.0
POLL_SECONDS = 0.005
READERS = 10_000
LEADERBOARD = "/v1/leaderboards/value?limit=100"
RANK = "/v1/me/rank"
HELLO = "/hello"
COPY_BATCH = 100_000
CITIES = ("Shanghai", "Beijing", "Hefei", "Shenzhen", "Chengdu", "Oslo", "Berlin", "Munich")
DIMENSION_SHARES = (0.6, 0.25, 0.1, 0.05)  # interaction, development, efficiency, special
PARTS = ("ledger", "visible", "leaderboard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    arguments = parser.parse_args()
    parts = set(arguments.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(parts - set(PARTS)))}")
    if parts & {"visible", "leaderboard"}:
        ensure_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-ledger-") as scratch,
        durable_postgres(Path(scratch)) as server,
        kafka_broker(Path(scratch)) as kafka,
    ):
        url = database(server, "rewards_bench")
        upgrade("rewards", url)
        rates = run_sync(credit_rates(url, kafka, arguments.events)) if "ledger" in parts else None
        if parts & {"visible", "leaderboard"}:
            served(url, kafka, Path(scratch), parts, arguments.accounts, rates)
        elif rates is not None:
            report(rates=rates)


def subscription() -> Subscription:
    """Rewards' subscription that credits likes (services/rewards/consumers.py)."""
    found = {candidate.name: candidate for candidate in SUBSCRIPTIONS}.get(SUBSCRIPTION)
    if found is None or PostLiked not in found.handlers:
        raise SystemExit(
            f"rewards has no {SUBSCRIPTION!r} subscription handling {PostLiked.event_type}"
            " (services/rewards/consumers.py SUBSCRIPTIONS): nothing to measure"
        )
    return found


def likes(count: int, rng: random.Random) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """``count`` likes of posts by ``count // 2`` authors (two likes each), as content's
    relay sends them: one record per like, keyed by the post."""
    authors = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(max(count // 2, 1))]
    posts = {author: uuid.UUID(int=rng.getrandbits(128), version=4) for author in authors}
    records = []
    for n in range(count):
        author = authors[n % len(authors)]
        liker = uuid.UUID(int=rng.getrandbits(128), version=4)
        payload = PostLiked(
            post_id=posts[author], author_id=author, user_id=liker, like_count=n // len(authors) + 1
        )
        envelope = Envelope(
            type=PostLiked.event_type,
            source="content",
            subject=payload.subject(),
            data=payload.model_dump(mode="json"),
            actor=str(liker),
        )
        records.append(envelope.to_record())
    return records


async def produce(
    kafka: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    await create_topics(kafka, [topic], partitions=PARTITIONS)
    producer: AIOKafkaProducer = idempotent_producer(
        KafkaConnection(kafka), client_id="bench-ledger"
    )
    await producer.start()
    try:
        for first in range(0, len(records), BATCH):
            deliveries = [
                await producer.send(topic, key=key, value=value, headers=headers)
                for key, value, headers in records[first : first + BATCH]
            ]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def no_op(kafka: str, topic: str, count: int) -> Result:
    """Drain ``topic`` doing nothing with the records but committing them per partition
    batch, as kit's consumer commits; events/s from the first record to the last."""
    reader = committed_reader(
        KafkaConnection(kafka), topic, group_id=f"bench.no-op.{topic}", client_id="bench-no-op"
    )
    await reader.start()
    seen, first, last = 0, 0.0, 0.0
    try:
        while seen < count:
            batches = await reader.getmany(timeout_ms=500, max_records=200)
            for partition, records in batches.items():
                if not seen:
                    first = time.perf_counter()
                seen += len(records)
                await reader.commit({partition: records[-1].offset + 1})
            last = time.perf_counter()
    finally:
        await reader.stop()
    return Result("no-op aiokafka consumer", (count - 1) / (last - first), 0.0, 0.0)


PROCESSED = """
SELECT count(*), min(processed_at), max(processed_at) FROM processed_events
WHERE consumer = $1 AND processed_at >= $2
"""


async def credited(url: str, kafka: str, topic: str, count: int, name: str) -> Result:
    """Rewards' consumer of :data:`SUBSCRIPTION` on ``topic`` until ``count`` events are
    processed; events/s from the first claim to the last (``processed_events``)."""
    chosen = subscription()
    db = Database(url, service="rewards", pool_size=5)
    consumer = EventConsumer(
        name=chosen.name,
        service="rewards",
        database=db,
        kafka=KafkaConnection(kafka),
        handlers=chosen.handlers,
    )
    consumer.topics = [topic]  # the same handlers, on this run's own topic
    connection = await asyncpg.connect(dsn(url))
    since = datetime.now(UTC)
    deadline = time.monotonic() + CONSUME_TIMEOUT
    try:
        await consumer.start()
        while True:
            processed, first, last = await connection.fetchrow(PROCESSED, chosen.name, since)
            if processed >= count:
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{chosen.name} processed {processed} of {count} events in"
                    f" {CONSUME_TIMEOUT:.0f} s: {consumer._last_error or 'no error reported'}"
                )
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
        await db.dispose()
        await connection.close()
    return Result(name, (processed - 1) / (last - first).total_seconds(), 0.0, 0.0)


COMMIT_FLOOR_EVENTS = 500
CLAIM = """
INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('bench-floor', $1, now())
"""


async def commit_floor(url: str) -> Result:
    """What one durable commit per event allows: a processed-event row per transaction,
    one after the other (what a consumer's claim costs with no handler at all)."""
    connection = await asyncpg.connect(dsn(url))
    try:
        started = time.perf_counter()
        for _ in range(COMMIT_FLOOR_EVENTS):
            async with connection.transaction():
                await connection.execute(CLAIM, str(uuid.uuid4()))
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    return Result("one durable commit per event", COMMIT_FLOOR_EVENTS / elapsed, 0.0, 0.0)


@dataclass(frozen=True)
class Rates:
    """The ``ledger`` part's outcome."""

    credited: Result
    floor: Result
    commits: Result
    events: int
    entries: int
    """Ledger entries the likes wrote (points and value; the warm-up's included)."""


ADDS_UP = """
SELECT (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE currency = 'points'),
       (SELECT coalesce(sum(points + pending_points - debt), 0) FROM accounts),
       (SELECT count(*) FROM ledger_entries WHERE source_type = $1)
"""


async def credit_rates(url: str, kafka: str, count: int) -> Rates:
    rng = random.Random(11)
    warm, measured = (f"bench.ledger.{part}.{uuid.uuid4().hex[:6]}" for part in ("warm-up", "run"))
    await produce(kafka, warm, likes(WARMUP_EVENTS, rng))
    await produce(kafka, measured, likes(count, rng))
    floor = await no_op(kafka, measured, count)
    print(f"ledger: {floor.name} {floor.per_second:.0f} events/s", flush=True)
    await credited(url, kafka, warm, WARMUP_EVENTS, "warm-up")
    subject = await credited(url, kafka, measured, count, "rewards' content-posts consumer")
    connection = await asyncpg.connect(dsn(url))
    try:
        entries, balances, credits = await connection.fetchrow(ADDS_UP, PostLiked.event_type)
    finally:
        await connection.close()
    if entries != balances:
        raise SystemExit(f"points entries sum to {entries}, balances to {balances}")
    commits = await commit_floor(url)
    return Rates(credited=subject, floor=floor, commits=commits, events=count, entries=credits)


def served(
    url: str, kafka: str, workdir: Path, parts: set[str], accounts: int, rates: Rates | None
) -> None:
    minter = TokenMinter()
    jwks_server, jwks_url = serve_jwks(minter.jwks)
    run_sync(create_subscribed_topics(kafka))
    env = {
        "REWARDS_DATABASE_URL": url,
        "REWARDS_DATABASE_POOL_SIZE": str(CONNECTIONS),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "PADDOCK_JWKS_URL": jwks_url,
    }
    visible: list[float] = []
    measured: dict[str, Result] = {}
    with (
        serve("rewards", "services.rewards.app:create_app", env) as rewards,
        serve("hello", "baselines:hello", {}, app_dir=REPO / "bench" / "gateway") as hello,
        serve(
            "gateway", "gateway.app:create_app", gateway_env(rewards, hello, jwks_url, kafka)
        ) as gw,
    ):
        if "visible" in parts:
            subscription()
            visible = run_sync(visible_after_like(gw, kafka, minter))
        if "leaderboard" in parts:
            seeded = run_sync(seed_accounts(dsn(url), accounts))
            run_sync(snapshot_boards(url))
            readers = random.Random(5).sample(seeded, min(READERS, len(seeded)))
            tokens = mint_tokens_of(minter, workdir / "reader-tokens.txt", readers)
            answered(gw, [LEADERBOARD, RANK], minter.headers(readers[0]))
            for name, path in (("top 100", LEADERBOARD), ("my rank", RANK), ("hello", HELLO)):
                measured[name] = wrk(f"GET {path} via gateway", f"{gw}{path}", tokens=tokens)
    jwks_server.shutdown()
    report(rates=rates, visible=visible, measured=measured, accounts=accounts)


async def snapshot_boards(url: str) -> None:
    """What the jobs do every run: the boards' snapshots deep ranks are estimated from."""
    started = time.monotonic()
    database = Database(url, service="rewards")
    try:
        async with database.transaction() as session:
            taken = await leaderboards.take_snapshots(session=session, now=datetime.now(UTC))
    finally:
        await database.dispose()
    print(f"snapshots: {taken} boards in {time.monotonic() - started:.1f} s", flush=True)


async def create_subscribed_topics(kafka: str) -> None:
    """Every topic rewards' consumers read, and their dead-letter twins (a fresh broker)."""
    topics = {model.topic for candidate in SUBSCRIPTIONS for model in candidate.handlers}
    names = sorted({name for topic in topics for name in (topic.name, topic.dlq)})
    if names:
        await create_topics(kafka, names, partitions=PARTITIONS)


def gateway_env(rewards: str, hello: str, jwks_url: str, kafka: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps({"rewards": rewards, "hello": hello}),
        "GATEWAY_ROUTES": json.dumps({**DEFAULT_ROUTES, HELLO: "hello"}),
        "GATEWAY_RATE_LIMIT_PER_USER": "100000000/minute",
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
        "PADDOCK_JWKS_URL": jwks_url,
    }


async def visible_after_like(gateway: str, kafka: str, minter: TokenMinter) -> list[float]:
    """Milliseconds from sending a like of a new author's post to ``content.posts`` until
    the author's wallet through the gateway shows the points, for each of :data:`TRIALS`
    (after one like that waits for rewards' consumer to join its group)."""
    producer: AIOKafkaProducer = idempotent_producer(
        KafkaConnection(kafka), client_id="bench-visible"
    )
    await producer.start()
    took: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
            await _one_like(producer, http, minter, within=120.0)
            for _ in range(TRIALS):
                took.append(await _one_like(producer, http, minter, within=VISIBLE_TIMEOUT))
    finally:
        await producer.stop()
    return took


async def _one_like(
    producer: AIOKafkaProducer, http: httpx.AsyncClient, minter: TokenMinter, *, within: float
) -> float:
    author, liker, post = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    headers = minter.headers(author)
    payload = PostLiked(post_id=post, author_id=author, user_id=liker, like_count=1)
    key, value, record_headers = Envelope(
        type=PostLiked.event_type,
        source="content",
        subject=payload.subject(),
        data=payload.model_dump(mode="json"),
        actor=str(liker),
    ).to_record()
    started = time.perf_counter()
    await producer.send_and_wait(PostLiked.topic.name, key=key, value=value, headers=record_headers)
    while time.perf_counter() - started < within:
        wallet = await http.get("/v1/me/wallet", headers=headers)
        wallet.raise_for_status()
        if wallet.json()["points"] > 0:
            return (time.perf_counter() - started) * 1000
        await asyncio.sleep(POLL_SECONDS)
    raise SystemExit(f"a like of {post} was not in its author's wallet after {within:.0f} s")


ACCOUNT_COLUMNS = [
    "user_id", "display_name", "city", "timezone", "value_interaction", "value_development",
    "value_efficiency", "value_special", "year_value", "value_year", "quarter_value",
    "value_quarter", "tier", "created_at", "updated_at",
]  # fmt: skip


async def seed_accounts(target: str, count: int, rng_seed: int = 17) -> list[uuid.UUID]:
    """``count`` accounts by ``COPY`` (secondary indexes dropped first, built after);
    their ids."""
    started = time.monotonic()
    rng = random.Random(rng_seed)
    now = datetime.now(UTC)
    quarter = now.year * 10 + (now.month - 1) // 3 + 1
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]
    connection = await asyncpg.connect(target)
    try:
        tiers = await connection.fetch("SELECT level, threshold FROM tiers ORDER BY threshold")
        thresholds, levels = [t["threshold"] for t in tiers], [t["level"] for t in tiers]

        def rows() -> Iterator[tuple[object, ...]]:
            for n, user_id in enumerate(ids):
                total = int(rng.lognormvariate(4.0, 1.3))
                parts = [int(total * share) for share in DIMENSION_SHARES]
                parts[0] += total - sum(parts)
                at = bisect.bisect_right(thresholds, total) - 1
                yield (
                    user_id, f"member {n}", CITIES[n % len(CITIES)], "UTC", *parts, total,
                    now.year, int(total * rng.random()), quarter, levels[at] if at >= 0 else 0,
                    now, now,
                )  # fmt: skip

        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = 'accounts'"
            " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        batch: list[tuple[object, ...]] = []
        for row in rows():
            batch.append(row)
            if len(batch) == COPY_BATCH:
                await connection.copy_records_to_table(
                    "accounts", records=batch, columns=ACCOUNT_COLUMNS
                )
                batch = []
        if batch:
            await connection.copy_records_to_table(
                "accounts", records=batch, columns=ACCOUNT_COLUMNS
            )
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("VACUUM ANALYZE accounts")
    finally:
        await connection.close()
    print(f"seed: {count} accounts in {time.monotonic() - started:.0f} s", flush=True)
    return ids


_MINTER: list[TokenMinter] = []  # handed to the forked minting processes


def _mint(users: list[uuid.UUID]) -> list[str]:
    return [_MINTER[0].token(user, ttl=TOKEN_TTL_SECONDS) for user in users]


def mint_tokens_of(minter: TokenMinter, path: Path, users: list[uuid.UUID]) -> Path:
    """A token of each of ``users`` in ``path`` (an RSA signature each: every core)."""
    workers = os.cpu_count() or 1
    _MINTER[:] = [minter]
    chunks = [users[start::workers] for start in range(workers)]
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=fork) as pool:
        tokens = [token for batch in pool.map(_mint, chunks) for token in batch]
    path.write_text("\n".join(tokens) + "\n")
    return path


def answered(gateway: str, paths: list[str], headers: dict[str, str]) -> None:
    """Each of ``paths`` answers 200 through the gateway (wrk would count errors instead)."""
    for path in paths:
        response = httpx.get(f"{gateway}{path}", headers=headers, timeout=30)
        if response.status_code != 200:
            raise SystemExit(
                f"GET {path} via gateway answered {response.status_code}: {response.text[:300]}"
            )


def report(
    *,
    rates: Rates | None = None,
    visible: list[float] | None = None,
    measured: dict[str, Result] | None = None,
    accounts: int = 0,
) -> None:
    if rates is not None:
        print(
            f"ledger: {rates.events} {PostLiked.event_type} about {rates.events // 2} authors,"
            f" {PARTITIONS} partitions, durable PostgreSQL; {rates.entries} ledger entries"
            f" written (with the warm-up's {WARMUP_EVENTS} likes), points entries = balances"
        )
        for result in (rates.credited, rates.floor, rates.commits):
            print(f"  {result.name:<34} {result.per_second:>9.0f} events/s")
    if visible:
        p50, p99 = statistics.median(visible), statistics.quantiles(visible, n=100)[98]
        print(
            f"visible: a like sent to {PostLiked.topic.name} until its author's GET /v1/me/wallet"
            f" via gateway shows it, {len(visible)} likes: p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
            f" max {max(visible):.1f} ms"
        )
    if measured:
        print_table(
            f"leaderboard ({accounts} accounts; durable PostgreSQL, 1 uvicorn worker)",
            [("leaderboard", [measured["top 100"], measured["my rank"], measured["hello"]])],
        )
    if visible:
        print(f"ledger-visible: p99 {statistics.quantiles(visible, n=100)[98]:.1f} ms")
    if measured:
        print_ratio(
            "rank",
            measured["my rank"],
            measured["hello"],
            "my rank via gateway / hello via gateway",
        )
        print_ratio(
            "leaderboard",
            measured["top 100"],
            measured["hello"],
            "top 100 via gateway / hello via gateway",
        )
    if rates is not None:
        print_ratio(
            "ledger-commits",
            rates.credited,
            rates.commits,
            "credited events/s / one durable commit per event",
        )
        print_ratio(
            "ledger", rates.credited, rates.floor, "credited events/s / no-op consumer events/s"
        )


if __name__ == "__main__":
    main()
