"""Seed content's database for the feed benchmark: members, a skewed follow graph, circles
and their members, and posts (UGC, official, in circles), written by ``COPY``.

    python bench/feed/seed.py [--database-url URL] [--users 100000] [--posts 1000000]

Without ``--database-url`` it starts a throwaway PostgreSQL on durable settings, migrates
it with content's migrations and seeds it (to time the seed alone). Posts go straight into
``posts`` (not through the API), so no outbox row is written and no trigger is touched.

The graph, for ``--users`` U (figures for U = 100,000):

* :data:`CELEBRITY_SHARES`: five accounts followed by half, 35 %, 25 %, 15 % and 10 % of
  everyone (the top account: 50,000 followers), each with :data:`CELEBRITY_POSTS` posts;
* everyone else follows a lognormal number of accounts (median :data:`MEDIAN_FOLLOWS`,
  a few hundred at most), picked by Zipf-Mandelbrot popularity ``1 / (rank + 100)``
  (the most popular ordinary account: a few thousand followers);
* the heaviest follower follows :data:`HEAVY_FOLLOWS` accounts; the light user 5;
* circles (one in ten an industry circle, whose posts are members-only), joined by
  popularity, 0 to 4 per user; one post in ten is in a circle, by one of its members;
* one post in a hundred is official (by the brand's staff account); authors of the rest
  are picked by the same kind of popularity; 3 % are held, hidden, removed or deleted;
* everything dated over the last year; post ids are UUIDv7 of their creation time.
"""

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import database, dsn, durable_postgres  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from services.content.service.trending import hot_score  # noqa: E402

USERS = 100_000
POSTS = 1_000_000
CELEBRITY_SHARES = (0.5, 0.35, 0.25, 0.15, 0.1)
CELEBRITY_POSTS = 2_000
MEDIAN_FOLLOWS = 25
HEAVY_FOLLOWS = 2_000
LIGHT_FOLLOWS = 5
OFFICIAL_SHARE = 0.01
CIRCLE_SHARE = 0.1
POPULARITY_OFFSET = 100
CITIES = ("Shanghai", "Beijing", "Hefei", "Shenzhen", "Chengdu", "Oslo", "Berlin", "Munich")
BATCH = 100_000
TEXT = "Weekend drive to the lake with the club, charging stop included. " * 2
BULK_TABLES = ("posts", "follows", "circle_members")
SPAN = timedelta(days=365)
STATUSES = (
    ("published", 0.97),
    ("held", 0.01),
    ("hidden", 0.01),
    ("removed", 0.005),
    ("deleted", 0.005),
)


@dataclass(frozen=True)
class Seeded:
    """Who is who in the seeded data, for the benchmark's measurements."""

    users: list[uuid.UUID]
    staff: uuid.UUID
    top: uuid.UUID
    """The account with the most followers."""
    top_followers: int
    heavy: uuid.UUID
    """The user who follows the most accounts."""
    light: uuid.UUID
    typical: uuid.UUID
    """A follower of the top account who follows about :data:`MEDIAN_FOLLOWS` accounts."""
    following: dict[uuid.UUID, int]
    posts: int
    follows: int


