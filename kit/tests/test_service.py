"""The service template: what every service's app is made of, with the bus on and off."""

from typing import Annotated

import httpx
from fastapi import APIRouter

from contracts.identity import UserDeleted
from kit.app import app_state
from kit.bus.consumer import EventConsumer
from kit.bus.relay import OutboxRelay
from kit.service import Subscription, create_service_app
from kit.settings import ServiceSettings
from kit.testing.services import running, service_client
from kit.testing.tokens import TokenMinter

router = APIRouter()


class Greeter:
    def greet(self) -> str:
        return "hello"


@router.get("/greeting")
async def greeting(greeter: Annotated[Greeter, app_state("greeter")]) -> str:
    return greeter.greet()


async def ignore(*_: object) -> None:
    return None


SUBSCRIPTIONS = (Subscription(name="users", handlers={UserDeleted: ignore}),)


def settings(*, bus_enabled: bool = True) -> ServiceSettings:
    return ServiceSettings(
        service_name="shape-test", database_url="sqlite+aiosqlite://", bus_enabled=bus_enabled
    )


def test_with_the_bus_it_runs_the_relay_and_one_consumer_group_per_subscription() -> None:
    app = create_service_app(
        settings=settings(), title="t", routers=[router], subscriptions=SUBSCRIPTIONS
    )
    components = app.state.components
    assert [component.name for component in components] == [
        "database",
        "kafka",
        "consumer:users",
        "jwks",
        "revocations",
    ]
    relay, consumer = components[1], components[2]
    assert isinstance(relay, OutboxRelay)
    assert relay.service == "shape-test"
    assert isinstance(consumer, EventConsumer)
    assert consumer.group_id == "shape-test.users"
    assert consumer.topics == ["identity.users"]
    assert app.state.database.service == "shape-test"
    assert app.state.token_verifier.revocations is components[4], "the verifier asks the view"


def test_without_the_bus_and_with_a_verifier_only_the_database_remains(
    minter: TokenMinter,
) -> None:
    verifier = minter.verifier()
    app = create_service_app(
        settings=settings(bus_enabled=False),
        title="t",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        token_verifier=verifier,
    )
    assert [component.name for component in app.state.components] == ["database"]
    assert app.state.token_verifier is verifier


async def test_state_reaches_routes_through_app_state(minter: TokenMinter) -> None:
    app = create_service_app(
        settings=settings(bus_enabled=False),
        title="t",
        routers=[router],
        token_verifier=minter.verifier(),
        state={"greeter": Greeter()},
    )
    async with running(app), service_client(app) as client:
        response: httpx.Response = await client.get("/greeting")
    assert response.json() == "hello"


class Worker:
    """A background component of a service's own, made on the service's database."""

    name = "worker"

    def __init__(self, database: object) -> None:
        self.database = database

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None


def test_a_services_own_workers_come_last_on_its_database(minter: TokenMinter) -> None:
    app = create_service_app(
        settings=settings(bus_enabled=False),
        title="t",
        routers=[router],
        token_verifier=minter.verifier(),
        workers=lambda database: [Worker(database)],
    )
    assert [component.name for component in app.state.components] == ["database", "worker"]
    assert app.state.components[1].database is app.state.database
