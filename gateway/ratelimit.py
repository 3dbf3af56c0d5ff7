"""Rate limits per authenticated user and per client IP, with the ``limits`` library.

``limits``' fixed-window strategy counts in one of two places (ADR 0012):

* :class:`RateLimits`, when no shared store is configured (``make run``), counts in
  :class:`WindowCounters`, a ``limits`` async storage kept in this process's memory.
  (``limits``' own async memory storage sweeps *every* key for expiry on nearly every hit:
  measured 14 µs per hit with one key, 1.4 ms with 10,000 and 8.5 ms with 50,000, so a
  gateway with many active users would spend its time there.) Each replica enforces the
  limit on its own: with N replicas a client gets up to N times the limit.
* :class:`SharedRateLimits`, with ``GATEWAY_RATE_LIMIT_STORAGE_URL``, counts in a Redis or
  Valkey server that every replica shares (``limits``' Redis storage on redis-py's asyncio
  client: one ``EVALSHA`` of INCRBY and EXPIRE per check), so a limit holds cluster-wide.
  Each check waits at most ``timeout`` for the store. When the store fails or is slow, the
  replica counts in its own :class:`WindowCounters` (the per-replica limit: neither open
  nor closed) and tries the store again after ``retry_seconds``, with one request, so it
  heals without a restart. It is also the store's :class:`kit.app.Component`
  (``rate_limit_store``, not critical): while it counts on its own, ``/readyz`` answers
  200 ``degraded`` naming the reason, and ``paddock_component_up`` is 0.

Refusals are 429 problem documents with ``Retry-After`` in seconds.

Time comes from a :class:`kit.clock.Clock`: the local windows start, expire and are swept
by ``clock.time()``, ``Retry-After`` is measured with the same clock, and the store's
back-off with ``clock.monotonic()``. ``limits``' fixed-window strategy reads no time of its
own (it asks the storage for counts and expiries), so with a fake clock a test moves whole
local windows without waiting. Windows in the shared store are the store's: each starts at
its key's first hit and ends with the key's TTL, in real time.
"""

import asyncio
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from kit.clock import SYSTEM_CLOCK, Clock
from kit.metrics import COMPONENT_UP
from kit.problems import TooManyRequests

log = logging.getLogger(__name__)

SWEEP_SECONDS = 10.0
STORE_COMPONENT = "rate_limit_store"
KEY_PREFIX = "paddock-gateway"
# What a failing or slow store raises: redis-py's errors, the sockets' and asyncio.timeout's.
STORE_ERRORS = (RedisError, OSError, TimeoutError)


class WindowCounters(Storage):
    """Fixed-window counters in memory; expired ones are swept at most every 10 s.

    Nothing here awaits, so each call is atomic on the event loop without locks.
    """

    STORAGE_SCHEME = None  # not registered under a storage URI

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__()
        self.clock = clock
        self._counts: dict[str, int] = {}
        self._expiries: dict[str, float] = {}
        self._swept_at = clock.time()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self.clock.time()
        self._sweep(now)
        if self._expiries.get(key, 0.0) <= now:
            self._counts[key] = 0
            self._expiries[key] = now + expiry
        self._counts[key] += amount
        return self._counts[key]

    async def get(self, key: str) -> int:
        if self._expiries.get(key, 0.0) <= self.clock.time():
            return 0
        return self._counts.get(key, 0)

    async def get_expiry(self, key: str) -> float:
        return self._expiries.get(key, self.clock.time())

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._counts)
        self._counts.clear()
        self._expiries.clear()
        return count

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._expiries.pop(key, None)

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        for key in [key for key, expires in self._expiries.items() if expires <= now]:
            del self._counts[key], self._expiries[key]


