"""Check an event's draw from the public API alone: the revealed seed against the commitment
the event published before the draw, and the allocation against this script's own copy of
the algorithm. Needs only the standard library and httpx; no token.

    python tools/verify_draw.py http://127.0.0.1:8000 <event id>

Prints ``OK ...`` and exits 0, or prints the first thing that does not hold and exits 1
(``seed does not match its commitment``, or the first position where the published
allocation and the recomputed one differ).

The commitment is the lowercase hex SHA-256 of the UTF-8 text ``paddock-draw-v1:<seed>``
(seed in decimal). The algorithm, ``es-hmac-sha256-v1`` (Efraimidis-Spirakis weighted
sampling without replacement), for each applicant with weight ``w`` (an exact fraction)::

    h   = int(HMAC-SHA256(key=str(seed), msg=str(signup_id)).hexdigest(), 16)
    u   = (h + 1) / (2**256 + 1)
    key = -ln(u) * w.denominator / w.numerator

in decimal arithmetic with 80 significant digits, ROUND_HALF_EVEN, each step rounded;
applicants sorted by ``(key, signup_id)`` ascending are the drawn order, the first
``capacity`` confirmed and the rest waitlisted in that order. This file deliberately
repeats it rather than importing the service's code.
"""

import argparse
import asyncio
import decimal
import hashlib
import hmac
import sys
from fractions import Fraction
from typing import Any

import httpx

ALGORITHM = "es-hmac-sha256-v1"
CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)
SPAN = decimal.Decimal(2**256 + 1)
MISMATCH = "seed does not match its commitment"


class DrawRefuted(Exception):
    """The published draw does not hold up."""


def commitment(seed: int) -> str:
    return hashlib.sha256(f"paddock-draw-v1:{seed}".encode()).hexdigest()


def key(seed: int, signup_id: str, weight: Fraction) -> decimal.Decimal:
    digest = hmac.new(str(seed).encode(), signup_id.encode(), hashlib.sha256).hexdigest()
    u = CONTEXT.divide(decimal.Decimal(int(digest, 16) + 1), SPAN)
    scaled = CONTEXT.multiply(CONTEXT.minus(CONTEXT.ln(u)), weight.denominator)
    return CONTEXT.divide(scaled, weight.numerator)


def drawn_order(seed: int, weights: dict[str, Fraction]) -> list[str]:
    keys = {signup: key(seed, signup, weight) for signup, weight in weights.items()}
    return sorted(keys, key=lambda signup: (keys[signup], signup))


def check(event: dict[str, Any], run: dict[str, Any]) -> str:
    """Raise :class:`DrawRefuted` with the first problem; return a summary when it holds."""
    if run.get("algorithm") != ALGORITHM:
        raise DrawRefuted(f"unknown algorithm {run.get('algorithm')!r}, expected {ALGORITHM}")
    seed = int(run["seed"])
    published = event.get("seed_commitment")
    if not published or not hmac.compare_digest(commitment(seed), published):
        raise DrawRefuted(MISMATCH)
    if run.get("seed_commitment") != published:
        raise DrawRefuted("the draw names another commitment than the event published")
    weights = {}
    for applicant in run["applicants"]:
        weight = Fraction(applicant["weight"])
        if weight <= 0:
            raise DrawRefuted(f"applicant {applicant['signup_id']} has weight {weight}")
        weights[str(applicant["signup_id"]).lower()] = weight
    if len(weights) != len(run["applicants"]):
        raise DrawRefuted("an applicant is listed twice")
    order = drawn_order(seed, weights)
    allocation = [str(signup).lower() for signup in run["allocation"]]
    for position, (mine, theirs) in enumerate(zip(order, allocation, strict=False), start=1):
        if mine != theirs:
            raise DrawRefuted(f"position {position}: published {theirs}, recomputed {mine}")
    if len(order) != len(allocation):
        raise DrawRefuted(
            f"the allocation lists {len(allocation)} applications, the applicants {len(order)}"
        )
    capacity = int(run["capacity"])
    confirmed = min(capacity, len(order))
    if (run["confirmed"], run["waitlisted"]) != (confirmed, len(order) - confirmed):
        raise DrawRefuted(
            f"{run['confirmed']} confirmed and {run['waitlisted']} waitlisted published, "
            f"{confirmed} and {len(order) - confirmed} recomputed for {capacity} seats"
        )
    return f"{len(order)} applicants, {confirmed} seats, seed {seed} matches {published}"


async def verify(client: httpx.AsyncClient, event_id: str) -> str:
    """Read the event and its draw through ``client`` and :func:`check` them."""
    event = await client.get(f"/v1/events/{event_id}")
    event.raise_for_status()
    run = await client.get(f"/v1/events/{event_id}/draw")
    run.raise_for_status()
    return check(event.json(), run.json())


async def run(argv: list[str], transport: httpx.AsyncBaseTransport | None = None) -> int:
    """The command: 0 when the draw holds up, 1 when it does not (or cannot be read)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("base_url", help="the gateway's (or events') URL")
    parser.add_argument("event_id")
    args = parser.parse_args(argv)
    async with httpx.AsyncClient(base_url=args.base_url, transport=transport, timeout=30) as client:
        try:
            summary = await verify(client, args.event_id)
        except DrawRefuted as refuted:
            print(f"FAILED: {refuted}")
            return 1
        except httpx.HTTPError as error:
            print(f"FAILED: cannot read the draw: {error}")
            return 1
        except (KeyError, TypeError, ValueError) as error:
            print(f"FAILED: the published draw is malformed: {error!r}")
            return 1
    print(f"OK: {summary}")
    return 0


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
