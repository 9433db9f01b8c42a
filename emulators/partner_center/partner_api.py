"""The Partner Center routes under ``/v1``. Each handler parses the request and asks the state.

Authentication, faults, the per-partner rate limit and the response headers are the edge's job
(``app.partner_center_edge``); a handler here runs only for an authenticated, un-faulted request.
"""

from __future__ import annotations

import json

from aiohttp import web

from emulators.partner_center.enhanced import ATTESTATION_ID_FIELD
from emulators.partner_center.keys import IDENTITY, STATE


def _query(request: web.Request, name: str) -> str | None:
    """A query parameter by case-insensitive name; empty counts as absent."""
    wanted = name.lower()
    for key, value in request.query.items():
        if key.lower() == wanted and value:
            return value
    return None


async def get_agreements(request: web.Request) -> web.StreamResponse:
    """``GET /v1/agreements?agreementType=…`` (none ⇒ Cloud Agreement only, as the real service)."""
    return request.app[STATE].list_templates(_query(request, "agreementType")).to_response()


async def post_customer_agreement(request: web.Request) -> web.StreamResponse:
    """``POST /v1/customers/{id}/agreements``: attest, once per MS-RequestId.

    A body with ``attestationId`` finalizes an enhanced attestation: allowed once the customer accepted it.
    """
    raw = await request.read()
    state = request.app[STATE]
    customer_id = request.match_info["customer_id"]
    attestation_id = _attestation_id(raw)
    if attestation_id is not None:
        refusal = state.enhanced.check_finalize(customer_id, attestation_id)
        if refusal is not None:
            return refusal.to_response()
    reply = state.attest(customer_id, raw, request[IDENTITY], request.headers.get("MS-RequestId"))
    if attestation_id is not None and reply.status in (200, 201):
        state.enhanced.finalized(str(attestation_id))
    return reply.to_response()


def _attestation_id(raw: bytes) -> object | None:
    """The body's ``attestationId`` (any JSON value), or None when there is none or no JSON object."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return body.get(ATTESTATION_ID_FIELD) if isinstance(body, dict) else None


async def get_customer_agreements(request: web.Request) -> web.StreamResponse:
    """``GET /v1/customers/{id}/agreements?agreementType=…``."""
    state = request.app[STATE]
    return state.customer_agreements(request.match_info["customer_id"], _query(request, "agreementType")).to_response()


async def get_direct_signed_status(request: web.Request) -> web.StreamResponse:
    """``GET /v1/customers/{id}/directSignedMicrosoftCustomerAgreementStatus``."""
    return request.app[STATE].direct_signed_status(request.match_info["customer_id"]).to_response()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/agreements", get_agreements)
    app.router.add_post("/v1/customers/{customer_id}/agreements", post_customer_agreement)
    app.router.add_get("/v1/customers/{customer_id}/agreements", get_customer_agreements)
    app.router.add_get(
        "/v1/customers/{customer_id}/directSignedMicrosoftCustomerAgreementStatus", get_direct_signed_status
    )
