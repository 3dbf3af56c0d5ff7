"""The one service shape: every service under ``services/`` is built the same way, so a
reader who knows one knows all and a new service copies the template, not a neighbour.

Fails when a service lacks a file of the shape, builds its app another way than
:func:`kit.service.create_service_app`, keeps a table outside its own MetaData, defines its
own pagination or ``Idempotency-Key`` handling, commits or rolls back outside the unit of
work, takes its session positionally in a service function, imports another service, or has
an OpenAPI document a generated client could not type exactly (ADR 0011). (import-linter
checks imports too; this test says which file and line.)
"""

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import MetaData
from sqlmodel import SQLModel

from kit.api.pagination import page_params
from kit.db import KIT_METADATA, OPT_IN_METADATA
from kit.settings import ServiceSettings
from kit.testing.contract import contract_problems

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"
SERVICES = sorted(path.name for path in SERVICES_DIR.iterdir() if (path / "__init__.py").exists())
REQUIRED_FILES = (
    "__init__.py",
    "app.py",
    "config.py",
    "models.py",
    "schemas.py",
    "api.py",
    "auth.py",
    "consumers.py",
    "migrations/env.py",
    "migrations/versions",
    "tests/__init__.py",
    "tests/conftest.py",
)
PAGE_PARAMETERS = {"cursor", "limit", "after"}


def modules(service: str, *, include_tests: bool = False) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((SERVICES_DIR / service).rglob("*.py")):
        relative = path.relative_to(SERVICES_DIR / service)
        if relative.parts[0] == "migrations" or (
            relative.parts[0] == "tests" and not include_tests
        ):
            continue
        yield path, ast.parse(path.read_text(), filename=str(path))


def domain_modules(service: str) -> Iterator[tuple[Path, ast.Module]]:
    root = SERVICES_DIR / service
    for path, tree in modules(service):
        if path == root / "service.py" or root / "service" in path.parents:
            yield path, tree


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(SERVICES_DIR.parent)}:{getattr(node, 'lineno', 0)}"


