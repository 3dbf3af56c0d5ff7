"""Feed benchmark (``make bench-feed``): the home feed of a seeded community through the
gateway, how soon a celebrity's post shows, and what fan-out on write would cost instead
(ADR 0013).

    make bench-feed                       # 100,000 users, 1,000,000 posts
    .venv/bin/python bench/feed/run.py --users 20000 --posts 200000

Starts real processes on loopback, one uvicorn worker each, as production runs them:
PostgreSQL on durable settings, a Kafka broker (content's outbox relay publishes every post,
content and the gateway keep their revocation views), content with tokens verified against
a JWKS, the gateway in front of it (routing ``/v1/feed`` and ``/v1/posts`` to content) and
of a plain FastAPI hello app (bench/gateway's). It
seeds content's database (:mod:`seed`: a skewed follow graph, circles, official posts),
then measures:

* ``GET /v1/feed?limit=20`` with wrk, every request a different seeded user's token
  (request.lua), through the gateway and directly, beside ``GET /hello`` the same two ways
  with the same tokens;
* the first page of three users who had not read their feed (light, typical, heaviest)
  against the newest posts of everything they may see, found by a plain scan;
* ``feed-visible``: the time from posting as the account with the most followers (through
  the gateway) until a follower's home feed (through the gateway) shows the post;
* what fan-out on write would cost: one ``INSERT … SELECT`` of a row per follower of that
  account into a scratch ``feed_entries`` table, committed (durably), against the home
  feed's own statement (captured from :func:`services.content.service.feeds.home`) under
  ``EXPLAIN ANALYZE`` for a light user, a typical follower and the heaviest follower.

The plans are written to ``.data/bench/feed-plans.txt``.
"""

import argparse
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
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.feed.seed import POSTS, USERS, Seeded, seed  # noqa: E402
from bench.harness import (  # noqa: E402
    CONNECTIONS,
    LOGS,
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
from devstack import ensure_wrk, run_sync  # noqa: E402
from kit.api.pagination import PageParams  # noqa: E402
from kit.auth import Principal  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402
from services.content.service import feeds  # noqa: E402

READERS = 20_000  # distinct users reading: more than a run and its warm-up send
TRIALS = 5
PAGE = 20
VISIBLE_TIMEOUT = 30.0
FEED = f"/v1/feed?limit={PAGE}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--posts", type=int, default=POSTS)
    arguments = parser.parse_args()
    ensure_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-feed-") as scratch,
        durable_postgres(Path(scratch)) as server,
        kafka_broker(Path(scratch)) as kafka,
    ):
        url = database(server, "content_bench")
        upgrade("content", url)
        seeded = run_sync(seed(dsn(url), users=arguments.users, posts=arguments.posts))
        run(url, kafka, Path(scratch), seeded)


def run(url: str, kafka: str, workdir: Path, seeded: Seeded) -> None:
    minter = TokenMinter()
    jwks_server, jwks_url = serve_jwks(minter.jwks)
    users = {"light": seeded.light, "typical": seeded.typical, "heaviest": seeded.heavy}
    others = [user for user in seeded.users if user not in users.values()]
    readers = random.Random(7).sample(others, min(READERS, len(others)))
    tokens = mint_tokens_of(minter, workdir / "reader-tokens.txt", readers)
    env = {
        "CONTENT_DATABASE_URL": url,
        "CONTENT_DATABASE_POOL_SIZE": str(CONNECTIONS),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "PADDOCK_JWKS_URL": jwks_url,
    }
    measured: dict[str, Result] = {}
    with (
        serve("content", "services.content.app:create_app", env) as content,
        serve("hello", "baselines:hello", {}, app_dir=REPO / "bench" / "gateway") as hello,
        serve(
            "gateway", "gateway.app:create_app", gateway_env(content, hello, jwks_url, kafka)
        ) as gw,
    ):
        for via, feed_url, hello_url in (("via gateway", gw, gw), ("direct", content, hello)):
            measured[f"feed {via}"] = wrk(f"GET {FEED} {via}", f"{feed_url}{FEED}", tokens=tokens)
            measured[f"hello {via}"] = wrk(f"GET /hello {via}", f"{hello_url}/hello", tokens=tokens)
        first_reads = {
            name: first_read_correct(gw, dsn(url), minter, user) for name, user in users.items()
        }
        visible = visible_after_post(gw, minter.headers(seeded.top), minter.headers(seeded.typical))
    jwks_server.shutdown()
    reads = run_sync(home_feed_query_ms(url, users))
    fanout = run_sync(fan_out_ms(dsn(url), seeded.top))
    report(seeded, measured, visible, first_reads, reads, fanout)


