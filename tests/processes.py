"""Run a service as a real process (uvicorn, its own PID) so tests can kill it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devstack import LOCALHOST, REPO_ROOT, free_port


class ServiceProcess:
    """``uvicorn --factory <factory>`` on a free loopback port with the given environment."""

    def __init__(self, factory: str, env: dict[str, str], log_path: Path) -> None:
        self.factory = factory
        self.env = {**os.environ, "PADDOCK_ENV": "test", **env}
        self.log_path = log_path
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def start(self, timeout: float = 30) -> "ServiceProcess":
        command = [
            sys.executable, "-m", "uvicorn", "--factory", self.factory,
            "--host", LOCALHOST, "--port", str(self.port), "--no-access-log",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.factory} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.factory} not healthy after {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a node dying."""
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
