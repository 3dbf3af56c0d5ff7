"""Webhooks' HTTP API: admins' partner apps, endpoints, the delivery log and replays; the
public event types and Ed25519 key set; partners' inbound webhooks.

Credentials and signing secrets are in the response that creates or rotates them, and never
again. Admin actions are audited (:mod:`kit.audit`). The partner portal's pages are in
:mod:`.portal`.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.app import app_state
from kit.audit import record_action
from kit.db import SessionDep, utcnow
from kit.problems import problem_responses
from services.webhooks.auth import Admin
from services.webhooks.config import WebhooksSettings
from services.webhooks.models import DeliveryStatus, Endpoint
from services.webhooks.schemas import (
    AttemptPublic,
    DeliveryPublic,
    EndpointCreate,
    EndpointCreatedPublic,
    EndpointPublic,
    EndpointUpdate,
    EventTypesPublic,
    InboundAcceptedPublic,
    JsonWebKeyPublic,
    KeySetPublic,
    MessagePublic,
    NewSecretPublic,
    PartnerCreate,
    PartnerCredentialsPublic,
    PartnerPublic,
    PartnerUpdate,
    ReplayPublic,
    ReplayRequest,
    SecretRotation,
    TestEventPublic,
)
from services.webhooks.service import deliveries, documentation, endpoints, inbound, partners
from services.webhooks.service.endpoints import EndpointChanges, NewSecret
from services.webhooks.service.partners import Credentials
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.targets import Resolver, TargetPolicy

partner_router = APIRouter(prefix="/v1/partner-apps", tags=["partners (admin)"])
endpoint_router = APIRouter(prefix="/v1/webhook-endpoints", tags=["partners (admin)"])
message_router = APIRouter(prefix="/v1/webhook-messages", tags=["partners (admin)"])
document_router = APIRouter(tags=["partners"])
inbound_router = APIRouter(prefix="/v1/partners/inbound", tags=["partners"])

Settings = Annotated[WebhooksSettings, app_state("settings")]
Box = Annotated[SecretBox, app_state("secret_box")]
Policy = Annotated[TargetPolicy, app_state("target_policy")]
Names = Annotated[Resolver | None, app_state("resolver")]
"""How partners' host names resolve: DNS, unless the app was given a resolver (tests)."""
PartnerId = Annotated[uuid.UUID, Path()]
EndpointId = Annotated[uuid.UUID, Path()]
MessageId = Annotated[str, Path(max_length=40, pattern=r"^msg_[0-9a-f]{32}$")]


def credentials_public(partner: Any, credentials: Credentials) -> PartnerCredentialsPublic:
    return PartnerCredentialsPublic(
        partner=PartnerPublic.model_validate(partner),
        portal_key=credentials.portal_key,
        inbound_secret=credentials.inbound_secret,
    )


async def endpoint_public(session: SessionDep, endpoint: Endpoint) -> EndpointPublic:
    keys = await endpoints.key_ids(session=session, endpoint_id=endpoint.id)
    return EndpointPublic.model_validate({**endpoint.model_dump(), "keys": keys})


def secret_public(secret: NewSecret) -> NewSecretPublic:
    return NewSecretPublic(
        key_id=secret.key_id, kind=secret.kind, secret=secret.secret, public_key=secret.public_key
    )


def delivery_public(row: Any) -> DeliveryPublic:
    delivery, event_type = row
    pending = delivery.status == DeliveryStatus.PENDING
    return DeliveryPublic.model_validate(
        {
            **delivery.model_dump(),
            "event_type": event_type,
            "next_attempt_at": delivery.next_attempt_at if pending else None,
        }
    )


# --- partner apps ----------------------------------------------------------------------


@partner_router.post(
    "",
    operation_id="webhooks.createPartner",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerCredentialsPublic,
    responses=problem_responses(409),
)
async def create_partner(
    body: PartnerCreate, session: SessionDep, admin: Admin, box: Box
) -> PartnerCredentialsPublic:
    """Add a partner app; its portal key and inbound secret are shown this once."""
    partner, credentials = await partners.create(
        session=session, box=box, slug=body.slug, name=body.name, contact_email=body.contact_email
    )
    record_action(session, actor=admin.user_id, action="partner.create", subject=partner.id)
    return credentials_public(partner, credentials)


@partner_router.get(
    "",
    operation_id="webhooks.listPartners",
    response_model=CursorPage[PartnerPublic],
    responses=problem_responses(422),
)
async def list_partners(session: SessionDep, _: Admin, page: PageDep) -> CursorPage[PartnerPublic]:
    """Partner apps, newest first."""
    found, cursor = await partners.listing(session=session, page=page)
    items = [PartnerPublic.model_validate(partner) for partner in found]
    return CursorPage[PartnerPublic](items=items, next_cursor=cursor)


