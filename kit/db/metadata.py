"""One MetaData per service, so services are independent down to their table names.

Each service's ``models.py`` declares a base of its own and derives every table from it::

    class EventsTable(SQLModel, registry=service_registry()):
        \"\"\"Base of events' tables.\"\"\"

    METADATA = EventsTable.metadata

The registry's MetaData starts with copies of kit's tables that every service's database
holds (:data:`kit.db.KIT_METADATA`: outbox, processed events, audit records) and the opt-in
ones it names (:class:`kit.db.OptInKitTable` models, such as the idempotency replay record);
the service's own tables join it. That one ``METADATA`` is the service's whole schema: its
Alembic ``env.py`` migrates to it and its tests build it, and it never sees another
service's tables, so two services may each have a table called ``comments``. The ORM maps
kit's models to their own tables in kit's MetaData; the copies describe the same schema.
"""

from sqlalchemy import MetaData, Table, event
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

# Imported so that every table of kit is defined before it is copied.
import kit.audit
import kit.bus.outbox  # noqa: F401
from kit.db import AFTER_CREATE_KEY, KIT_METADATA, OPT_IN_METADATA, new_metadata

__all__ = ["service_metadata", "service_registry"]


def service_metadata(*opt_in: type[SQLModel]) -> MetaData:
    """A fresh MetaData holding kit's tables (all of :data:`KIT_METADATA`, plus ``opt_in``)."""
    metadata = new_metadata()
    for table in KIT_METADATA.tables.values():
        _copy(table, metadata)
    for model in opt_in:
        table = model.__table__  # type: ignore[attr-defined]
        if table.metadata is not OPT_IN_METADATA:
            raise ValueError(f"{model.__name__} is not one of kit's opt-in tables")
        _copy(table, metadata)
    return metadata


def _copy(table: Table, metadata: MetaData) -> None:
    """Copy ``table`` with the DDL it needs after ``CREATE TABLE`` (``to_metadata`` copies
    columns and constraints, not event listeners)."""
    copy = table.to_metadata(metadata)
    for statement in table.info.get(AFTER_CREATE_KEY, ()):
        event.listen(copy, "after_create", statement)


def service_registry(*opt_in: type[SQLModel]) -> registry:
    """The registry of a service's base: its MetaData is :func:`service_metadata`."""
    return registry(metadata=service_metadata(*opt_in))
