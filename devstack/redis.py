"""A throwaway Redis (or Valkey) server for tests, run from the distribution's server binary.

This module owns the local key-value store the gateway's shared rate limits are tested on:
finding the server binary (:func:`find_server`: ``redis-server``, else ``valkey-server``),
installing it when missing (:func:`ensure_installed`: apt-get as root, otherwise one line
saying what to install) and running it in :class:`RedisServer`. ``make test`` calls::

    python -m devstack.redis ensure

The server listens on 127.0.0.1 only, on a free port, keeps nothing on disk (no snapshots,
no append-only file: a restart starts empty) and is stopped and started again by the tests
that check what the gateway does while it is away.
"""

import argparse
import shutil
import socket
import subprocess
import time
from pathlib import Path

from devstack import LOCALHOST, DevstackError, apt_install, free_port

SERVERS = ("redis-server", "valkey-server")
PACKAGE = "redis-server"
INSTALL_HINT = f"redis-server not found: run `apt-get install -y {PACKAGE}` (or valkey-server)"
START_TIMEOUT_SECONDS = 10.0


def find_server() -> Path | None:
    """The ``redis-server`` (or ``valkey-server``) binary on ``PATH``, or None."""
    found = next((shutil.which(name) for name in SERVERS if shutil.which(name)), None)
    return Path(found) if found else None


def ensure_installed() -> Path:
    """Return the server binary, installing Debian's package with apt-get when root.

    Debian's package also enables a system service; in containers policy-rc.d keeps it
    from starting, and the tests never use it either way."""
    server = find_server()
    if server is not None:
        return server
    apt_install(PACKAGE, hint=INSTALL_HINT)
    server = find_server()
    if server is None:
        raise DevstackError(INSTALL_HINT)
    return server


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a server on 127.0.0.1:``port`` answers ``PING`` (or, requiring a password,
    refuses it with ``NOAUTH``: it is up all the same)."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """A Redis server on ``port`` (a free one by default), its log under ``base_dir``,
    requiring ``password`` when given.

    :meth:`stop` then :meth:`start` brings it back on the same port, empty."""

    def __init__(
        self, base_dir: Path, port: int | None = None, *, password: str | None = None
    ) -> None:
        self.base_dir = base_dir.resolve()
        self.port = port or free_port()
        self.password = password
        self.log_path = self.base_dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise DevstackError("the Redis server is not running")
        return self._process.pid

    def start(self) -> None:
        """Start the server; returns once it answers ``PING``."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(ensure_installed()),
            *("--bind", LOCALHOST, "--port", str(self.port), "--dir", str(self.base_dir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--logfile", str(self.log_path)),
            *(("--requirepass", self.password) if self.password else ()),
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise DevstackError(f"redis-server did not start:\n{self._log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-3000:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.redis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="install the server binary if missing; print its path")
    parser.parse_args(argv)
    try:
        print(ensure_installed())
    except DevstackError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