@partner_router.get(
    "/{partner_id}",
    operation_id="webhooks.getPartner",
    response_model=PartnerPublic,
    responses=problem_responses(404),
)
async def get_partner(partner_id: PartnerId, session: SessionDep, _: Admin) -> PartnerPublic:
    return PartnerPublic.model_validate(await partners.get(session=session, partner_id=partner_id))


@partner_router.patch(
    "/{partner_id}",
    operation_id="webhooks.updatePartner",
    response_model=PartnerPublic,
    responses=problem_responses(404),
)
async def update_partner(
    partner_id: PartnerId, body: PartnerUpdate, session: SessionDep, admin: Admin
) -> PartnerPublic:
    """Rename a partner, change its contact, suspend it (nothing is delivered to it, its
    inbound webhooks and sign-ins are refused) or make it active again."""
    partner = await partners.update(
        session=session,
        partner_id=partner_id,
        name=body.name,
        contact_email=body.contact_email,
        status=body.status,
    )
    record_action(
        session,
        actor=admin.user_id,
        action="partner.update",
        subject=partner.id,
        **body.model_dump(exclude_unset=True),
    )
    return PartnerPublic.model_validate(partner)


@partner_router.post(
    "/{partner_id}/credentials",
    operation_id="webhooks.rotatePartnerCredentials",
    response_model=PartnerCredentialsPublic,
    responses=problem_responses(404),
)
async def rotate_partner_credentials(
    partner_id: PartnerId, session: SessionDep, admin: Admin, box: Box
) -> PartnerCredentialsPublic:
    """New portal key and inbound secret, shown this once; the old ones stop working now."""
    partner, credentials = await partners.rotate_credentials(
        session=session, box=box, partner_id=partner_id
    )
    record_action(session, actor=admin.user_id, action="partner.rotate", subject=partner.id)
    return credentials_public(partner, credentials)


@partner_router.post(
    "/{partner_id}/endpoints",
    operation_id="webhooks.createEndpoint",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreatedPublic,
    responses=problem_responses(404),
)
async def create_endpoint(
    partner_id: PartnerId,
    body: EndpointCreate,
    session: SessionDep,
    admin: Admin,
    box: Box,
    policy: Policy,
    names: Names,
) -> EndpointCreatedPublic:
    """Add an endpoint to a partner; its signing secret is shown this once."""
    await partners.get(session=session, partner_id=partner_id)
    endpoint, secret = await endpoints.create(
        session=session,
        box=box,
        policy=policy,
        resolver=names,
        partner_id=partner_id,
        **body.model_dump(),
    )
    record_action(session, actor=admin.user_id, action="endpoint.create", subject=endpoint.id)
    return EndpointCreatedPublic(
        endpoint=await endpoint_public(session, endpoint), secret=secret_public(secret)
    )


@partner_router.get(
    "/{partner_id}/endpoints",
    operation_id="webhooks.listEndpoints",
    response_model=CursorPage[EndpointPublic],
    responses=problem_responses(404),
)
async def list_endpoints(
    partner_id: PartnerId, session: SessionDep, _: Admin, page: PageDep
) -> CursorPage[EndpointPublic]:
    await partners.get(session=session, partner_id=partner_id)
    found, cursor = await endpoints.listing(session=session, partner_id=partner_id, page=page)
    items = [await endpoint_public(session, endpoint) for endpoint in found]
    return CursorPage[EndpointPublic](items=items, next_cursor=cursor)


# --- endpoints -------------------------------------------------------------------------


@endpoint_router.get(
    "/{endpoint_id}",
    operation_id="webhooks.getEndpoint",
    response_model=EndpointPublic,
    responses=problem_responses(404),
)
async def get_endpoint(endpoint_id: EndpointId, session: SessionDep, _: Admin) -> EndpointPublic:
    return await endpoint_public(
        session, await endpoints.get(session=session, endpoint_id=endpoint_id)
    )


