"""The Kubernetes manifests keep up with the code: services, topics, Kafka users, settings.

These tests read deploy/k8s's YAML files directly (no kustomize, no Go): they run in every
``make test``. ``make k8s-validate`` builds the overlays and checks the schemas and lints.
"""

import importlib
import importlib.util
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from kit.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
BASE = K8S / "base"
GATEWAY = "gateway"
LOOPBACK = re.compile(r"127\.0\.0\.1|localhost|\[::1\]")
KAFKA_PASSWORD = "KAFKA_PASSWORD"  # from the KafkaUser's Secret, which Strimzi makes
CLUSTER_CA_SECRET = "paddock-cluster-ca-cert"


def repo_services() -> list[str]:
    """Every ``services/<name>/`` with an ``app.py``: each runs as its own Deployment."""
    return sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/app.py"))


def processes() -> list[str]:
    return [GATEWAY, *repo_services()]


def owns_database(name: str) -> bool:
    return (REPO_ROOT / "services" / name / "migrations").is_dir()


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


def resources(name: str) -> dict[str, dict[str, Any]]:
    """kind -> resource, from ``base/<name>.yaml``."""
    return {doc["kind"]: doc for doc in load_all(BASE / f"{name}.yaml")}


def main_container(name: str) -> dict[str, Any]:
    return resources(name)["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {k.strip(): v for k, *rest in pairs if k.strip() and not k.startswith("#") for v in rest}


def config_map_keys(config_map: str) -> set[str]:
    """Keys of a ConfigMap of the base's configMapGenerator."""
    for generator in kustomization().get("configMapGenerator", []):
        if generator["name"] == config_map:
            keys = set(generator.get("literals", []))
            for env_file in generator.get("envs", []):
                keys |= set(read_env_file(BASE / env_file))
            return keys
    raise AssertionError(f"no ConfigMap {config_map} in base/kustomization.yaml")


def load_generator() -> Any:
    """deploy/k8s/generate_topics.py, which writes topics.yaml and users.yaml."""
    spec = importlib.util.spec_from_file_location("generate_topics", K8S / "generate_topics.py")
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    return generator


def secret_refs(container: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Env var -> its secretKeyRef, for one container."""
    return {
        var["name"]: var["valueFrom"]["secretKeyRef"]
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }


def provided_env(container: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(from ConfigMaps or plain values, from Secrets) for one container."""
    plain, secret = set(), set()
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "Secrets are referenced key by key (secretKeyRef)"
        plain |= config_map_keys(source["configMapRef"]["name"])
    for var in container.get("env", []):
        if "secretKeyRef" in var.get("valueFrom", {}):
            secret.add(var["name"])
        else:
            plain.add(var["name"])
    return plain, secret


# --- settings ----------------------------------------------------------------------------


def settings_class(name: str) -> type[ServiceSettings]:
    """The ServiceSettings subclass in ``services/<name>/config.py`` (``gateway/config.py``)."""
    module_name = "gateway.config" if name == GATEWAY else f"services.{name}.config"
    module = importlib.import_module(module_name)
    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == module_name
    ]
    assert len(classes) == 1, f"{module_name} must define one ServiceSettings subclass"
    return classes[0]


def env_names(cls: type[ServiceSettings], field_name: str, field: FieldInfo) -> list[str]:
    """The environment variables pydantic-settings reads for one field (upper case)."""
    alias = field.validation_alias or field.alias
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias.upper()]
    return [f"{cls.model_config.get('env_prefix', '')}{field_name}".upper()]


def is_secret(field_name: str, field: FieldInfo) -> bool:
    return (
        field.annotation is SecretStr
        or SecretStr in get_args(field.annotation)
        or any(word in field_name for word in ("secret", "password"))
    )


def read_and_required(name: str) -> tuple[set[str], set[str]]:
    """(every env var the settings read, those the manifests must provide).

    Required: fields without a default (the process would not start), secrets (typed
    SecretStr or named *secret*/*password*: their defaults are development placeholders,
    refused in production), DATABASE_URL for a service that owns a database (it has
    migrations; the default is a SQLite file, wrong on a read-only root filesystem), and
    fields whose default points at this machine (127.0.0.1, localhost: right for
    ``make run``, wrong in a pod). Other fields have sensible defaults and may be left out.
    """
    cls = settings_class(name)
    read, required = set(), set()
    for field_name, field in cls.model_fields.items():
        names = env_names(cls, field_name, field)
        read |= set(names)
        if (
            field.is_required()
            or is_secret(field_name, field)
            or (field_name == "database_url" and owns_database(name))
            or LOOPBACK.search(str(field.get_default(call_default_factory=True)))
        ):
            required.add(names[0])
    return read, required


