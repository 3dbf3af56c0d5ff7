"""Local infrastructure for `make run` and the tests: Kafka, PostgreSQL and Redis servers.

This package owns what both need: the repository root, the error type that carries one
actionable line for the developer, free localhost ports and running a coroutine from sync code.
The broker lives in :mod:`devstack.kafka`, the database server in
:mod:`devstack.postgres`, the gateway's shared rate-limit store in :mod:`devstack.redis`.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCALHOST = "127.0.0.1"

T = TypeVar("T")


class DevstackError(RuntimeError):
    """A local dependency cannot be set up; the message says what to do about it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in a daemon thread and return its result.

    Works from plain code and from inside a running event loop alike (it blocks that loop).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="devstack-run-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["result"]
    return result


def apt_install(package: str, *, hint: str) -> None:
    """Install Debian's ``package`` with apt-get (as root); otherwise raise with ``hint``,
    the one line saying what to install."""
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise DevstackError(hint)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update"], [apt_get, "install", "-y", package]):
        subprocess.run(command, check=True, env=env)  # noqa: S603 - fixed command, no shell


def ensure_wrk() -> None:
    """The benchmarks' load generator: installed with apt-get when missing (as root)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        raise SystemExit("the benchmarks need wrk: run `sudo apt-get install -y wrk` first")
    print("installing wrk with apt-get ...", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "wrk"], check=False).returncode != 0:  # noqa: S607
        subprocess.run(["apt-get", "update"], check=True)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)  # noqa: S607
