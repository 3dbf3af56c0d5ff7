"""Cursor pagination: ``?cursor=&limit=`` on every list, keyset queries underneath.

A :class:`Keyset` is an ordering over columns (each ascending or descending) that ends in
a unique column, so every row has one position. :meth:`Keyset.paged` orders a query, keeps
the rows strictly after the cursor's position and fetches ``limit + 1`` rows: the extra
row, if any, says a next page exists, so the last page never links to an empty one.
A cursor is the position of the page's last row, base64url-encoded JSON: opaque to
clients, and a tampered one only moves where the page starts (the query's filters still
apply). Anything that does not decode to the keyset's column types is a 422.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar, TypeVarTuple

from fastapi import Depends, Query
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.types import TypeDecorator

from kit.problems import Problem

Row = TypeVar("Row")
Columns = TypeVarTuple("Columns")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
CURSOR_MAX_LENGTH = 500


class BadCursor(Problem):
    status, code = 422, "bad-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned")


@dataclass(frozen=True, slots=True)
class PageParams:
    cursor: str | None
    limit: int


def page_params(
    cursor: Annotated[
        str | None,
        Query(max_length=CURSOR_MAX_LENGTH, description="``next_cursor`` of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
) -> PageParams:
    return PageParams(cursor=cursor, limit=limit)


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Order:
    """One column of a keyset and its direction."""

    column: Any
    descending: bool = False


class Keyset:
    """An ordering that pages: ``Keyset(Order(col(Event.starts_at)), Order(col(Event.id)))``."""

    def __init__(self, *orders: Order) -> None:
        if not orders:
            raise ValueError("a keyset needs at least one column")
        self.orders = orders

    def paged(self, query: Select[*Columns], page: PageParams) -> Select[*Columns]:
        """``query`` ordered by the keyset, after the cursor, ``limit + 1`` rows."""
        if page.cursor is not None:
            query = query.where(self._after(self.decode(page.cursor)))
        ordering = [
            order.column.desc() if order.descending else order.column for order in self.orders
        ]
        return query.order_by(*ordering).limit(page.limit + 1)

    def page(
        self, rows: Sequence[Row], page: PageParams, position: Callable[[Row], Sequence[Any]]
    ) -> tuple[list[Row], str | None]:
        """The page's rows and the cursor of the next page (``None`` on the last one);
        ``position(row)`` gives a row's values of the keyset's columns, in order."""
        items = list(rows[: page.limit])
        if len(rows) <= page.limit:
            return items, None
        return items, self.encode(position(items[-1]))

    def encode(self, values: Sequence[Any]) -> str:
        raw = json.dumps([_jsonable(value) for value in values]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            values = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise BadCursor() from exc
        if not isinstance(values, list) or len(values) != len(self.orders):
            raise BadCursor()
        return [
            _parse(value, order.column) for value, order in zip(values, self.orders, strict=True)
        ]

    def _after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after ``values`` in the keyset's order."""
        alternatives = []
        for index, order in enumerate(self.orders):
            ties = [self.orders[i].column == values[i] for i in range(index)]
            beyond = (
                order.column < values[index] if order.descending else order.column > values[index]
            )
            alternatives.append(and_(*ties, beyond))
        return or_(*alternatives)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _python_type(column: Any) -> type:
    """The Python type of a column's values, looking through type decorators."""
    column_type = column.type
    while isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        return column_type.python_type
    except NotImplementedError:  # SQLAlchemy: this type declares no Python type
        return object


def _parse(value: Any, column: Any) -> Any:
    """``value`` as the column's Python type; :class:`BadCursor` when it is not one."""
    python_type = _python_type(column)
    try:
        if python_type is datetime:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("naive timestamp")
            return parsed
        if python_type is uuid.UUID:
            return uuid.UUID(value)
        if python_type in (int, str, bool) and type(value) is not python_type:
            raise TypeError(f"expected {python_type.__name__}")
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadCursor() from exc
    return value
