"""A clock for tests: time stands still until the test moves it with :meth:`FakeClock.advance`."""

from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2030, 1, 1, tzinfo=UTC)


class FakeClock:
    """A :class:`kit.clock.Clock` whose wall time and monotonic time advance together.

    ``start`` (aware; default 2030-01-01 UTC) is the wall time it shows until advanced.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards: real clocks do not either)."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
