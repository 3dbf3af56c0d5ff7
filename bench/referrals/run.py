"""Referrals benchmark (``make bench-referrals``): how fast the gateway and referrals resolve
a shared code and take a share-form lead, beside the gateway's hello in the same run.

    make bench-referrals
    BENCH_SECONDS=30 make bench-referrals

Real processes on loopback, as production runs them: PostgreSQL on durable settings, a Kafka
broker, referrals (one uvicorn worker; its outbox relay, consumers and revocation view on)
and the gateway in front of it and of a plain FastAPI hello app (bench/gateway's), with
tokens verified against a JWKS. Both routes measured are public (a prospect has no account),
so this gateway lets ``GET /hello`` through without a token too: the baseline takes the same
path through the gateway as the subjects.

* ``referral-code``: wrk on ``GET /v1/referral-codes/{code}``, one referrer's code (a share
  link going round);
* ``referral-lead``: wrk on ``POST /v1/referrals/leads``, every request from a phone number of
  its own, for :data:`REFERRERS` referrers' codes in turn (``lead.lua``), with the fraud
  checks on and their velocity limits raised above what wrk sends, so that the bench
  measures taking a lead and not the 429. A lead holds its referrer's row lock while the
  velocity check counts that referrer's recent leads, so one code for every request would
  measure that one lock's queue (and a count over all the run's leads), not the path. Each
  lead's event goes out through the outbox relay to the broker; the hello baseline waits
  until the outbox is drained, and the report says how long that took after the run.

The referrers are members with tokens of their own (no identity: a JWKS serves the
minter's key); each one's code is made on their first ``GET /v1/me/referral-code``.
"""

import asyncio
import json
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    CONNECTIONS,
    THREADS,
    Result,
    WrkScript,
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
from contracts.referrals import REFERRALS_FUNNEL, REFERRALS_REWARDS  # noqa: E402
from devstack import ensure_wrk, run_sync  # noqa: E402
from gateway.config import DEFAULT_PUBLIC_ROUTES, DEFAULT_ROUTES  # noqa: E402
from kit.db.migrate import upgrade  # noqa: E402
from kit.testing.kafka import create_topics  # noqa: E402
from kit.testing.tokens import TokenMinter  # noqa: E402
from services.referrals.consumers import SUBSCRIPTIONS  # noqa: E402

HERE = Path(__file__).resolve().parent
HELLO = "/hello"
MY_CODE = "/v1/me/referral-code"
LEADS = "/v1/referrals/leads"
PARTITIONS = 6
REFERRERS = 1_000
VELOCITY_LIMIT = 1_000_000_000
"""Leads per hour and per day the fraud checks allow: more than any run sends."""
DRAIN_TIMEOUT = 600.0
POLL_SECONDS = 0.1
RUN_FIRST_NUMBER = 0
WARMUP_FIRST_NUMBER = 50_000_000
"""Phone numbers of the warm-up start here (``+8613850000000``), the run's at 0: apart."""
CHECK_PHONE = "+8613899999999"
"""The one lead sent before wrk, to see it answer 201: above every number wrk sends."""


def main() -> None:
    ensure_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="paddock-bench-referrals-") as scratch,
        durable_postgres(Path(scratch)) as server,
        kafka_broker(Path(scratch)) as kafka,
    ):
        url = database(server, "referrals_bench")
        upgrade("referrals", url)
        run_sync(create_bus_topics(kafka))
        minter = TokenMinter()
        jwks_server, jwks_url = serve_jwks(minter.jwks)
        env = {
            "REFERRALS_DATABASE_URL": url,
            "REFERRALS_DATABASE_POOL_SIZE": str(CONNECTIONS),
            "REFERRALS_PHONE_HASH_KEY": secrets.token_hex(32),
            "REFERRALS_LEADS_PER_HOUR": str(VELOCITY_LIMIT),
            "REFERRALS_LEADS_PER_DAY": str(VELOCITY_LIMIT),
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "PADDOCK_JWKS_URL": jwks_url,
        }
        with (
            serve("referrals", "services.referrals.app:create_app", env) as referrals,
            serve("hello", "baselines:hello", {}, app_dir=REPO / "bench" / "gateway") as hello,
            serve(
                "gateway", "gateway.app:create_app", gateway_env(referrals, hello, jwks_url, kafka)
            ) as gw,
        ):
            codes = run_sync(codes_of(gw, minter))
            codes_file = Path(scratch) / "codes.txt"
            codes_file.write_text("\n".join(codes) + "\n")
            answered(gw, codes[0])
            code_path = f"/v1/referral-codes/{codes[0]}"
            resolved = wrk(f"GET {code_path} via gateway", f"{gw}{code_path}")
            leads = wrk(
                f"POST {LEADS} via gateway",
                f"{gw}{LEADS}",
                script=WrkScript(
                    HERE / "lead.lua",
                    warmup_args=(str(codes_file), str(THREADS), str(WARMUP_FIRST_NUMBER)),
                    run_args=(str(codes_file), str(THREADS), str(RUN_FIRST_NUMBER)),
                ),
            )
            published, drained_after = run_sync(outbox_drained(dsn(url)))
            baseline = wrk(f"GET {HELLO} via gateway", f"{gw}{HELLO}")
        jwks_server.shutdown()
    report(resolved, leads, baseline, published, drained_after)


