"""Shared bits of the simulator tests: request bodies, ids and token acquisition."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from emulators.partner_center import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    MCA,
    MCA_TEMPLATE_ID,
    PARTNER_CENTER_SCOPE,
    SimulatorServer,
)

CUSTOMERS_PATH = "/v1/customers/{}/agreements"


def new_customer() -> str:
    return str(uuid.uuid4())


def contact(**overrides: Any) -> dict[str, Any]:
    return {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "phoneNumber": "+1 555 0100"} | (
        overrides
    )


def attestation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "primaryContact": contact(),
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": "2024-06-14T00:00:00.000Z",
        "type": MCA,
    }
    return body | overrides


def refresh_grant(**overrides: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "refresh_token": DEFAULT_REFRESH_TOKEN,
        "scope": PARTNER_CENTER_SCOPE,
    } | overrides


def client_credentials_grant(**overrides: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "scope": PARTNER_CENTER_SCOPE,
    } | overrides


def access_token(sim: SimulatorServer, **grant: str) -> str:
    response = httpx.post(sim.token_url(), data=refresh_grant(**grant))
    response.raise_for_status()
    return str(response.json()["access_token"])
