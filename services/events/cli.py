"""Operator commands for events::

    python -m services.events.cli jobs [--every SECONDS]

``jobs`` lapses the waitlist offers whose hold ended, releasing their signups and offering
each seat to the next in line, in batches of ``EVENTS_JOB_BATCH_SIZE`` until none is due
(what the Kubernetes CronJob runs each minute; safe to run twice and in two replicas at
once). ``--every`` repeats the pass every SECONDS until interrupted. Run the migrations
first (``python -m kit.db.migrate events upgrade``).
"""

import argparse
import asyncio

from services.events.config import EventsSettings
from services.events.service import jobs


async def _every(settings: EventsSettings, seconds: float) -> None:
    while True:
        lapsed = await jobs.run(settings)
        print(f"jobs: {lapsed} offers lapsed", flush=True)
        await asyncio.sleep(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Events operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("jobs", help="lapse the waitlist offers whose hold ended")
    run.add_argument(
        "--every", type=float, metavar="SECONDS", help="repeat every SECONDS until interrupted"
    )
    args = parser.parse_args(argv)
    settings = EventsSettings()
    if args.every is not None:
        if args.every <= 0:
            parser.error("--every needs a positive number of seconds")
        asyncio.run(_every(settings, args.every))
        return
    lapsed = asyncio.run(jobs.run(settings))
    print(f"jobs: {lapsed} offers lapsed")


if __name__ == "__main__":
    main()
