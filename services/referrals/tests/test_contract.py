"""Referrals' OpenAPI says the rules the API enforces: only resolving a code and the share
form need no token, every other operation says who may call it and answers 401 without
one, and the document is one a client generator needs no hand-written types for."""

from fastapi import FastAPI

from kit.openapi import operations
from kit.testing.contract import contract_problems

PUBLIC = {("get", "/v1/referral-codes/{code}"), ("post", "/v1/referrals/leads")}


def test_only_the_share_page_and_form_are_public(app: FastAPI) -> None:
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


def test_the_share_form_documents_its_refusals(app: FastAPI) -> None:
    lead = app.openapi()["paths"]["/v1/referrals/leads"]["post"]
    assert {"201", "403", "404", "409", "422", "429"} <= set(lead["responses"])
    assert "Retry-After" in lead["responses"]["429"]["headers"]
    what_a_referrer_sees = app.openapi()["components"]["schemas"]["MyReferralPublic"]
    assert "phone" not in what_a_referrer_sees["properties"]
