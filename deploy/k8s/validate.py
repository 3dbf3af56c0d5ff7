"""``make k8s-validate``: build every overlay and check what it would apply, offline.

1. tools: kustomize (``go install`` into .cache/bin) and a tool venv (.cache/k8s-tools,
   from the hash-pinned deploy/k8s/tools.txt: checkov, kubernetes-validate, jsonschema,
   hadolint), each made once and remade when its pin changes;
2. components/strimzi/topics.yaml and users.yaml are fresh (generate_topics.py --check);
3. ``kustomize build`` of every overlay (into .cache/k8s-validate/<overlay>.yaml);
4. schemas (schemas.py): Kubernetes kinds strictly against Kubernetes KUBERNETES_VERSION,
   custom resources against the Strimzi and CloudNativePG CRDs in deploy/k8s/crds/;
5. Paddock's own rules (``policy``): references resolve, every Deployment has its Service
   and PDB, the application's (gateway, services) its HPA too, spread and two replicas in
   prod, the database connections fit, the gateway's rate-limit store is in the build or
   reached over TLS, Kafka listens only with TLS and a login, and every pod logs in as a
   KafkaUser of the build;
6. checkov on the built manifests and the Dockerfile, hadolint on the Dockerfile.

Exits non-zero on any finding. A finding that is accepted must be explained: checks
skipped everywhere are in SKIPPED_CHECKS below, with the reason.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
CACHE = REPO_ROOT / ".cache"
BIN_DIR = CACHE / "bin"
TOOLS_VENV = CACHE / "k8s-tools"
TOOLS_LOCK = K8S_DIR / "tools.txt"
BUILD_DIR = CACHE / "k8s-validate"

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"
# The oldest Kubernetes we support: validating against it catches fields that are newer.
KUBERNETES_VERSION = "1.34"

# checkov checks skipped for every resource, and why. Prefer a per-resource annotation
# (checkov.io/skip1: CKV_K8S_xx=reason) when an exception concerns one resource only.
SKIPPED_CHECKS = {
    "CKV_K8S_43": "Image by digest: the overlays name a tag; a release pins the digest with "
    "`kustomize edit set image paddock=...@sha256:...` (deploy/README.md)",
    "CKV_K8S_35": "Secrets as files: settings are pydantic-settings read from the environment "
    "(kit/settings.py); files would need secrets_dir in every settings class",
}

# Pods of these roles are the application: autoscaled, spread in prod. Other Deployments
# (the rate-limit store) are backing stores with a fixed replica count.
APPLICATION_ROLES = {"gateway", "service"}


def is_application(deployment: dict[str, Any]) -> bool:
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    return labels.get("paddock.io/role") in APPLICATION_ROLES


# PostgreSQL connections kept for the operator, replication and a person's psql session.
RESERVED_CONNECTIONS = 10
DEFAULT_POOL_SIZE = 10  # kit.settings.ServiceSettings.database_pool_size
# What a pod opens per unit of pool size, kit/db: SQLAlchemy's pool_size + max_overflow
# (= pool_size) for units of work, and the direct asyncpg pool (pool_size) for hot reads
# and one-statement writes.
CONNECTIONS_PER_POOL_SIZE = 3


def say(message: str) -> None:
    print(message, flush=True)


def run(cmd: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], text=True, check=False, **kwargs)  # noqa: S603


# --- tools -----------------------------------------------------------------------------


def kustomize() -> Path:
    """kustomize KUSTOMIZE_VERSION, built with the Go toolchain the first time."""
    binary = BIN_DIR / "kustomize"
    if binary.exists():
        version = run([binary, "version"], capture_output=True).stdout.strip()
        if version == KUSTOMIZE_VERSION:
            return binary
    go = shutil.which("go")
    if go is None:
        raise SystemExit(
            f"kustomize {KUSTOMIZE_VERSION} is built with Go: install Go 1.22 or newer "
            "(apt-get install golang-go) and run again"
        )
    say(f"  installing kustomize {KUSTOMIZE_VERSION} into {BIN_DIR.relative_to(REPO_ROOT)}")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(BIN_DIR), "GOFLAGS": "-buildvcs=false"}
    result = run([go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"], env=env)
    if result.returncode:
        raise SystemExit("go install of kustomize failed")
    return binary


def tools_python() -> Path:
    """The tool venv's python, (re)made from tools.txt when its content changed."""
    python = TOOLS_VENV / "bin" / "python"
    stamp = TOOLS_VENV / ".tools.sha256"
    digest = hashlib.sha256(TOOLS_LOCK.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    say(
        f"  installing {TOOLS_LOCK.relative_to(REPO_ROOT)} into {TOOLS_VENV.relative_to(REPO_ROOT)}"
    )
    shutil.rmtree(TOOLS_VENV, ignore_errors=True)
    uv = shutil.which("uv") or CACHE / "bootstrap" / "bin" / "uv"
    if Path(uv).exists():
        steps = [
            [uv, "venv", "-q", "--python", sys.executable, TOOLS_VENV],
            [uv, "pip", "install", "-q", "--python", python, "--require-hashes", "-r", TOOLS_LOCK],
        ]
    else:  # no uv: the standard library's venv and pip do the same, more slowly
        steps = [
            [sys.executable, "-m", "venv", TOOLS_VENV],
            [python, "-m", "pip", "install", "-q", "--require-hashes", "-r", TOOLS_LOCK],
        ]
    for step in steps:
        if run(step).returncode:
            raise SystemExit(f"failed: {' '.join(map(str, step))}")
    stamp.write_text(digest)
    return python


# --- policy ----------------------------------------------------------------------------


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def policy(overlay: str, docs: list[dict[str, Any]]) -> Iterator[str]:
    """Rules no schema or generic linter knows: they come from how Paddock runs."""
    deployments = by_kind(docs, "Deployment")
    config_maps = by_kind(docs, "ConfigMap")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in by_kind(docs, "HorizontalPodAutoscaler").values()
    }
    services = by_kind(docs, "Service")
    pdb_selectors = [
        p["spec"]["selector"]["matchLabels"] for p in by_kind(docs, "PodDisruptionBudget").values()
    ]

    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        application = is_application(deployment)
        if application and name not in hpas:
            yield f"Deployment/{name} has no HorizontalPodAutoscaler"
        if not application and "replicas" not in deployment["spec"]:
            yield f"Deployment/{name}: a backing store without an autoscaler sets its replicas"
        if name not in services:
            yield f"Deployment/{name} has no Service of the same name"
        if not any(sel.items() <= labels.items() for sel in pdb_selectors):
            yield f"Deployment/{name} has no PodDisruptionBudget"
        for container in containers(deployment):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref and ref not in config_maps:
                    yield f"Deployment/{name}/{container['name']}: no ConfigMap {ref}"
        if overlay == "prod" and application:
            spec = deployment["spec"]["template"]["spec"]
            if "podAntiAffinity" not in spec.get("affinity", {}):
                yield f"Deployment/{name}: prod pods must prefer distinct nodes (podAntiAffinity)"
            if hpas.get(name, {}).get("spec", {}).get("minReplicas", 1) < 2:
                yield f"HorizontalPodAutoscaler/{name}: prod needs at least 2 replicas"

    yield from connection_budget(overlay, docs, deployments, config_maps, hpas)
    yield from kafka_logins(docs, deployments)
    yield from rate_limit_store(config_maps, services)


