"""Base models of every service's API: ``<Thing>Create``/``<Thing>Update`` request bodies
derive from :class:`StrictBody`, ``<Thing>Public`` responses from :class:`PublicModel`,
lists from :class:`CursorPage`; an enum whose values are not identifiers (``Etc/GMT+1``)
is :func:`spelled_out`."""

import enum
import re
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic_core import CoreSchema

Item = TypeVar("Item")

VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
"""One character that is neither a control character nor whitespace, spelled out: ``\\s``
is Unicode whitespace to pydantic's validator but ASCII whitespace to JSON Schema tools
(schemathesis, generated clients), which would then take a lone U+0085 for text."""
TRIMMED_LINE = rf"^[^\x00-\x1f\x7f]*{VISIBLE}[^\x00-\x1f\x7f]*$"
"""One line with something visible: what stays non-empty once stripped."""


class StrictBody(BaseModel):
    """A request body: an unknown field is a 422, never silently ignored (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    """What a response shows; built from table rows by attribute. Every field is always
    sent, so its OpenAPI (serialization) schema lists each as required, defaults included:
    generated clients then type none of them as optional."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class CursorPage(PublicModel, Generic[Item]):
    """One page of a list; ``next_cursor`` continues it."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="pass as ``cursor`` for the next page; null on the last page"
    )


Spelled = TypeVar("Spelled", bound=enum.StrEnum)


def spelled_members(values: Iterable[str]) -> dict[str, str]:
    """Members for ``enum.StrEnum(name, ...)``, each ``value`` named by :func:`member_name`."""
    values = list(values)
    members = {member_name(value): value for value in values}
    if len(members) != len(values):
        raise ValueError("two values spell the same member name")
    return members


def member_name(value: str) -> str:
    """``Etc/GMT+1`` → ``ETC_GMT_PLUS_1``, ``Etc/GMT-1`` → ``ETC_GMT_MINUS_1``,
    ``America/Port-au-Prince`` → ``AMERICA_PORT_AU_PRINCE``."""
    spelled = re.sub(r"-(?=\d)", "_MINUS_", value.replace("+", "_PLUS_"))
    return re.sub(r"[^A-Za-z0-9]+", "_", spelled).strip("_").upper()


def spelled_out(enum_class: type[Spelled]) -> type[Spelled]:
    """``enum_class``, its OpenAPI schema naming each value by its member's name
    (``x-enum-varnames``, which openapi-generator and openapi-python-client use). Without
    it generators derive names from values that are not identifiers, and ``GMT+0``,
    ``GMT-0`` and ``GMT0`` collide."""

    def json_schema(core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        found = handler(core_schema)
        handler.resolve_ref_schema(found)["x-enum-varnames"] = [m.name for m in enum_class]
        return found

    enum_class.__get_pydantic_json_schema__ = json_schema  # type: ignore[attr-defined]
    return enum_class
