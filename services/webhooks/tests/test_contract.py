"""Webhooks' OpenAPI says the rules the API enforces: only the event types, the key set and
the signed inbound webhooks need no token, every other operation is an admin's and answers
401 without one, and the document is one a client generator needs no hand-written types for."""

from fastapi import FastAPI

from kit.openapi import operations
from kit.testing.contract import contract_problems

PUBLIC = {
    ("get", "/v1/webhook-event-types"),
    ("get", "/v1/webhook-keys"),
    ("post", "/v1/partners/inbound/{partner}"),
}


def test_only_the_partner_documents_and_inbound_webhooks_are_public(app: FastAPI) -> None:
    for (method, path), operation in operations(app.openapi()):
        security = operation["security"]
        if (method, path) in PUBLIC:
            assert security == [] or {} in security, f"{method.upper()} {path} needs no token"
        else:
            assert security, f"{method.upper()} {path} says who may call it"
            assert {} not in security, f"{method.upper()} {path} needs a token"
            assert "401" in operation["responses"], (method, path)


def test_the_document_needs_no_hand_written_types(app: FastAPI) -> None:
    assert contract_problems(app.openapi()) == []


def test_the_inbound_body_is_documented_per_message_type(app: FastAPI) -> None:
    inbound = app.openapi()["paths"]["/v1/partners/inbound/{partner}"]["post"]
    schema = inbound["requestBody"]["content"]["application/json"]["schema"]
    types = {variant["properties"]["type"]["const"] for variant in schema["oneOf"]}
    assert "partners.sales.vehicle_delivered.v1" in types
    assert len(types) == 6
    assert {"200", "202", "401", "403", "404", "409", "422"} <= set(inbound["responses"])


def test_the_portal_pages_are_not_in_the_document(app: FastAPI) -> None:
    assert not any("/portal" in path for path in app.openapi()["paths"])
