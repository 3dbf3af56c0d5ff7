"""Gateway benchmark (``make bench-gateway``): what the gateway costs in front of a service,
and what identity's ``GET /v1/me`` costs against the floor's read of the same row.

Starts real processes on loopback, one uvicorn worker each, as production runs them:
identity on PostgreSQL with durable settings, a Kafka broker (identity's outbox relay
publishes, identity and the gateway keep their revocation views), the gateway in front of
identity, a plain FastAPI hello endpoint (the ceiling, and the fast upstream that shows
what a proxy itself costs), two minimal proxies (one on a pooled ``httpx.AsyncClient``, one
on a pooled ``aiohttp.ClientSession``: the client libraries alone, without the gateway's
work), the floor app (:mod:`floor`) reading the user's row, and a second gateway whose rate
limits count in a Redis server (ADR 0012) rather than in its memory. It registers a user, logs
in, then runs wrk with the access token against each and prints req/s, p50 and p99.
Everything shares the machine's cores, wrk included.
"""

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    Result,
    database,
    dsn,
    durable_postgres,
    kafka_broker,
    print_ratio,
    print_table,
    serve,
    wrk,
)
from devstack import ensure_wrk  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from devstack.redis import RedisServer  # noqa: E402
from gateway.config import DEFAULT_ROUTES  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402

HERE = Path(__file__).resolve().parent
PASSWORD = "bench horse battery staple"


def main() -> None:
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="paddock-bench-gateway-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        server = stack.enter_context(durable_postgres(workdir))
        kafka = stack.enter_context(kafka_broker(workdir))
        identity_url = database(server, "identity_bench")
        identity = stack.enter_context(start_identity(identity_url, kafka))
        token, user_id = sign_in(identity)
        hello = stack.enter_context(serve("hello", "baselines:hello", {}, app_dir=HERE))
        upstreams = {"identity": identity, "hello": hello}
        gateway = stack.enter_context(start_gateway(upstreams, kafka))
        store = RedisServer(workdir / "redis")
        store.start()
        stack.callback(store.stop)
        shared = stack.enter_context(start_gateway(upstreams, kafka, store_url=store.url))
        routes = json.dumps({"/hello": hello, "/v1/me": identity})
        aiohttp_proxy, httpx_proxy = (
            stack.enter_context(
                serve(
                    f"{lib}-proxy", f"baselines:{lib}_proxy", {"BENCH_ROUTES": routes}, app_dir=HERE
                )
            )
            for lib in ("aiohttp", "httpx")
        )
        floor = stack.enter_context(start_floor(server, identity_url, user_id))
        fronts = {"gateway": gateway, "aiohttp proxy": aiohttp_proxy, "httpx proxy": httpx_proxy}
        measured = {
            f"{front} {path}": wrk(f"{front} {path}", f"{url}{path}", token=token)
            for direct, path in (("hello", "/hello"), ("identity", "/v1/me"))
            for front, url in {direct: upstreams[direct], **fronts}.items()
        }
        measured["floor /v1/me"] = wrk("floor /v1/me", f"{floor}/v1/me")
        measured["shared store /v1/me"] = wrk(
            "gateway, limits in Redis /v1/me", f"{shared}/v1/me", token=token
        )
    report(measured)


def report(measured: dict[str, Result]) -> None:
    def row(path: str, direct: str) -> list[Result]:
        names = ("gateway", "aiohttp proxy", "httpx proxy", direct)
        return [measured[f"{name} {path}"] for name in names]

    print_table(
        "gateway (1 uvicorn worker each, identity on durable PostgreSQL)",
        [
            ("/hello", row("/hello", "hello")),
            ("/v1/me", [*row("/v1/me", "identity"), measured["floor /v1/me"]]),
            ("shared", [measured["shared store /v1/me"], measured["gateway /v1/me"]]),
        ],
    )
    print_ratio(
        "gateway-proxy",
        measured["gateway /hello"],
        measured["aiohttp proxy /hello"],
        "gateway /hello / aiohttp proxy /hello",
    )
    print_ratio(
        "me-floor",
        measured["identity /v1/me"],
        measured["floor /v1/me"],
        "identity /v1/me direct / floor /v1/me",
    )
    print_ratio(
        "gateway",
        measured["gateway /v1/me"],
        measured["identity /v1/me"],
        "gateway /v1/me / identity /v1/me direct",
    )
    print_ratio(
        "rate-limit-store",
        measured["shared store /v1/me"],
        measured["gateway /v1/me"],
        "gateway /v1/me counting in Redis / counting in memory",
    )


@contextmanager
def start_identity(database_url: str, kafka: str) -> Iterator[str]:
    upgrade("identity", database_url)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_DATABASE_POOL_SIZE": "50",
        "IDENTITY_JWT_PRIVATE_KEY": pem,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
    }
    with serve("identity", "services.identity.app:create_app", env) as url:
        yield url


@contextmanager
def start_gateway(
    upstreams: dict[str, str], kafka: str, *, store_url: str | None = None
) -> Iterator[str]:
    """The gateway, its limits in memory, or in the Redis server at ``store_url``."""
    store = {"GATEWAY_RATE_LIMIT_STORAGE_URL": store_url} if store_url else {}
    env = {
        **store,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps(upstreams),
        "GATEWAY_ROUTES": json.dumps({**DEFAULT_ROUTES, "/hello": "hello"}),
        "PADDOCK_JWKS_URL": f"{upstreams['identity']}/.well-known/jwks.json",
        "GATEWAY_RATE_LIMIT_PER_USER": "100000000/minute",
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
    }
    name = "gateway-shared-store" if store_url else "gateway"
    with serve(name, "gateway.app:create_app", env) as url:
        yield url


@contextmanager
def start_floor(server: PostgresServer, identity_url: str, user_id: str) -> Iterator[str]:
    env = {"FLOOR_IDENTITY_DSN": dsn(identity_url), "FLOOR_USER_ID": user_id}
    with serve("floor", "floor:create_app", env) as url:
        yield url


def sign_in(identity: str) -> tuple[str, str]:
    """Register and log a user in; their access token and id."""
    email = "bench@example.com"
    with httpx.Client(base_url=identity, timeout=30) as http:
        body = {"email": email, "password": PASSWORD, "display_name": "Bench"}
        http.post("/v1/auth/register", json=body).raise_for_status()
        login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        token: str = login.json()["access_token"]
        me = http.get("/v1/me", headers={"authorization": f"Bearer {token}"})
        me.raise_for_status()
        return token, str(me.json()["id"])


if __name__ == "__main__":
    main()