# --- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", processes())
def test_every_service_has_its_manifests(name: str) -> None:
    assert f"{name}.yaml" in kustomization()["resources"], f"base/kustomization.yaml: {name}"
    kinds = resources(name)
    for kind in (
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ):
        assert kind in kinds, f"base/{name}.yaml has no {kind}"
        assert kinds[kind]["metadata"]["name"] == name
    factory = f"{'gateway' if name == GATEWAY else f'services.{name}'}.app:create_app"
    assert factory in main_container(name)["command"]


@pytest.mark.parametrize("name", repo_services())
def test_every_service_is_migrated_and_reachable(name: str) -> None:
    """Migrations run first, the database exists, and the gateway knows the service."""
    upstreams = yaml.safe_load(read_env_file(BASE / "config" / "gateway.env")["GATEWAY_UPSTREAMS"])
    assert upstreams.get(name) == f"http://{name}", "add the service to config/gateway.env"
    if not owns_database(name):
        return
    pod = resources(name)["Deployment"]["spec"]["template"]["spec"]
    commands = [c["command"] for c in pod.get("initContainers", [])]
    assert ["python", "-m", "kit.db.migrate", name, "upgrade"] in commands
    postgres = K8S / "components" / "cloudnative-pg"
    databases = {
        d["spec"]["name"]: d["spec"]["owner"] for d in load_all(postgres / "databases.yaml")
    }
    assert databases.get(name) == name, f"components/cloudnative-pg/databases.yaml: {name}"
    (cluster,) = load_all(postgres / "cluster.yaml")
    roles = {role["name"] for role in cluster["spec"]["managed"]["roles"]}
    assert name in roles, f"components/cloudnative-pg/cluster.yaml: a managed role {name}"


def test_every_topic_has_a_kafka_topic() -> None:
    """Each catalog topic and its ``.dlq`` twin, and topics.yaml is exactly what the
    generator writes (run ``.venv/bin/python deploy/k8s/generate_topics.py`` after a change).
    """
    import contracts.registry  # noqa: F401  (imports every contract module)
    from contracts.catalog import TOPICS

    generator = load_generator()
    declared = {doc["spec"]["topicName"]: doc for doc in load_all(generator.TOPICS_FILE)}
    for topic in TOPICS.values():
        for name, partitions in ((topic.name, topic.partitions), (topic.dlq, None)):
            assert name in declared, f"no KafkaTopic for {name}"
            assert re.fullmatch(generator.DNS_1123_SUBDOMAIN, declared[name]["metadata"]["name"])
            if partitions is not None:
                assert declared[name]["spec"]["partitions"] == partitions
    assert generator.TOPICS_FILE.read_text() == generator.render(), "topics.yaml is stale"


@pytest.mark.parametrize("name", processes())
def test_settings_env_vars_are_provided(name: str) -> None:
    """Every env var a process needs comes from a ConfigMap or a Secret, and every one
    the manifests set is read by that process's settings (a typo would be ignored
    silently: pydantic-settings skips unknown variables). See read_and_required for
    which variables are needed. Secrets are the process's own ``<name>-secrets``, key
    named like the variable, so deploy/README.md can list them; only KAFKA_PASSWORD comes
    from the Secret Strimzi makes for the process's KafkaUser.
    """
    read, required = read_and_required(name)
    pod = resources(name)["Deployment"]["spec"]["template"]["spec"]
    for container in pod.get("initContainers", []) + pod["containers"]:
        plain, secret = provided_env(container)
        where = f"base/{name}.yaml, container {container['name']}"
        missing, unread = required - plain - secret, (plain | secret) - read
        assert not missing, f"{where}: not provided: {sorted(missing)}"
        assert not unread, f"{where}: not read by {settings_class(name).__name__}: {sorted(unread)}"
        assert not plain & secret, f"{where}: in a ConfigMap and a Secret: {plain & secret}"
    for var, ref in secret_refs(main_container(name)).items():
        source = {"name": ref["name"], "key": ref["key"]}  # optional: true is the pod's choice
        if var == KAFKA_PASSWORD:
            assert source == {"name": name, "key": "password"}, f"{var}: the KafkaUser's Secret"
        else:
            assert source == {"name": f"{name}-secrets", "key": var}
    # Secret-typed settings never sit in a ConfigMap.
    plain, _ = provided_env(main_container(name))
    cls = settings_class(name)
    for field_name, field in cls.model_fields.items():
        if is_secret(field_name, field):
            assert not set(env_names(cls, field_name, field)) & plain, f"{field_name}: a secret"