def test_services_are_found() -> None:
    assert {"identity", "events", "content", "rewards", "referrals", "webhooks"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_file_of_the_shape_exists(service: str) -> None:
    root = SERVICES_DIR / service
    missing = [name for name in REQUIRED_FILES if not (root / name).exists()]
    if not (root / "service.py").is_file() and not (root / "service" / "__init__.py").is_file():
        missing.append("service.py or service/__init__.py")
    assert not missing, f"services/{service} lacks {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_module_says_what_it_owns(service: str) -> None:
    silent = [str(path) for path, tree in modules(service) if not ast.get_docstring(tree)]
    assert not silent, f"modules without a docstring: {silent}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_app_is_built_by_the_template(service: str) -> None:
    path = SERVICES_DIR / service / "app.py"
    tree = ast.parse(path.read_text())
    factory = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "create_app"
        ),
        None,
    )
    assert factory is not None, f"{path} defines no create_app"
    calls = {_called_name(node) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "create_service_app" in calls, f"{path}: create_app must call kit's create_service_app"
    built_by_hand = calls & {"FastAPI", "build_service_app", "OutboxRelay", "EventConsumer"}
    assert not built_by_hand, f"{path} builds what the template builds: {sorted(built_by_hand)}"
    passed = {
        keyword.arg: ast.unparse(keyword.value)
        for node in ast.walk(factory)
        if isinstance(node, ast.Call) and _called_name(node) == "create_service_app"
        for keyword in node.keywords
    }
    assert passed.get("subscriptions") == "SUBSCRIPTIONS", f"{path}: pass consumers.SUBSCRIPTIONS"


@pytest.mark.parametrize("service", SERVICES)
def test_settings_are_named_after_the_service(service: str) -> None:
    config = importlib.import_module(f"services.{service}.config")
    classes = [
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    ]
    assert len(classes) == 1, f"services.{service}.config defines one ServiceSettings subclass"
    settings_class = classes[0]
    assert settings_class.model_config.get("env_prefix") == f"{service.upper()}_"
    assert settings_class.model_fields["service_name"].default == service


@pytest.mark.parametrize("service", SERVICES)
def test_tables_live_in_the_service_metadata(service: str) -> None:
    """``models.METADATA`` is the service's own (``kit.db.metadata.service_registry``): all
    its tables and kit's, nobody else's; migrations/env.py migrates to it."""
    importlib.import_module(f"services.{service}.app")  # every module that could define one
    models = importlib.import_module(f"services.{service}.models")
    metadata = getattr(models, "METADATA", None)
    assert isinstance(metadata, MetaData), (
        f"services/{service}/models.py: METADATA = <its base, on service_registry()>.metadata"
    )
    assert metadata is not SQLModel.metadata
    assert not SQLModel.metadata.tables, (
        f"tables in SQLModel's global metadata: {sorted(SQLModel.metadata.tables)}; derive "
        "them from the service's base (kit's from kit.db.KitTable)"
    )
    tables = {
        value.__table__.name: value.__table__.metadata
        for value in vars(models).values()
        if isinstance(value, type)
        and issubclass(value, SQLModel)
        and value.__module__ == models.__name__
        and hasattr(value, "__table__")
    }
    elsewhere = sorted(name for name, home in tables.items() if home is not metadata)
    assert not elsewhere, f"services/{service}/models.py: tables not in METADATA: {elsewhere}"
    assert set(KIT_METADATA.tables) <= set(metadata.tables)
    foreign = set(metadata.tables) - set(tables) - set(KIT_METADATA.tables)
    assert foreign <= set(OPT_IN_METADATA.tables), f"not {service}'s tables: {sorted(foreign)}"
    env = (SERVICES_DIR / service / "migrations" / "env.py").read_text()
    assert "run_migrations(METADATA," in env, f"services/{service}/migrations/env.py"


@pytest.mark.parametrize("service", SERVICES)
def test_consumers_declare_their_subscriptions(service: str) -> None:
    consumers = importlib.import_module(f"services.{service}.consumers")
    assert isinstance(consumers.SUBSCRIPTIONS, tuple)


def _app(service: str) -> FastAPI:
    app_module = importlib.import_module(f"services.{service}.app")
    config = importlib.import_module(f"services.{service}.config")
    settings_class = next(
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    )
    settings = settings_class(database_url="sqlite+aiosqlite://", bus_enabled=False)
    app: FastAPI = app_module.create_app(settings)
    return app


def _page_parameters_outside_kit(dependant: Dependant) -> list[str]:
    if dependant.call is page_params:
        return []
    own = [param.name for param in dependant.query_params if param.name in PAGE_PARAMETERS]
    return own + [
        name for sub in dependant.dependencies for name in _page_parameters_outside_kit(sub)
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_lists_page_with_kit(service: str) -> None:
    """Page parameters come from ``kit.api.pagination.PageDep``; pages are ``CursorPage``."""
    app = _app(service)
    own = {
        f"{sorted(route.methods or ())} {route.path}": names
        for route in app.routes
        if isinstance(route, APIRoute) and (names := _page_parameters_outside_kit(route.dependant))
    }
    assert not own, f"routes with their own page parameters (use kit's PageDep): {own}"
    schemas = app.openapi()["components"]["schemas"]
    hand_made = [
        name
        for name, schema in schemas.items()
        if "next_cursor" in schema.get("properties", {}) and not name.startswith("CursorPage")
    ]
    assert not hand_made, f"page models that are not kit's CursorPage: {hand_made}"


@pytest.mark.parametrize("service", SERVICES)
def test_idempotency_keys_come_from_kit(service: str) -> None:
    own = [
        where(path, node)
        for path, tree in modules(service)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.lower() == "idempotency-key"
    ]
    assert not own, f"declare Idempotency-Key with kit.api.idempotency.IdempotencyKey: {own}"


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_unit_of_work_commits(service: str) -> None:
    ends = [
        where(path, node)
        for path, tree in modules(service)
        if path.name != "cli.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback"}
    ]
    assert not ends, f"commit/rollback outside kit's unit of work: {ends}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_functions_take_their_session_by_keyword(service: str) -> None:
    positional = [
        f"{where(path, node)} {node.name}"
        for path, tree in domain_modules(service)
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
        and not node.name.startswith("_")
        and any(arg.arg == "session" for arg in node.args.posonlyargs + node.args.args)
    ]
    assert not positional, f"public service functions take (*, session, ...): {positional}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    foreign = [
        f"{where(path, node)} {name}"
        for path, tree in modules(service, include_tests=True)
        for node in ast.walk(tree)
        for name in _imported(node)
        if name.startswith("services.") and name.split(".")[1] != service
    ]
    assert not foreign, f"services/{service} imports another service: {foreign}"


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def _called_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_needs_no_hand_written_client_types(service: str) -> None:
    """Every route has a short dotted ``operation_id``, named enums, typed objects and
    response members all required, as kit.testing.contract.contract_problems asks
    (ADR 0011); the gateway's merged document is checked in tests/test_client_contract.py."""
    assert contract_problems(_app(service).openapi()) == []