def report(
    seeded: Seeded,
    measured: dict[str, Result],
    visible: list[tuple[float, int]],
    first_reads: dict[str, bool],
    reads: dict[str, float],
    fanout: list[float],
) -> None:
    print_table(
        f"feed ({seeded.posts} posts, {len(seeded.users)} users, {seeded.follows} follows;"
        " durable PostgreSQL, relay publishing, 1 uvicorn worker)",
        [
            ("home feed", [measured["feed via gateway"], measured["feed direct"]]),
            ("hello", [measured["hello via gateway"], measured["hello direct"]]),
        ],
    )
    first_read = sum(1 for _, polls in visible if polls == 1)
    print(
        f"visible: POST as the top account ({seeded.top_followers} followers) via gateway until"
        f" a follower's GET {FEED} via gateway shows it, {len(visible)} posts: "
        + ", ".join(f"{ms:.1f}" for ms, _ in visible)
        + f" ms; shown by the first read after the POST {first_read} of {len(visible)} times"
    )
    print(
        f"first read: GET {FEED} via gateway of users who never read it before equals the"
        " newest posts of everything they may see, by a plain scan: "
        + ", ".join(f"{name} {'yes' if same else 'NO'}" for name, same in first_reads.items())
    )
    print(
        f"home-feed query (EXPLAIN ANALYZE, planning + execution, median of {TRIALS}): "
        + ", ".join(
            f"{name} ({seeded.following[user]} follows) {reads[name]:.2f} ms"
            for name, user in (
                ("light", seeded.light),
                ("typical", seeded.typical),
                ("heaviest", seeded.heavy),
            )
        )
    )
    write_ms = statistics.median(fanout)
    print(
        f"fan-out on write: {seeded.top_followers} feed_entries rows per post of the top account"
        f" (INSERT … SELECT from follows, committed), {len(fanout)} posts: "
        + ", ".join(f"{ms:.0f}" for ms in fanout)
        + f" ms (median {write_ms:.0f} ms,"
        f" {seeded.top_followers / write_ms * 1000:.0f} rows/s)"
    )
    print(f"feed-visible: {statistics.median(ms for ms, _ in visible):.1f} ms")
    print(
        f"fanout-write: ratio {write_ms / reads['typical']:.2f} (one fan-out of the top"
        " account / one home-feed query of a typical follower)"
    )
    print(
        f"feed-heavy: ratio {reads['heaviest'] / reads['light']:.2f} (home-feed query of the"
        " heaviest follower / of a light user)"
    )
    print_ratio(
        "feed-gateway",
        measured["feed via gateway"],
        measured["feed direct"],
        "home feed via gateway / home feed direct",
    )
    print_ratio(
        "feed",
        measured["feed via gateway"],
        measured["hello via gateway"],
        "home feed via gateway / hello via gateway",
    )


def gateway_env(content: str, hello: str, jwks_url: str, kafka: str) -> dict[str, str]:
    routes = {"/v1/feed": "content", "/v1/posts": "content", "/hello": "hello"}
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps({"content": content, "hello": hello}),
        "GATEWAY_ROUTES": json.dumps(routes),
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
        "PADDOCK_JWKS_URL": jwks_url,
    }


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


def visible_after_post(
    gateway: str, author: dict[str, str], follower: dict[str, str]
) -> list[tuple[float, int]]:
    """For each of :data:`TRIALS` posts: milliseconds from sending the POST until the
    follower's feed shows it, and how many feed reads that took."""
    found: list[tuple[float, int]] = []
    with httpx.Client(base_url=gateway, timeout=10) as http:
        for trial in range(TRIALS):
            started = time.perf_counter()
            created = http.post("/v1/posts", json={"text": f"bench post {trial}"}, headers=author)
            created.raise_for_status()
            post_id = created.json()["id"]
            polls = 0
            while time.perf_counter() - started < VISIBLE_TIMEOUT:
                polls += 1
                page = http.get(FEED, headers=follower)
                page.raise_for_status()
                if any(item["id"] == post_id for item in page.json()["items"]):
                    found.append(((time.perf_counter() - started) * 1000, polls))
                    break
            else:
                raise SystemExit(f"post {post_id} not in the follower's feed after {polls} reads")
    return found


