"""Operator commands for referrals::

    python -m services.referrals.cli jobs

``jobs`` approves the pending referral rewards whose refund window ended, in batches of
``REFERRALS_JOB_BATCH_SIZE``, until none is due (what the Kubernetes CronJob runs; safe to
run twice and in two replicas at once). Run the migrations first
(``python -m kit.db.migrate referrals upgrade``).
"""

import argparse
import asyncio

from services.referrals.config import ReferralsSettings
from services.referrals.service import jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Referrals operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("jobs", help="approve the rewards whose refund window ended")
    parser.parse_args(argv)
    approved = asyncio.run(jobs.run(ReferralsSettings()))
    print(f"jobs: {approved} referral rewards approved")


if __name__ == "__main__":
    main()
