"""The clock kit reads time from, the fake one tests move, and waiting for a condition."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from kit.clock import SYSTEM_CLOCK, Clock
from kit.testing.clock import FakeClock
from kit.testing.waiting import eventually


def test_the_system_clock_tells_aware_utc_time() -> None:
    now = SYSTEM_CLOCK.now()
    assert now.tzinfo is UTC
    assert abs(SYSTEM_CLOCK.time() - now.timestamp()) < 60
    assert SYSTEM_CLOCK.monotonic() <= SYSTEM_CLOCK.monotonic()


def test_a_fake_clock_stands_still_until_advanced() -> None:
    start = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    clock: Clock = FakeClock(start)
    assert isinstance(clock, FakeClock)
    wall, mono = clock.time(), clock.monotonic()
    assert (clock.now(), clock.time(), clock.monotonic()) == (start, wall, mono)
    clock.advance(1.5)
    assert clock.now() == start + timedelta(seconds=1.5)
    assert clock.time() == wall + 1.5
    assert clock.monotonic() == mono + 1.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2031, 1, 1))


async def test_eventually_returns_once_a_sync_or_async_condition_holds() -> None:
    checks = 0

    def third_time_lucky() -> bool:
        nonlocal checks
        checks += 1
        return checks >= 3

    await eventually(third_time_lucky, interval=0)
    assert checks == 3

    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)

    async def is_ready() -> bool:
        return ready.is_set()

    await eventually(is_ready, interval=0)


async def test_eventually_fails_with_the_message_and_the_last_value() -> None:
    with pytest.raises(
        AssertionError, match=r"effects: 1 \(still not true after 0.05 s.*last value 0"
    ):
        await eventually(lambda: 0, timeout=0.05, interval=0.01, message=lambda: "effects: 1")


async def test_eventually_lets_the_conditions_own_errors_through() -> None:
    async def broken() -> bool:
        raise TimeoutError("the condition's own timeout")

    # Were they taken for "not yet", these would end in eventually's AssertionError instead.
    with pytest.raises(TimeoutError, match="own timeout"):
        await eventually(broken, timeout=60)
    with pytest.raises(ZeroDivisionError):
        await eventually(lambda: 1 / 0, timeout=60)