async def create_bus_topics(kafka: str) -> None:
    """Every topic referrals reads and writes, and their dead-letter twins (a fresh broker:
    made before the consumers subscribe and the relay publishes)."""
    topics = {model.topic for candidate in SUBSCRIPTIONS for model in candidate.handlers}
    topics |= {REFERRALS_FUNNEL, REFERRALS_REWARDS}
    names = sorted({name for topic in topics for name in (topic.name, topic.dlq)})
    await create_topics(kafka, names, partitions=PARTITIONS)


def gateway_env(referrals: str, hello: str, jwks_url: str, kafka: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GATEWAY_UPSTREAMS": json.dumps({"referrals": referrals, "hello": hello}),
        "GATEWAY_ROUTES": json.dumps({**DEFAULT_ROUTES, HELLO: "hello"}),
        "GATEWAY_PUBLIC_ROUTES": json.dumps([*DEFAULT_PUBLIC_ROUTES, f"GET {HELLO}"]),
        "GATEWAY_RATE_LIMIT_PER_USER": "100000000/minute",
        "GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute",
        "PADDOCK_JWKS_URL": jwks_url,
    }


async def codes_of(gateway: str, minter: TokenMinter) -> list[str]:
    """The codes of :data:`REFERRERS` new members, each made on their first
    ``GET /v1/me/referral-code`` through the gateway, :data:`CONNECTIONS` at a time."""
    codes: list[str] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        for first in range(0, REFERRERS, CONNECTIONS):
            batch = range(first, min(first + CONNECTIONS, REFERRERS))
            answers = await asyncio.gather(
                *(http.get(MY_CODE, headers=minter.headers(uuid.uuid4())) for _ in batch)
            )
            for response in answers:
                if response.status_code != 200:
                    raise SystemExit(
                        f"GET {MY_CODE} via gateway answered {response.status_code}:"
                        f" {response.text[:300]}"
                    )
                codes.append(response.json()["code"])
    return codes


def answered(gateway: str, code: str) -> None:
    """The code resolves and one lead is taken through the gateway (wrk would count
    errors instead)."""
    resolved = httpx.get(f"{gateway}/v1/referral-codes/{code}", timeout=30)
    lead = httpx.post(
        f"{gateway}{LEADS}",
        json={
            "code": code,
            "name": "Bench Lead",
            "phone": CHECK_PHONE,
            "city": "Shanghai",
            "consent": True,
            "test_drive_requested": False,
        },
        timeout=30,
    )
    for what, response, expected in (("GET code", resolved, 200), (f"POST {LEADS}", lead, 201)):
        if response.status_code != expected:
            raise SystemExit(
                f"{what} via gateway answered {response.status_code}: {response.text[:300]}"
            )


OUTBOX = """
SELECT count(*) FILTER (WHERE published_at IS NULL),
       count(*) FILTER (WHERE published_at IS NOT NULL)
FROM outbox WHERE topic = $1
"""


async def outbox_drained(target: str) -> tuple[int, float]:
    """Wait until the relay has published every ``referrals.funnel`` event of the leads;
    how many it published and the seconds that took after the lead run ended."""
    connection = await asyncpg.connect(target)
    started = time.monotonic()
    try:
        while True:
            pending, published = await connection.fetchrow(OUTBOX, REFERRALS_FUNNEL.name)
            if pending == 0:
                return published, time.monotonic() - started
            if time.monotonic() - started > DRAIN_TIMEOUT:
                raise SystemExit(
                    f"{pending} {REFERRALS_FUNNEL.name} events still unpublished after"
                    f" {DRAIN_TIMEOUT:.0f} s (.data/bench/referrals.log)"
                )
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()


def report(
    resolved: Result, leads: Result, baseline: Result, published: int, drained_after: float
) -> None:
    print_table(
        f"referrals ({REFERRERS} referrers; durable PostgreSQL, Kafka, 1 uvicorn worker each,"
        " no token: public routes)",
        [("referral-code", [resolved, baseline]), ("referral-lead", [leads, baseline])],
    )
    print(
        f"leads: the outbox relay published {published} {REFERRALS_FUNNEL.name} events"
        f" (the warm-up's and the check's included), the last {drained_after:.1f} s after"
        " the lead run"
    )
    print_ratio("referral-code", resolved, baseline, "code resolution/s / hello/s")
    print_ratio("referral-lead", leads, baseline, "leads/s / hello/s")


if __name__ == "__main__":
    main()