@endpoint_router.patch(
    "/{endpoint_id}",
    operation_id="webhooks.updateEndpoint",
    response_model=EndpointPublic,
    responses=problem_responses(404),
)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: EndpointUpdate,
    session: SessionDep,
    admin: Admin,
    policy: Policy,
    names: Names,
) -> EndpointPublic:
    """Change what the body names; the URL is checked again."""
    endpoint = await endpoints.get(session=session, endpoint_id=endpoint_id)
    given = body.model_dump(exclude_unset=True)
    changes = EndpointChanges(
        **given, clear_rate="rate_per_second" in given and body.rate_per_second is None
    )
    await endpoints.update(
        session=session, policy=policy, endpoint=endpoint, changes=changes, resolver=names
    )
    record_action(
        session, actor=admin.user_id, action="endpoint.update", subject=endpoint.id, **given
    )
    return await endpoint_public(session, endpoint)


@endpoint_router.post(
    "/{endpoint_id}/secret",
    operation_id="webhooks.rotateEndpointSecret",
    response_model=NewSecretPublic,
    responses=problem_responses(404),
)
async def rotate_endpoint_secret(
    endpoint_id: EndpointId,
    body: SecretRotation,
    session: SessionDep,
    admin: Admin,
    box: Box,
    settings: Settings,
) -> NewSecretPublic:
    """A new signing key, shown this once; the current one keeps signing beside it for the
    overlap, then retires."""
    endpoint = await endpoints.get(session=session, endpoint_id=endpoint_id)
    overlap = (
        settings.rotation_overlap_seconds if body.overlap_seconds is None else body.overlap_seconds
    )
    secret = await endpoints.rotate_secret(
        session=session, box=box, endpoint=endpoint, overlap_seconds=overlap, signing=body.signing
    )
    record_action(session, actor=admin.user_id, action="endpoint.rotate", subject=endpoint.id)
    return secret_public(secret)


@endpoint_router.post(
    "/{endpoint_id}/enable",
    operation_id="webhooks.enableEndpoint",
    response_model=EndpointPublic,
    responses=problem_responses(404),
)
async def enable_endpoint(
    endpoint_id: EndpointId, session: SessionDep, admin: Admin
) -> EndpointPublic:
    """Deliver to the endpoint again (a disabled one kept its pending deliveries)."""
    endpoint = await endpoints.get(session=session, endpoint_id=endpoint_id)
    endpoints.enable(session=session, endpoint=endpoint, now=utcnow(), actor=admin.user_id)
    record_action(session, actor=admin.user_id, action="endpoint.enable", subject=endpoint.id)
    return await endpoint_public(session, endpoint)


@endpoint_router.post(
    "/{endpoint_id}/disable",
    operation_id="webhooks.disableEndpoint",
    response_model=EndpointPublic,
    responses=problem_responses(404),
)
async def disable_endpoint(
    endpoint_id: EndpointId, session: SessionDep, admin: Admin
) -> EndpointPublic:
    """Stop delivering to the endpoint; what is pending waits until it is enabled."""
    endpoint = await endpoints.get(session=session, endpoint_id=endpoint_id)
    endpoints.disable(
        session=session, endpoint=endpoint, reason="admin", now=utcnow(), actor=admin.user_id
    )
    record_action(session, actor=admin.user_id, action="endpoint.disable", subject=endpoint.id)
    return await endpoint_public(session, endpoint)


@endpoint_router.post(
    "/{endpoint_id}/test",
    operation_id="webhooks.sendTestEvent",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestEventPublic,
    responses=problem_responses(404),
)
async def send_test_event(
    endpoint_id: EndpointId, session: SessionDep, admin: Admin
) -> TestEventPublic:
    """Queue a ``webhooks.test.v1`` message to the endpoint (whatever it subscribes to)."""
    endpoint = await endpoints.get(session=session, endpoint_id=endpoint_id)
    message_id = await deliveries.send_test(session=session, endpoint=endpoint, now=utcnow())
    record_action(session, actor=admin.user_id, action="endpoint.test", subject=endpoint.id)
    return TestEventPublic(message_id=message_id)


@endpoint_router.get(
    "/{endpoint_id}/deliveries",
    operation_id="webhooks.listDeliveries",
    response_model=CursorPage[DeliveryPublic],
    responses=problem_responses(404),
)
async def list_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    _: Admin,
    page: PageDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> CursorPage[DeliveryPublic]:
    """The endpoint's deliveries, newest first (``status`` filters)."""
    await endpoints.get(session=session, endpoint_id=endpoint_id)
    rows, cursor = await deliveries.listing(
        session=session, endpoint_id=endpoint_id, page=page, status=status
    )
    return CursorPage[DeliveryPublic](
        items=[delivery_public(row) for row in rows], next_cursor=cursor
    )


