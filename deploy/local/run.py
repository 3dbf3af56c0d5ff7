"""`make run`: Kafka, every service and the gateway on 127.0.0.1, supervised by honcho.

Reads ``deploy/local/services.toml`` (the one list of processes and ports), fills in the
environment the user has not set (``KAFKA_BOOTSTRAP_SERVERS``, ``<SERVICE>_DATABASE_URL`` on
SQLite files in ``.data/``, ``GATEWAY_UPSTREAMS``, ``PADDOCK_ENV``, ``PADDOCK_LOG_FORMAT=console``:
one readable access-log line per request, and each service's own development settings from
its ``env`` table in services.toml), migrates every service's
database, writes ``.data/Procfile`` and hands the process over to honcho: Ctrl-C stops all.
A broker runs from ``.data/kafka`` unless ``KAFKA_BOOTSTRAP_SERVERS`` points elsewhere.
"""

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from devstack import REPO_ROOT
from devstack.kafka import ensure_jars

DATA = REPO_ROOT / ".data"
PROCFILE = DATA / "Procfile"
KAFKA_PORT = 9092
PYTHON = shlex.quote(sys.executable)


def load_config() -> dict[str, Any]:
    with (Path(__file__).parent / "services.toml").open("rb") as file:
        return tomllib.load(file)


def environment(services: dict[str, Any]) -> dict[str, str]:
    """The processes' environment: the user's own, with defaults for what they did not set."""
    env = dict(os.environ)
    env.setdefault("PADDOCK_ENV", "development")
    # One readable line per request (kit.logs); Kubernetes keeps the default, JSON.
    env.setdefault("PADDOCK_LOG_FORMAT", "console")
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{KAFKA_PORT}")
    for name in services:
        env.setdefault(f"{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{DATA / name}.db")
    upstreams = {name: f"http://127.0.0.1:{spec['port']}" for name, spec in services.items()}
    env.setdefault("GATEWAY_UPSTREAMS", json.dumps(upstreams))
    env.setdefault("PADDOCK_JWKS_URL", f"{upstreams['identity']}/.well-known/jwks.json")
    for name, spec in services.items():
        for variable, value in service_env(name, spec).items():
            env.setdefault(variable, value)
    return env


def service_env(name: str, spec: dict[str, Any]) -> dict[str, str]:
    """A service's ``[services.<name>.env]`` table: variable -> value, both strings (the
    environment holds nothing else: a list or a flag is written as its JSON text)."""
    table = spec.get("env", {})
    if not isinstance(table, dict):
        raise SystemExit(f"services.toml: services.{name}.env must be a table")
    for variable, value in table.items():
        if not isinstance(value, str):
            raise SystemExit(
                f"services.toml: services.{name}.env.{variable} must be a string,"
                f" as the environment holds it (e.g. {json.dumps(value)!r})"
            )
    return table


def uvicorn(spec: dict[str, Any]) -> str:
    return (
        f"exec {PYTHON} -m uvicorn --factory {shlex.quote(spec['factory'])}"
        # kit's access log (request id, route, status, duration, user) replaces uvicorn's
        f" --host 127.0.0.1 --port {spec['port']} --no-access-log"
    )


def procfile(config: dict[str, Any], bootstrap_servers: str, run_kafka: bool) -> str:
    """Procfile lines: the broker (when ours), each service once Kafka is up, the gateway."""
    lines = []
    if run_kafka:
        kafka_dir = shlex.quote(str(DATA / "kafka"))
        lines.append(
            f"kafka: exec {PYTHON} -m devstack.kafka serve"
            f" --data-dir {kafka_dir} --port {KAFKA_PORT}"
        )
    wait = f"{PYTHON} -m devstack.kafka wait --bootstrap-servers {shlex.quote(bootstrap_servers)}"
    for name, spec in config["services"].items():
        lines.append(f"{name}: {wait} && {uvicorn(spec)}")
    lines.append(f"gateway: {uvicorn(config['gateway'])}")
    return "\n".join(lines) + "\n"


def main() -> None:
    config = load_config()
    services: dict[str, Any] = config["services"]
    run_kafka = "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
    if run_kafka:
        ensure_jars(REPO_ROOT)
    DATA.mkdir(exist_ok=True)
    env = environment(services)
    for name in services:
        print(f"run: migrating {name}", flush=True)
        migrate = [sys.executable, "-m", "kit.db.migrate", name, "upgrade"]
        if subprocess.run(migrate, env=env, cwd=REPO_ROOT, check=False).returncode:  # noqa: S603
            raise SystemExit(f"run: migrating {name} failed (see above)")
    PROCFILE.write_text(procfile(config, env["KAFKA_BOOTSTRAP_SERVERS"], run_kafka))
    gateway_port = config["gateway"]["port"]
    print(
        f"run: gateway docs at http://127.0.0.1:{gateway_port}/docs (Ctrl-C stops all)", flush=True
    )
    honcho = [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE), "-d", str(REPO_ROOT)]
    os.chdir(REPO_ROOT)
    os.execve(sys.executable, honcho, env)  # noqa: S606 - honcho replaces this process


if __name__ == "__main__":
    main()