def kafka_logins(
    docs: list[dict[str, Any]], deployments: dict[str, dict[str, Any]]
) -> Iterator[str]:
    """With Strimzi's Kafka in the build: no listener without TLS and authentication, and
    every container's KAFKA_PASSWORD and CA volume come from a KafkaUser and a cluster of it."""
    clusters = by_kind(docs, "Kafka")
    if not clusters:  # a managed Kafka: its users are not in the manifests
        return
    users = by_kind(docs, "KafkaUser")
    for name, kafka in clusters.items():
        for listener in kafka["spec"]["kafka"]["listeners"]:
            if not (listener.get("tls") and listener.get("authentication")):
                yield f"Kafka/{name}: listener {listener['name']} needs tls and authentication"
    for name, deployment in deployments.items():
        if not is_application(deployment):  # the rate-limit store talks to no Kafka
            continue
        pod = deployment["spec"]["template"]["spec"]
        ca_secrets = {v.get("secret", {}).get("secretName") for v in pod.get("volumes", [])}
        for container in containers(deployment):
            where = f"Deployment/{name}/{container['name']}"
            refs = [
                var["valueFrom"]["secretKeyRef"]
                for var in container.get("env", [])
                if var["name"] == "KAFKA_PASSWORD" and "secretKeyRef" in var.get("valueFrom", {})
            ]
            if not refs:
                yield f"{where}: no KAFKA_PASSWORD from a KafkaUser's Secret"
                continue
            user = users.get(refs[0]["name"])
            if user is None:
                yield f"{where}: KAFKA_PASSWORD from {refs[0]['name']}, which is no KafkaUser"
                continue
            cluster = user["metadata"].get("labels", {}).get("strimzi.io/cluster")
            if cluster not in clusters:
                yield f"KafkaUser/{refs[0]['name']}: no Kafka {cluster}"
            elif f"{cluster}-cluster-ca-cert" not in ca_secrets:
                yield f"Deployment/{name}: does not mount {cluster}-cluster-ca-cert"