class RateLimits:
    """One limit per user id, one per client IP, counted in this process's memory."""

    def __init__(self, *, per_user: str, per_ip: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.per_user = parse(per_user)
        self.per_ip = parse(per_ip)
        self.clock = clock
        self.limiter = FixedWindowRateLimiter(WindowCounters(clock))

    async def hit(self, *, user: str | None, ip: str | None) -> None:
        """Count one request; raise :class:`TooManyRequests` when a limit is spent."""
        if ip is not None:
            await self._hit(self.per_ip, "ip", ip)
        if user is not None:
            await self._hit(self.per_user, "user", user)

    async def _hit(self, item: RateLimitItem, kind: str, key: str) -> None:
        if await self.limiter.hit(item, kind, key):
            return
        stats = await self.limiter.get_window_stats(item, kind, key)
        raise _refusal(item, kind, stats.reset_time - self.clock.time())


def _refusal(item: RateLimitItem, kind: str, seconds_left: float) -> TooManyRequests:
    return TooManyRequests(
        f"rate limit per {kind} exceeded ({item})",
        retry_after=max(1, math.ceil(seconds_left)),
        limit=str(item),
    )


class StoreUnavailable(RuntimeError):
    """The shared store failed or was slow: this replica counts on its own for now."""


class SharedRateLimits(RateLimits):
    """The limits counted in a Redis or Valkey server shared by every replica; in this
    replica's own counters while the store fails. Also the store's component."""

    name = STORE_COMPONENT

    def __init__(
        self,
        *,
        per_user: str,
        per_ip: str,
        store_url: str,
        password: str | None = None,
        timeout: float,
        retry_seconds: float,
        service: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(per_user=per_user, per_ip=per_ip, clock=clock)
        # No retries inside the client: a failed call falls back at once, and the timeout
        # below bounds the whole call (connecting included).
        self.pool = ConnectionPool.from_url(
            store_url, password=password, retry=Retry(NoBackoff(), 0)
        )
        self.client = Redis(connection_pool=self.pool)
        self.storage = RedisStorage(
            f"async+{store_url}",
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            connection_pool=self.pool,  # type: ignore[arg-type]
        )
        self.shared = FixedWindowRateLimiter(self.storage)
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.up = COMPONENT_UP.labels(service, STORE_COMPONENT)
        self.failure: str | None = None
        """Why this replica counts on its own; ``None`` while the store is in use."""
        self._retry_at = 0.0

    async def start(self) -> None:
        await self._probe()
        self.up.set(0 if self.failure else 1)

    async def stop(self) -> None:
        await self.pool.aclose()

    async def check(self) -> None:
        if self._store_due():
            await self._probe()
        if self.failure is not None:
            raise StoreUnavailable(f"limits count per replica: {self.failure}")

    async def _hit(self, item: RateLimitItem, kind: str, key: str) -> None:
        if self._store_due():
            try:
                seconds_left = await self._shared_hit(item, kind, key)
            except STORE_ERRORS as exc:
                self._fall_back(exc)
            else:
                self._store_is_back()
                if seconds_left is None:
                    return
                raise _refusal(item, kind, seconds_left)
        await super()._hit(item, kind, key)

    async def _shared_hit(self, item: RateLimitItem, kind: str, key: str) -> float | None:
        """``None`` when admitted, else the seconds left in the store's window."""
        async with asyncio.timeout(self.timeout):
            if await self.shared.hit(item, kind, key):
                return None
            # limits' Redis storage answers the key's TTL plus its own time.time()
            return await self.storage.get_expiry(item.key_for(kind, key)) - time.time()

    async def _probe(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.execute_command("PING")
        except STORE_ERRORS as exc:
            self._fall_back(exc)
        else:
            self._store_is_back()

    def _store_due(self) -> bool:
        """Whether to ask the store: while it works, or once per back-off while it does not
        (the other requests meanwhile count locally, so only one waits for a dead store)."""
        if self.failure is None:
            return True
        now = self.clock.monotonic()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.retry_seconds
        return True

    def _fall_back(self, exc: Exception) -> None:
        reason = str(exc) or f"no answer within {self.timeout * 1000:.0f} ms"
        if self.failure is None:
            log.warning("rate-limit store unavailable, counting in this replica: %s", reason)
            self.up.set(0)
        self.failure = f"{type(exc).__name__}: {reason}"[:200]
        self._retry_at = self.clock.monotonic() + self.retry_seconds

    def _store_is_back(self) -> None:
        if self.failure is None:
            return
        log.info("rate-limit store is back: limits are cluster-wide again")
        self.failure = None
        self.up.set(1)