def uuid7(rng: random.Random, at: datetime) -> uuid.UUID:
    """A UUIDv7 of ``at`` (what :func:`kit.ids.new_id` gives a row created then)."""
    ms = int(at.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return uuid.UUID(int=value | rng.getrandbits(62))


class Popularity:
    """Zipf-Mandelbrot picks over ``ids`` in a random order of rank: ``1 / (rank + q)``."""

    def __init__(self, rng: random.Random, ids: list[uuid.UUID]) -> None:
        self.rng = rng
        self.ranked = rng.sample(ids, len(ids))
        total, self.cumulative = 0.0, []
        for rank in range(1, len(ids) + 1):
            total += 1 / (rank + POPULARITY_OFFSET)
            self.cumulative.append(total)

    def pick(self, count: int) -> list[uuid.UUID]:
        return self.rng.choices(self.ranked, cum_weights=self.cumulative, k=count)

    def distinct(self, count: int, exclude: uuid.UUID) -> set[uuid.UUID]:
        chosen: set[uuid.UUID] = set()
        count = min(count, len(self.ranked) - 1)
        while len(chosen) < count:
            chosen.update(self.pick(count - len(chosen)))
            chosen.discard(exclude)
        return chosen


async def seed(
    target: str, *, users: int = USERS, posts: int = POSTS, rng_seed: int = 13
) -> Seeded:
    """Fill content's (migrated, empty) database at ``target`` (a ``postgresql://`` DSN)."""
    started = time.monotonic()
    rng = random.Random(rng_seed)
    now = datetime.now(UTC)
    now_s, span_s = now.timestamp(), SPAN.total_seconds()
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(users)]
    staff, *celebrities = ids[: 1 + len(CELEBRITY_SHARES)]
    heavy, light = ids[len(CELEBRITY_SHARES) + 1], ids[len(CELEBRITY_SHARES) + 2]
    popularity = Popularity(rng, ids)

    def when() -> datetime:
        return datetime.fromtimestamp(now_s - span_s * rng.random(), UTC)

    following: dict[uuid.UUID, set[uuid.UUID]] = {}
    for user in ids:
        count = LIGHT_FOLLOWS if user == light else HEAVY_FOLLOWS if user == heavy else 0
        if not count:
            count = max(1, min(1000, round(rng.lognormvariate(math.log(MEDIAN_FOLLOWS), 0.7))))
        following[user] = popularity.distinct(count, user)
    for celebrity, share in zip(celebrities, CELEBRITY_SHARES, strict=True):
        for follower in rng.sample(ids, round(users * share)):
            if follower not in (celebrity, light):
                following[follower].add(celebrity)
    follows = [
        (follower, followee, when())
        for follower, followees in following.items()
        for followee in followees
    ]
    follower_count = dict.fromkeys(ids, 0)
    for _, followee, _ in follows:
        follower_count[followee] += 1

    circles = [
        (uuid7(rng, at := when()), f"circle {n}", "", "industry" if n % 10 == 0 else "interest",
         rng.choice(ids), at)
        for n in range(max(10, users // 500))
    ]  # fmt: skip
    circle_popularity = Popularity(rng, [circle[0] for circle in circles])
    kinds = {circle[0]: circle[3] for circle in circles}
    memberships: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    for user in ids:
        for circle_id in set(circle_popularity.pick(rng.randrange(5))):
            pending = kinds[circle_id] == "industry" and rng.random() < 0.2
            memberships[(circle_id, user)] = "pending" if pending else "active"
    active = [key for key, status in memberships.items() if status == "active"]
    member_count = dict.fromkeys(kinds, 0)
    for circle_id, _ in active:
        member_count[circle_id] += 1

    authors = Authors(rng, staff, celebrities, popularity, active, kinds)
    connection = await asyncpg.connect(target)
    try:
        await connection.copy_records_to_table(
            "circles",
            records=[
                (*circle[:5], member_count[circle[0]], circle[5], circle[5]) for circle in circles
            ],
        )
        indexes = await _drop_indexes(connection, BULK_TABLES)
        posted = 0
        for batch in _batches(authors.posts(now, posts)):
            await connection.copy_records_to_table("posts", records=batch)
            posted += len(batch)
        await connection.copy_records_to_table(
            "members",
            records=[
                (user, f"member {n}", CITIES[n % len(CITIES)],
                 '["staff"]' if user == staff else '["owner"]' if n % 3 == 0 else '["fan"]',
                 None, now - timedelta(days=30) - 2 * SPAN * rng.random(), None,
                 follower_count[user], len(following[user]), authors.post_count[user], now)
                for n, user in enumerate(ids)
            ],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "circle_members",
            records=[
                (circle_id, user, "member", status, None, at := when(), at)
                for (circle_id, user), status in memberships.items()
            ],
        )
        await connection.copy_records_to_table("follows", records=follows)
        for definition in indexes:
            await connection.execute(definition)
        await connection.execute("VACUUM ANALYZE")
        elapsed = time.monotonic() - started
    finally:
        await connection.close()
    top = max(celebrities, key=lambda user: follower_count[user])
    heaviest = max(ids, key=lambda user: len(following[user]))
    print(
        f"seed: {posted} posts, {users} users, {len(follows)} follows in {elapsed:.0f} s"
        f" ({len(active)} active circle memberships in {len(circles)} circles;"
        f" top account {follower_count[top]} followers, heaviest follower"
        f" {len(following[heaviest])} follows)",
        flush=True,
    )
    return Seeded(
        users=ids,
        staff=staff,
        top=top,
        top_followers=follower_count[top],
        heavy=heaviest,
        following={user: len(followees) for user, followees in following.items()},
        light=light,
        typical=min(
            (user for user in ids if top in following[user]),
            key=lambda user: abs(len(following[user]) - MEDIAN_FOLLOWS),
        ),
        posts=posted,
        follows=len(follows),
    )


class Authors:
    """Who writes the posts: the brand's staff (official posts), the celebrities
    (:data:`CELEBRITY_POSTS` each), circle members in their circles, everyone else by
    popularity."""

    def __init__(
        self,
        rng: random.Random,
        staff: uuid.UUID,
        celebrities: list[uuid.UUID],
        popularity: Popularity,
        memberships: list[tuple[uuid.UUID, uuid.UUID]],
        kinds: dict[uuid.UUID, str],
    ) -> None:
        self.rng, self.staff, self.celebrities = rng, staff, celebrities
        self.popularity, self.memberships, self.kinds = popularity, memberships, kinds
        self.post_count: Counter[uuid.UUID] = Counter()
        self.statuses = [status for status, _ in STATUSES]
        self.status_weights = [weight for _, weight in STATUSES]

    def posts(self, now: datetime, count: int) -> Iterator[tuple[object, ...]]:
        """``count`` rows of ``posts``, oldest first (as they would have been written)."""
        rng = self.rng
        celebrity_posts = min(CELEBRITY_POSTS, count // 100)
        planned: list[tuple[uuid.UUID, bool, uuid.UUID | None]] = [
            (celebrity, False, None) for celebrity in self.celebrities
            for _ in range(celebrity_posts)
        ]  # fmt: skip
        for author in self.popularity.pick(count - len(planned)):
            draw = rng.random()
            if draw < OFFICIAL_SHARE:
                planned.append((self.staff, True, None))
            elif draw < OFFICIAL_SHARE + CIRCLE_SHARE and self.memberships:
                joined, member = rng.choice(self.memberships)
                planned.append((member, False, joined))
            else:
                planned.append((author, False, None))
        rng.shuffle(planned)
        newest, span = now.timestamp() - 1, SPAN.total_seconds()
        ages = sorted((span * rng.random() for _ in planned), reverse=True)
        statuses = rng.choices(self.statuses, self.status_weights, k=len(planned))
        for n, ((author, official, circle_id), age, status) in enumerate(
            zip(planned, ages, statuses, strict=True)
        ):
            self.post_count[author] += 1
            at = datetime.fromtimestamp(newest - age, UTC)
            members_only = circle_id is not None and self.kinds[circle_id] == "industry"
            yield (
                uuid7(rng, at), author, official, f"bench post {n}: {TEXT}", "[]", "[]",
                circle_id, members_only, CITIES[n % len(CITIES)],
                "published" if official else status, None, None, None, None, None, 0, 0, 0,
                hot_score(created_at=at, likes=0, comments=0, bookmarks=0), at, at, None,
            )  # fmt: skip


async def _drop_indexes(connection: asyncpg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of ``tables`` (built again after the load, from the
    definitions returned: a sorted build is many times faster than a million inserts)."""
    rows = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = ANY($1::text[])"
        " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)",
        list(tables),
    )
    for row in rows:
        await connection.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="content's database (migrated here first)")
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--posts", type=int, default=POSTS)
    arguments = parser.parse_args()
    if arguments.database_url:
        upgrade("content", arguments.database_url)
        asyncio.run(seed(dsn(arguments.database_url), users=arguments.users, posts=arguments.posts))
        return
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-seed-") as scratch,
        durable_postgres(Path(scratch)) as server,
    ):
        url = database(server, "content_bench")
        upgrade("content", url)
        asyncio.run(seed(dsn(url), users=arguments.users, posts=arguments.posts))


if __name__ == "__main__":
    main()
