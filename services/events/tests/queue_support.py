"""Helpers of the queue's tests: queue events with pools, tickets, waiting for answers."""

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.events.tests.support import User, now, published_event

FINAL = {"confirmed", "waitlisted", "sold_out"}


def pool(name: str, size: int, *, audience: str = "everyone", **times: datetime) -> dict[str, Any]:
    """A pool body opening now (or ``opens_at``) and closing in a day (or ``closes_at``)."""
    opens = times.get("opens_at", now() - timedelta(seconds=1))
    closes = times.get("closes_at", now() + timedelta(days=1))
    return {
        "name": name,
        "audience": audience,
        "size": size,
        "opens_at": opens.isoformat(),
        "closes_at": closes.isoformat(),
    }


async def queue_event(client: httpx.AsyncClient, staff: User, **overrides: Any) -> dict[str, Any]:
    """A published queue event (capacity from the pools' sizes when pools are given)."""
    if "pools" in overrides and "capacity" not in overrides:
        overrides["capacity"] = sum(p["size"] for p in overrides["pools"])
    return await published_event(client, staff, signup_mode="queue", **overrides)


async def take_ticket(
    client: httpx.AsyncClient, event_id: str, user: User, device: str = "phone"
) -> httpx.Response:
    return await client.post(
        f"/v1/events/{event_id}/tickets", headers={**user.headers, "X-Device-Id": device}
    )


async def answer(
    client: httpx.AsyncClient, ticket_id: str, user: User, *, rounds: int = 6
) -> dict[str, Any]:
    """The ticket once answered, long-polling (fails after ``rounds`` polls of 30 s)."""
    for _ in range(rounds):
        response = await client.get(
            f"/v1/tickets/{ticket_id}", params={"wait": 30}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        ticket: dict[str, Any] = response.json()
        if ticket["state"] in FINAL:
            return ticket
    raise AssertionError(f"ticket {ticket_id} was never answered")


def code(response: httpx.Response) -> str:
    """The problem code of an error response (the end of its ``type``)."""
    problem_type: str = response.json()["type"]
    return problem_type.rsplit("/", 1)[-1]
