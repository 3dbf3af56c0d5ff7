"""A throwaway PostgreSQL server for tests, run from the distribution's server binaries.

This module owns the local PostgreSQL: finding the server binaries (:func:`find_bin_dir`),
installing them when missing (:func:`ensure_installed`: apt-get as root, otherwise one line
saying what to install), running ``initdb``/``pg_ctl`` (as the ``postgres`` system user when we
are root, since PostgreSQL refuses to run as root) in :class:`PostgresServer`, creating databases
and building their SQLAlchemy asyncpg URLs. ``make test`` calls::

    python -m devstack.postgres ensure

The server listens on 127.0.0.1 only, trusts local connections and trades durability for speed.
"""

import argparse
import os
import pwd
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from devstack import LOCALHOST, DevstackError, apt_install, free_port, run_sync

SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: run `apt-get install -y postgresql`"
)
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SERVER_SETTINGS = {"listen_addresses": f"'{LOCALHOST}'", "max_connections": "800"}
"""800 connections: each of the two test workers keeps one app per service for its whole
session (six services, pools of 40 for the concurrency tests, kept open between tests)
beside the apps cross-service tests start; 300 ran out once referrals joined, and webhooks
keeps five apps of its own."""
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "logical",  # tests read commit order from a logical replication slot
}
"""Fast and fine for tests, whose data may vanish with a crash; never for benchmarks."""
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""PostgreSQL's stock durability, as in production: what benchmarks and crash tests run."""


def _version(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else 0


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest version first, or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(  # noqa: S603 - fixed command, no shell
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    return next(
        (
            path
            for path in candidates
            if (path / "initdb").is_file() and (path / "pg_ctl").is_file()
        ),
        None,
    )


def ensure_installed() -> Path:
    """Return the server binaries' directory, installing them with apt-get when root."""
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    apt_install("postgresql", hint=INSTALL_HINT)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise DevstackError(INSTALL_HINT)
    return bin_dir


def _checked(name: str) -> str:
    if not DATABASE_NAME.fullmatch(name):
        raise ValueError(f"not a safe database name: {name!r}")
    return name


async def _execute(server_url: str, statement: str) -> None:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server behind ``server_url``; return the new one's URL."""
    await _execute(server_url, f'CREATE DATABASE "{_checked(name)}"')
    url = make_url(server_url)
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions."""
    await _execute(server_url, f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')


class PostgresServer:
    """A PostgreSQL cluster under ``base_dir`` (data, socket, log), served on a free port,
    on :data:`TEST_SETTINGS`, or on :data:`DURABLE_SETTINGS` when ``durable``.

    As root, ``base_dir`` is handed to the ``postgres`` system user; its parents must be
    traversable by that user (a fresh ``tempfile.mkdtemp()`` under /tmp is).
    """

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        bin_dir: Path | None = None,
        *,
        durable: bool = False,
    ) -> None:
        self.base_dir = base_dir.resolve()
        self.durable = durable
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self.bin_dir = bin_dir
        self._running = False

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+asyncpg://{SUPERUSER}@{LOCALHOST}:{self.port}/{dbname}"

    def _run(self, tool: str, *args: str) -> None:
        bin_dir = self.bin_dir or ensure_installed()
        command = [str(bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise DevstackError(f"{tool} failed:\n{result.stdout}{result.stderr}{log[-3000:]}")

    def _prepare_base_dir(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise DevstackError(f"no `{SYSTEM_USER}` system user: {INSTALL_HINT}") from None
        os.chown(self.base_dir, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        self._run(
            "initdb",
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        settings = {
            **SERVER_SETTINGS,
            **(DURABLE_SETTINGS if self.durable else TEST_SETTINGS),
            "unix_socket_directories": f"'{self.base_dir}'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Create the cluster if new and start the server; returns once it accepts connections."""
        self._prepare_base_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = shlex.join(["-p", str(self.port)])
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout=60",
            f"--pgdata={self.data_dir}",
            f"--log={self.log_path}",
            f"--options={options}",
        )
        self._running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        if self._running:
            self._run("pg_ctl", "stop", "--wait", "--mode=fast", f"--pgdata={self.data_dir}")
            self._running = False

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy asyncpg URL."""
        return run_sync(create_database(self.url(), name))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.postgres", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="install the server binaries if missing; print their dir")
    parser.parse_args(argv)
    try:
        print(ensure_installed())
    except DevstackError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