@endpoint_router.get(
    "/{endpoint_id}/attempts",
    operation_id="webhooks.listAttempts",
    response_model=CursorPage[AttemptPublic],
    responses=problem_responses(404),
)
async def list_attempts(
    endpoint_id: EndpointId,
    session: SessionDep,
    _: Admin,
    page: PageDep,
    message_id: Annotated[str | None, Query(max_length=40)] = None,
) -> CursorPage[AttemptPublic]:
    """The delivery log: every attempt (of one message, or all), newest first."""
    await endpoints.get(session=session, endpoint_id=endpoint_id)
    rows, cursor = await deliveries.attempts(
        session=session, endpoint_id=endpoint_id, page=page, message_id=message_id
    )
    items = [AttemptPublic.model_validate(row) for row in rows]
    return CursorPage[AttemptPublic](items=items, next_cursor=cursor)


@endpoint_router.post(
    "/{endpoint_id}/replay",
    operation_id="webhooks.replay",
    response_model=ReplayPublic,
    responses=problem_responses(404),
)
async def replay(
    endpoint_id: EndpointId, body: ReplayRequest, session: SessionDep, admin: Admin
) -> ReplayPublic:
    """Send again, with the same ``webhook-id``: one message, every exhausted one, or those
    of a time range."""
    await endpoints.get(session=session, endpoint_id=endpoint_id)
    if body.message_id is not None:
        await deliveries.delivery(
            session=session, endpoint_id=endpoint_id, message_id=body.message_id
        )
    queued = await deliveries.replay(
        session=session, endpoint_id=endpoint_id, now=utcnow(), **body.model_dump()
    )
    record_action(
        session,
        actor=admin.user_id,
        action="endpoint.replay",
        subject=endpoint_id,
        queued=queued,
        **body.model_dump(),
    )
    return ReplayPublic(queued=queued)


@message_router.get(
    "/{message_id}",
    operation_id="webhooks.getMessage",
    response_model=MessagePublic,
    responses=problem_responses(404),
)
async def get_message(message_id: MessageId, session: SessionDep, _: Admin) -> MessagePublic:
    """A message as it is sent: its ``webhook-id`` and the CloudEvent."""
    found = await deliveries.message(session=session, message_id=message_id)
    return MessagePublic.model_validate(found)


# --- public documents and inbound ------------------------------------------------------


@document_router.get(
    "/v1/webhook-event-types",
    operation_id="webhooks.listEventTypes",
    response_model=EventTypesPublic,
)
async def list_event_types() -> EventTypesPublic:
    """What a partner can subscribe to (outbound) and post (inbound), each with its data's
    schema and an example body. The same as an AsyncAPI 3.0 document:
    ``/v1/webhook-event-types/asyncapi.json``."""
    return EventTypesPublic.model_validate({"items": documentation.documented()})


@document_router.get("/v1/webhook-event-types/asyncapi.json", include_in_schema=False)
async def event_types_asyncapi() -> dict[str, Any]:
    """The partner events as an AsyncAPI 3.0 document (channels, messages, schemas)."""
    return documentation.asyncapi()


@document_router.get(
    "/v1/webhook-keys",
    operation_id="webhooks.keySet",
    response_model=KeySetPublic,
    responses=problem_responses(503),
)
async def key_set(session: SessionDep) -> KeySetPublic:
    """The Ed25519 public keys that sign ``v1a`` signatures now (a JSON Web Key Set)."""
    keys = await endpoints.public_keys(session=session, now=utcnow())
    return KeySetPublic(
        keys=[JsonWebKeyPublic(kid=str(key.id), x=key.public_key or "") for key in keys]
    )


@inbound_router.post(
    "/{partner}",
    operation_id="webhooks.receiveInbound",
    response_model=InboundAcceptedPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": InboundAcceptedPublic, "description": "accepted before: acknowledged"},
        **problem_responses(401, 403, 404, 409, 422),
    },
    openapi_extra={"requestBody": inbound.REQUEST_BODY},
)
async def receive_inbound(
    partner: Annotated[str, Path(max_length=40)],
    request: Request,
    response: Response,
    session: SessionDep,
    box: Box,
    settings: Settings,
) -> InboundAcceptedPublic:
    """A partner's report (Standard Webhooks signed with its inbound secret), published on
    ``partners.inbound``; a retry of an accepted message is acknowledged with 200."""
    webhook_id, new = await inbound.accept(
        session=session,
        box=box,
        slug=partner,
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.body(),
        now=utcnow(),
        tolerance_seconds=settings.inbound_tolerance_seconds,
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return InboundAcceptedPublic(webhook_id=webhook_id, duplicate=not new)


ROUTERS = (partner_router, endpoint_router, message_router, document_router, inbound_router)
