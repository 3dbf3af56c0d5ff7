"""Operator commands for rewards::

    python -m services.rewards.cli jobs

``jobs`` makes pending points whose window ended spendable, expires points past their
expiry and demotes tiers whose grace period ended, in batches of ``REWARDS_JOB_BATCH_SIZE``
until none are due, then computes the club (what the Kubernetes CronJob runs; safe to run
twice and in two replicas at once). Run the migrations first
(``python -m kit.db.migrate rewards upgrade``).
"""

import argparse
import asyncio

from services.rewards.config import RewardsSettings
from services.rewards.service import jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rewards operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "jobs", help="activate and expire points, demote, compute the club, snapshot the boards"
    )
    parser.parse_args(argv)
    done = asyncio.run(jobs.run(RewardsSettings()))
    print(
        f"jobs: {done.activated} lots activated, {done.expired} lots expired, "
        f"{done.demoted} tiers demoted, {done.club_changes} club rows changed, "
        f"{done.snapshots} board snapshots taken"
    )


if __name__ == "__main__":
    main()