def rate_limit_store(
    config_maps: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> Iterator[str]:
    """The gateway's shared store (ADR 0012) is a Service of the build, or a managed one
    reached over TLS (``rediss://``); plain ``redis://`` never leaves the namespace."""
    for name, config_map in config_maps.items():
        url = config_map.get("data", {}).get("GATEWAY_RATE_LIMIT_STORAGE_URL")
        if url is None or url.startswith("rediss://"):
            continue
        host = urlsplit(url).hostname or ""
        if host not in services:
            yield f"ConfigMap/{name}: GATEWAY_RATE_LIMIT_STORAGE_URL {url}: no Service {host}"


def database_pool(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> int | None:
    """The pool size of the container's ``<SERVICE>_DATABASE_URL``; ``None`` without one."""
    for var in container.get("env", []):
        prefix, found, _ = var["name"].partition("_DATABASE_URL")
        if found and var["name"] == f"{prefix}_DATABASE_URL":
            break
    else:
        return None
    pool = DEFAULT_POOL_SIZE
    for source in container.get("envFrom", []):
        data = config_maps.get(source.get("configMapRef", {}).get("name"), {}).get("data", {})
        pool = int(data.get(f"{prefix}_DATABASE_POOL_SIZE", pool))
    return pool


def connection_budget(
    overlay: str,
    docs: list[dict[str, Any]],
    deployments: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, Any]],
    hpas: dict[str, dict[str, Any]],
) -> Iterator[str]:
    """At every autoscaler's maximum (plus the rollout surge), with every CronJob's run
    (one at a time: ``concurrencyPolicy: Forbid``), the pools must fit."""
    clusters = by_kind(docs, "Cluster")
    if not clusters:  # a managed PostgreSQL: its limit is not in the manifests
        return
    limit = min(
        int(c["spec"].get("postgresql", {}).get("parameters", {}).get("max_connections", 100))
        for c in clusters.values()
    )
    needed, parts = 0, []
    for name, deployment in deployments.items():
        pool = database_pool(deployment["spec"]["template"]["spec"]["containers"][0], config_maps)
        if pool is None:
            continue
        most = hpas.get(name, {}).get("spec", {}).get("maxReplicas", 1)
        surge = deployment["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", 1)
        if isinstance(surge, str):  # "25%" of the replicas, rounded up
            surge = -(-most * int(surge.rstrip("%")) // 100)
        pods = most + surge
        needed += pods * CONNECTIONS_PER_POOL_SIZE * pool
        parts.append(f"{name} {pods}x{CONNECTIONS_PER_POOL_SIZE * pool}")
    for name, cron_job in by_kind(docs, "CronJob").items():
        if cron_job["spec"].get("concurrencyPolicy") != "Forbid":
            yield f"CronJob/{name}: runs may pile up (concurrencyPolicy: Forbid)"
        pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pool = database_pool(pod["containers"][0], config_maps)
        if pool is None:
            continue
        needed += CONNECTIONS_PER_POOL_SIZE * pool
        parts.append(f"{name} 1x{CONNECTIONS_PER_POOL_SIZE * pool}")
    say(f"  {overlay}: database connections at the autoscalers' maxima: {needed} of {limit}")
    if needed > limit - RESERVED_CONNECTIONS:
        yield (
            f"database connections: {' + '.join(parts)} = {needed} > max_connections {limit} "
            f"- {RESERVED_CONNECTIONS} reserved"
        )


# --- steps -----------------------------------------------------------------------------


def step(title: str, action: Callable[[], list[str]]) -> list[str]:
    started = time.monotonic()
    say(f"== {title}")
    findings = action()
    for finding in findings:
        say(f"  {finding}")
    say(f"   {len(findings)} finding(s), {time.monotonic() - started:.1f} s")
    return findings


def checkov(python: Path, built: list[Path]) -> list[str]:
    targets: list[str | Path] = []
    for path in [*built, REPO_ROOT / "Dockerfile"]:
        targets += ["-f", path]
    env = {
        **os.environ,
        # offline: no guideline download, no version check; a parse error is a failure
        "BC_SKIP_MAPPING": "true",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "CKV_PARSE_ERROR_FAIL": "true",
    }
    cmd = [
        python, "-m", "checkov.main", *targets,
        "--framework", "kubernetes", "dockerfile",
        "--skip-download", "--quiet", "--output", "json",
        "--skip-check", ",".join(SKIPPED_CHECKS),
    ]  # fmt: skip
    result = run(cmd, capture_output=True, env=env)
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"checkov did not report (exit {result.returncode}): {result.stderr[-2000:]}"]
    findings = []
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report.get("results", {}).get("failed_checks", []):
            where = Path(failed["file_path"]).name
            findings.append(
                f"{failed['check_id']} {failed['check_name']}: {failed['resource']} ({where})"
            )
        summary = report.get("summary", {})
        say(
            f"  {report.get('check_type')}: {summary.get('passed', 0)} passed, "
            f"{summary.get('skipped', 0)} skipped by an annotation or comment with its reason"
        )
    return findings


