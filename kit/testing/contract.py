"""Every check schemathesis offers, for the contract tests of each service and the gateway."""

from collections.abc import Collection
from typing import Any

from schemathesis.checks import CHECKS, load_all_checks


def all_checks(*, excluding: tuple[str, ...] = ()) -> list[Any]:
    """schemathesis' registered checks (``--checks all``), less those named in ``excluding``."""
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check.__name__ not in excluding]
    unknown = set(excluding) - {check.__name__ for check in CHECKS.get_all()}
    assert not unknown, f"no such schemathesis checks: {unknown}"
    return checks


Operation = tuple[str, str]
"""``(method, path template)`` of an OpenAPI operation."""


def checks_for(
    method: str,
    path: str,
    *,
    schema_valid_but_refused: Collection[Operation] = (),
    unknown_query_ignored: Collection[Operation] = (),
) -> list[Any]:
    """Every check, less those that would report this operation's correct behaviour as a
    failure: ``positive_data_acceptance`` where a schema-valid request is rightly refused
    (a cursor the API never issued, a wrong password), ``negative_data_rejection`` where a
    list rightly ignores unknown query parameters."""
    excluding = []
    if (method, path) in schema_valid_but_refused:
        excluding.append("positive_data_acceptance")
    if (method, path) in unknown_query_ignored:
        excluding.append("negative_data_rejection")
    return all_checks(excluding=tuple(excluding))
