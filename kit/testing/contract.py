"""Every check schemathesis offers, for the contract tests of each service and the gateway."""

from typing import Any

from schemathesis.checks import CHECKS, load_all_checks


def all_checks(*, excluding: tuple[str, ...] = ()) -> list[Any]:
    """schemathesis' registered checks (``--checks all``), less those named in ``excluding``."""
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check.__name__ not in excluding]
    unknown = set(excluding) - {check.__name__ for check in CHECKS.get_all()}
    assert not unknown, f"no such schemathesis checks: {unknown}"
    return checks
