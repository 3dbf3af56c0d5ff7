"""Base models of every service's API: ``<Thing>Create``/``<Thing>Update`` request bodies
derive from :class:`StrictBody`, ``<Thing>Public`` responses from :class:`PublicModel`,
lists from :class:`CursorPage`."""

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


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
