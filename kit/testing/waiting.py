"""Waiting for a condition in tests, instead of sleeping and hoping it was long enough.

``await eventually(predicate)`` re-checks ``predicate`` until it is true and fails the test
with ``message`` when ``timeout`` passes first. A sleep before an assertion is either too
short (a flaky test) or too long (a slow one); a condition is neither. To show that
something did *not* happen (a redelivered event had no second effect), wait for a positive
sign that the work was done (a consumer's outcome counter, its position at the end of the
topic, a claim row), then assert on the effects.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable

Condition = Callable[[], object] | Callable[[], Awaitable[object]]


async def eventually(
    condition: Condition,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is what this helper is about
    interval: float = 0.05,
    message: str | Callable[[], str] = "the condition never became true",
) -> None:
    """Await ``condition()`` (sync or async) until it is truthy; raise ``AssertionError``
    after ``timeout`` seconds, with ``message`` (a string, or a callable asked at the end
    so that it can describe the state reached) and the last value seen.

    An exception raised by ``condition`` propagates at once: it is a bug, not "not yet".
    """
    attempts = 0
    last: object = None
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while True:
                attempts += 1
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                last = value
                if value:
                    return
                await asyncio.sleep(interval)
    except TimeoutError:
        if not deadline.expired():
            raise  # the condition's own timeout, not ours
        text = message() if callable(message) else message
        raise AssertionError(
            f"{text} (still not true after {timeout:g} s and {attempts} checks;"
            f" last value {last!r})"
        ) from None
