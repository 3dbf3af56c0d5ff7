"""The clock: the one place kit's time-dependent code reads the time from.

Token expiry, the JWKS refresh interval and the gateway's rate-limit windows take a
:class:`Clock` (default :data:`SYSTEM_CLOCK`) instead of calling :mod:`time` or
:mod:`datetime` themselves, so that a test passes :class:`kit.testing.clock.FakeClock`
and advances time instead of sleeping. Three readings, because they answer different
questions: :meth:`Clock.now` for timestamps (aware, UTC), :meth:`Clock.time` for epoch
seconds (JWT ``exp``/``iat``, ``Retry-After``) and :meth:`Clock.monotonic` for intervals
that must not jump when the wall clock is set.
"""

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What time it is."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (only differences mean anything)."""
        ...


class SystemClock:
    """The real time, from the operating system."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()