def topics_fresh() -> list[str]:
    result = run([sys.executable, K8S_DIR / "generate_topics.py", "--check"], capture_output=True)
    if result.returncode == 0:
        return []
    return result.stdout.splitlines() or [result.stderr.strip()[-2000:]]


def hadolint(python: Path) -> list[str]:
    result = run([python.parent / "hadolint", REPO_ROOT / "Dockerfile"], capture_output=True)
    return result.stdout.splitlines() + (
        [result.stderr.strip()] if result.returncode and result.stderr else []
    )


def main() -> int:
    started = time.monotonic()
    overlays = sorted(p.parent for p in (K8S_DIR / "overlays").glob("*/kustomization.yaml"))
    say("== tools")
    binary, python = kustomize(), tools_python()

    findings = step("topics.yaml and users.yaml match contracts/", topics_fresh)

    built: list[Path] = []
    docs: dict[str, list[dict[str, Any]]] = {}

    def build() -> list[str]:
        problems = []
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        for overlay in overlays:
            result = run([binary, "build", overlay], capture_output=True)
            if result.returncode:
                problems.append(f"{overlay.name}: {result.stderr.strip()}")
                continue
            out = BUILD_DIR / f"{overlay.name}.yaml"
            out.write_text(result.stdout)
            built.append(out)
            docs[overlay.name] = [d for d in yaml.safe_load_all(result.stdout) if d]
            count = len(docs[overlay.name])
            say(f"  {overlay.name}: {count} resources -> {out.relative_to(REPO_ROOT)}")
        return problems

    findings += step(f"kustomize build ({', '.join(o.name for o in overlays)})", build)
    if not built:
        say("k8s-validate: FAILED, nothing built")
        return 1

    def schemas() -> list[str]:
        cmd: list[str | Path] = [
            python,
            K8S_DIR / "schemas.py",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            *built,
        ]
        result = run(cmd, capture_output=True)
        lines = result.stdout.splitlines()
        for line in (ln for ln in lines if ln.endswith("resources checked")):
            say(f"  {line}")
        problems = [ln for ln in lines if not ln.endswith("resources checked")]
        if result.returncode and not problems:
            problems.append(result.stderr.strip()[-2000:])
        return problems

    findings += step(
        f"schemas (Kubernetes {KUBERNETES_VERSION} strict, Strimzi and CNPG CRDs)", schemas
    )
    findings += step(
        "Paddock rules",
        lambda: [
            f"{name}: {p}"
            for name, overlay_docs in docs.items()
            for p in policy(name, overlay_docs)
        ],
    )
    findings += step("checkov (built manifests, Dockerfile)", lambda: checkov(python, built))
    findings += step("hadolint (Dockerfile)", lambda: hadolint(python))

    say("== skipped everywhere, by design (validate.py SKIPPED_CHECKS)")
    for check_id, reason in SKIPPED_CHECKS.items():
        say(f"  {check_id}: {reason}")
    verdict = "FAILED" if findings else "ok"
    say(
        f"k8s-validate: {verdict}, {len(findings)} finding(s) in {time.monotonic() - started:.1f} s"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
