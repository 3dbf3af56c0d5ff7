"""Operator commands for identity::

    python -m services.identity.cli create-admin --email ops@example.com

``create-admin`` makes the first administrator (or makes an existing account one). The
password comes from ``IDENTITY_ADMIN_PASSWORD`` or is prompted for; it obeys the same
rule as every password. Run the migrations first (``python -m kit.db.migrate identity
upgrade``).
"""

import argparse
import asyncio
import getpass
import os
import sys
import uuid

from pydantic import TypeAdapter, ValidationError

from kit.db import Database
from kit.problems import Problem
from services.identity.config import IdentitySettings
from services.identity.passwords import Passwords
from services.identity.schemas import DisplayName, Email
from services.identity.service import roles

PASSWORD_ENV = "IDENTITY_ADMIN_PASSWORD"


async def create_admin(
    settings: IdentitySettings, *, email: str, password: str, display_name: str
) -> uuid.UUID:
    """Ensure an admin account exists; return its id."""
    database = Database(settings.database_url, service=settings.service_name)
    passwords = Passwords.from_settings(settings)
    try:
        async with database.transaction() as session:
            user = await roles.ensure_admin(
                session=session,
                email=TypeAdapter(Email).validate_python(email),
                password=password,
                display_name=TypeAdapter(DisplayName).validate_python(display_name),
                passwords=passwords,
            )
    finally:
        await database.dispose()
    return user.id


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise SystemExit("the passwords differ")
    return password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Identity operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create or promote an administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name", default="Administrator")
    args = parser.parse_args(argv)
    try:
        user_id = asyncio.run(
            create_admin(
                IdentitySettings(),
                email=args.email,
                password=_password(),
                display_name=args.display_name,
            )
        )
    except (Problem, ValidationError) as exc:
        sys.exit(f"create-admin: {exc}")
    print(f"admin {args.email.lower()} ready: {user_id}")


if __name__ == "__main__":
    main()
