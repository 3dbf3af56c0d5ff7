"""Inbound partner webhooks: verified, checked against their message type's schema,
accepted once per ``webhook-id`` and published on ``partners.inbound``.

The order of the checks: the partner exists and is active, the Standard Webhooks signature
verifies under its inbound secret within the timestamp tolerance (so nothing unsigned is
even parsed), the body is a known message type whose data fits its schema. A message whose
``webhook-id`` was accepted before is acknowledged again, and not published again, when its
body is the same (the partner retried); the same id with another body is a conflict. The
``webhook-id`` becomes the report's ``report_id``, and the partner's slug its ``partner_id``.
"""

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.partners import (
    SalesOrderCancelled,
    SalesOrderPlaced,
    SalesOrderRefunded,
    SalesReport,
    SalesTestDriveBooked,
    SalesTestDriveDone,
    SalesVehicleDelivered,
)
from kit.api.schemas import StrictBody
from kit.bus.outbox import publish
from kit.db import dialect_insert
from kit.problems import Conflict, Forbidden, NotFound, Problem, Unauthorized
from services.webhooks.models import InboundMessage, PartnerStatus
from services.webhooks.service import partners
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.signing import SignatureRefused, verify

INBOUND_REPORTS: tuple[type[SalesReport], ...] = (
    SalesTestDriveBooked,
    SalesTestDriveDone,
    SalesOrderPlaced,
    SalesVehicleDelivered,
    SalesOrderCancelled,
    SalesOrderRefunded,
)
SET_BY_PADDOCK = frozenset({"partner_id", "report_id"})


def _inbound_model(report: type[SalesReport]) -> type[StrictBody]:
    """``{"type": "<event type>", "data": {...}}``: the report without what Paddock sets."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in report.model_fields.items()
        if name not in SET_BY_PADDOCK
    }
    data = create_model(f"{report.__name__}Data", __base__=StrictBody, **fields)
    literal: Any = Literal[report.event_type]
    return create_model(
        f"Inbound{report.__name__.removeprefix('Sales')}",
        __base__=StrictBody,
        __doc__=report.__doc__,
        type=(literal, ...),
        data=(data, ...),
    )


INBOUND_MODELS = {report.event_type: (_inbound_model(report), report) for report in INBOUND_REPORTS}
_ANY_INBOUND: Any = Union[tuple(model for model, _ in INBOUND_MODELS.values())]  # noqa: UP007
InboundBody: Any = Annotated[_ANY_INBOUND, Field(discriminator="type")]
"""What a partner posts: one of the message types, told apart by ``type``."""
INBOUND_ADAPTER: TypeAdapter[Any] = TypeAdapter(InboundBody)


def _inlined(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """``schema`` with its ``$ref`` s replaced by what they name (OpenAPI's request body of a
    route that reads its raw body cannot point into ``$defs``)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
        return {
            key: _inlined(value, definitions) for key, value in schema.items() if key != "$defs"
        }
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


def _request_body() -> dict[str, Any]:
    schema = INBOUND_ADAPTER.json_schema()
    inlined = _inlined(schema, schema.get("$defs", {}))
    inlined.pop("discriminator", None)  # its mapping points into $defs too
    return {"required": True, "content": {"application/json": {"schema": inlined}}}


REQUEST_BODY = _request_body()
"""The inbound body as OpenAPI documents it."""


class BadSignature(Unauthorized):
    code = "bad-signature"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, headers={"WWW-Authenticate": 'Signature realm="webhooks"'})


class MalformedMessage(Problem):
    status, code = 422, "malformed-message"


async def accept(
    *,
    session: AsyncSession,
    box: SecretBox,
    slug: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    tolerance_seconds: int,
) -> tuple[str, bool]:
    """Take one inbound message; ``(its webhook-id, whether it was new)``."""
    partner = await partners.by_slug(session=session, slug=slug)
    if partner is None:
        raise NotFound("no such partner")
    if partner.status != PartnerStatus.ACTIVE:
        raise Forbidden("this partner is suspended")
    try:
        webhook_id = verify(
            secret=box.open(partner.inbound_secret),
            headers=headers,
            body=body,
            now=now,
            tolerance_seconds=tolerance_seconds,
        )
    except SignatureRefused as refused:
        raise BadSignature(refused.reason) from None
    report = _parse(body, partner_slug=slug, webhook_id=webhook_id)
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = await session.execute(
        dialect_insert(session, InboundMessage)
        .values(
            partner_id=partner.id,
            webhook_id=webhook_id,
            body_hash=body_hash,
            event_type=report.event_type,
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(InboundMessage.webhook_id)
    )
    if claimed.first() is None:
        earlier = await session.get(InboundMessage, (partner.id, webhook_id))
        if earlier is not None and earlier.body_hash != body_hash:
            raise Conflict(f"webhook-id {webhook_id} was accepted with another body")
        return webhook_id, False
    publish(session, report, actor=None)
    return webhook_id, True


def _parse(body: bytes, *, partner_slug: str, webhook_id: str) -> SalesReport:
    try:
        message = INBOUND_ADAPTER.validate_json(body)
    except ValidationError as invalid:
        raise MalformedMessage(
            "the body is not an inbound message (see /v1/webhook-event-types)",
            errors=[
                {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
                for error in invalid.errors(include_url=False, include_context=False)
            ],
        ) from None
    _, report = INBOUND_MODELS[message.type]
    return report(partner_id=partner_slug, report_id=webhook_id, **message.data.model_dump())