def test_pods_run_in_production_mode() -> None:
    """Placeholder secrets are refused only outside development (kit.settings)."""
    assert read_env_file(BASE / "config" / "common.env")["PADDOCK_ENV"] == "production"
    for name in processes():
        sources = [s["configMapRef"]["name"] for s in main_container(name)["envFrom"]]
        assert "paddock-common" in sources, f"base/{name}.yaml: envFrom paddock-common"


def test_readme_shows_every_secret_key() -> None:
    """deploy/README.md's ``kubectl create secret`` lines name every key the pods read."""
    readme = (REPO_ROOT / "deploy" / "README.md").read_text()
    for name in processes():
        for var, ref in secret_refs(main_container(name)).items():
            if var != KAFKA_PASSWORD:  # Strimzi's User Operator makes that Secret
                assert f"--from-literal={ref['key']}=" in readme or (
                    f"--from-file={ref['key']}=" in readme
                ), f"deploy/README.md does not show how to set {ref['name']}/{ref['key']}"


def test_image_holds_every_package() -> None:
    """The Dockerfile copies every package the project ships (pyproject's wheel packages)."""
    import tomllib

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    dockerignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for package in packages:
        assert f"COPY {package}/ {package}/" in dockerfile, f"Dockerfile: COPY {package}/"
        assert f"COPY --from=builder /app/{package} /app/{package}" in dockerfile
        assert f"!{package}/" in dockerignore, f".dockerignore must let {package}/ through"


def test_every_kafka_user_is_generated() -> None:
    """users.yaml is exactly what the generator writes from contracts/ and the services'
    subscriptions (run ``.venv/bin/python deploy/k8s/generate_topics.py`` after a change)."""
    generator = load_generator()
    assert generator.USERS_FILE.read_text() == generator.render_users(), "users.yaml is stale"


def test_a_topic_written_by_another_service_is_in_the_catalog() -> None:
    """generate_topics.WRITERS gives a topic to a service its name does not start with
    (partners.inbound: webhooks publishes what partners report); a stale entry would
    grant nothing and hide the mistake."""
    import contracts.registry  # noqa: F401  (imports every contract module)
    from contracts.catalog import TOPICS

    generator = load_generator()
    for topic, service in generator.WRITERS.items():
        assert topic in TOPICS, f"generate_topics.WRITERS: no topic {topic} in contracts/"
        assert generator.writer(topic) == service
        assert not topic.startswith(f"{service}."), f"{topic} is {service}'s by its name"
    assert generator.writer("events.signups") == "events"


@pytest.mark.parametrize("name", processes())
def test_every_process_logs_in_to_kafka_as_its_own_user(name: str) -> None:
    """Each pod talks to Kafka over TLS as the KafkaUser of its name: username in its
    ConfigMap, password from that user's Secret, the cluster CA mounted where
    KAFKA_SSL_CAFILE says, in every container (the migrations load the settings too)."""
    generator = load_generator()
    users = {doc["metadata"]["name"]: doc for doc in load_all(generator.USERS_FILE)}
    assert name in users, f"components/strimzi/users.yaml: no KafkaUser {name}"
    assert users[name]["spec"]["authentication"]["type"] == "scram-sha-512"
    common = read_env_file(BASE / "config" / "common.env")
    assert common["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert common["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert common["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093"), "the TLS listener"
    assert read_env_file(BASE / "config" / f"{name}.env")["KAFKA_USERNAME"] == name
    ca_file = Path(common["KAFKA_SSL_CAFILE"])
    pod = resources(name)["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume["secret"] for volume in pod["volumes"] if "secret" in volume}
    for container in pod.get("initContainers", []) + pod["containers"]:
        where = f"base/{name}.yaml, container {container['name']}"
        assert secret_refs(container).get(KAFKA_PASSWORD) == {"name": name, "key": "password"}
        mounts = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == ca_file.parent]
        assert mounts, f"{where}: nothing mounted at {ca_file.parent}"
        secret = volumes.get(mounts[0]["name"], {})
        assert secret.get("secretName") == CLUSTER_CA_SECRET, f"{where}: {CLUSTER_CA_SECRET}"
        assert {"key": "ca.crt", "path": ca_file.name} in secret.get("items", [])