EVERYTHING_VISIBLE = """
SELECT id FROM posts
WHERE (author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)
       OR circle_id IN (SELECT circle_id FROM circle_members
                        WHERE user_id = $1 AND status = 'active')
       OR author_id = $1 OR official)
  AND ((status = 'published' AND NOT members_only)
       OR (author_id = $1 AND status <> 'deleted')
       OR (status = 'published' AND circle_id IN (SELECT circle_id FROM circle_members
                                                  WHERE user_id = $1 AND status = 'active')))
ORDER BY created_at DESC, id DESC
LIMIT $2
"""


def first_read_correct(gateway: str, target: str, minter: TokenMinter, user: uuid.UUID) -> bool:
    """Whether ``user``'s home feed, read for the first time, is the newest page of every
    post they may see (found without the feed's per-source scans)."""
    page = httpx.get(f"{gateway}{FEED}", headers=minter.headers(user), timeout=30)
    page.raise_for_status()
    expected = run_sync(_everything_visible(target, user))
    return [item["id"] for item in page.json()["items"]] == expected


async def _everything_visible(target: str, user: uuid.UUID) -> list[str]:
    connection = await asyncpg.connect(target)
    try:
        return [str(row["id"]) for row in await connection.fetch(EVERYTHING_VISIBLE, user, PAGE)]
    finally:
        await connection.close()


async def home_feed_query_ms(url: str, users: dict[str, uuid.UUID]) -> dict[str, float]:
    """The home feed's statement as :func:`feeds.home` sends it, for each of ``users``:
    the median over :data:`TRIALS` of its planning plus execution time."""
    engine = create_async_engine(url)
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        _, _, statement, parameters, _, _ = args
        sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    times: dict[str, float] = {}
    plans: list[str] = []
    try:
        for name, user in users.items():
            principal = Principal(user_id=user, roles=frozenset({"fan"}))
            async with AsyncSession(engine) as session:
                await feeds.home(
                    session=session, principal=principal, page=PageParams(cursor=None, limit=PAGE)
                )
            statement, parameters = sent[-1]
            connection = await asyncpg.connect(dsn(url))
            try:
                samples = []
                for _ in range(TRIALS):
                    plan = await connection.fetchval(
                        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *parameters
                    )
                    top = json.loads(plan)[0]
                    samples.append(top["Planning Time"] + top["Execution Time"])
                text = await connection.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters
                )
            finally:
                await connection.close()
            times[name] = statistics.median(samples)
            plans.append(f"-- {name} ({user})\n" + "\n".join(row[0] for row in text))
    finally:
        await engine.dispose()
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "feed-plans.txt").write_text(f"{statement}\n\n" + "\n\n".join(plans) + "\n")
    return times


FEED_ENTRIES = """
CREATE TABLE feed_entries (
    user_id uuid NOT NULL,
    post_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, created_at, post_id)
)
"""
FAN_OUT = """
INSERT INTO feed_entries (user_id, post_id, created_at)
SELECT follower_id, $2, now() FROM follows WHERE followee_id = $1
"""


async def fan_out_ms(target: str, author: uuid.UUID) -> list[float]:
    """Milliseconds of each of :data:`TRIALS` fan-outs of one post of ``author``: a row per
    follower in a scratch ``feed_entries`` (keyed as a home feed would read it), each in a
    transaction of its own, committed; the table is dropped after."""
    connection = await asyncpg.connect(target)
    try:
        await connection.execute(FEED_ENTRIES)
        took = []
        for _ in range(TRIALS):
            started = time.perf_counter()
            await connection.execute(FAN_OUT, author, uuid.uuid4())
            took.append((time.perf_counter() - started) * 1000)
        await connection.execute("DROP TABLE feed_entries")
    finally:
        await connection.close()
    return took


if __name__ == "__main__":
    main()
