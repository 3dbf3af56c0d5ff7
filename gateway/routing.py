"""Which upstream owns a path, and which paths may be called without a token.

Prefixes match whole path segments (``/v1/me`` owns ``/v1/me`` and ``/v1/me/vehicles``,
never ``/v1/meow``) and the longest one wins; a lookup walks the path's segments up
through a dict, so its cost does not grow with the size of the table.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """A route table entry; ``path`` is what the HTTP metrics use as the route label."""

    path: str
    upstream: str


class RouteTable:
    """Path prefix → upstream name, matched by the longest prefix on segment boundaries."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        self._routes = {prefix: ProxyRoute(prefix, upstream) for prefix, upstream in routes.items()}

    def match(self, path: str) -> ProxyRoute | None:
        candidate = path
        while True:
            route = self._routes.get(candidate)
            if route is not None:
                return route
            if candidate == "/":
                return None
            candidate = candidate.rpartition("/")[0] or "/"

    def owner(self, path: str) -> str | None:
        route = self.match(path)
        return route.upstream if route else None


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` itself or lies below it."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class PublicRoutes:
    """Rules like ``/v1/auth`` (any method) or ``GET /v1/users``; GET rules cover HEAD."""

    def __init__(self, rules: Iterable[str]) -> None:
        self._rules: list[tuple[frozenset[str] | None, str]] = []
        for rule in rules:
            method, _, prefix = rule.strip().rpartition(" ")
            methods = {method.upper()} if method else None
            if methods == {"GET"}:
                methods.add("HEAD")
            self._rules.append((frozenset(methods) if methods else None, prefix))

    def allows(self, method: str, path: str) -> bool:
        return any(
            (methods is None or method in methods) and under(path, prefix)
            for methods, prefix in self._rules
        )
