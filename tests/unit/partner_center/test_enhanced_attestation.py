"""The enhanced attestation adapter with a recording caller: bodies under configured names, where the id goes, mismatches."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.attestation.contract.v2 import parse_acceptance_requested
from shared.attestation.errors import PermanentError, RequestIds
from shared.attestation.ports import StatusKind
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.enhanced_api import EnhancedApiSettings
from shared.partner_center.enhanced_attestation import (
    EnhancedAttestationApi,
    EnhancedResponseMismatch,
    derive_enhanced_request_id,
    enhanced_request_for,
)
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE, TENANT, acceptance_requested_doc, signatory

IDS = RequestIds("req-1", "corr-1", "cv-1")


@dataclass
class RecordingCaller:
    """Answers every call with ``answer`` and records (method, path, params, decoded body, request id)."""

    answer: dict[str, Any]
    calls: list[tuple[str, str, Mapping[str, str] | None, Any, str | None]] = field(default_factory=list)

    async def call_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[dict[str, Any], RequestIds]:
        self.calls.append((method, path, params, json.loads(body) if body else None, request_id))
        return self.answer, IDS


def _request(**fields: Any) -> Any:
    return enhanced_request_for(parse_acceptance_requested(acceptance_requested_doc(**fields)))


def _agreement() -> AgreementRequest:
    return AgreementRequest(
        TENANT, FIRST, LAST, EMAIL, PHONE, "tpl", datetime(2026, 1, 2, tzinfo=UTC), "MicrosoftCustomerAgreement"
    )


async def test_create_sends_confirmed_and_configured_fields() -> None:
    """The POST carries the five confirmed fields and the assumed ones under their configured names."""
    caller = RecordingCaller({"attestationId": "att-1", "status": "Required", "acceptanceLink": "https://x/att-1"})
    settings = EnhancedApiSettings(email_field="email", phone_field="", customer_id_field="customerId")

    state = await EnhancedAttestationApi(caller, settings).create_attestation(
        _request(), request_id="r", correlation_id="c"
    )

    assert caller.calls == [
        (
            "POST",
            "/v1/attestations/enhanced",
            None,
            {
                "country": "DE",
                "language": "de-DE",
                "companyName": COMPANY,
                "signatoryFirstName": FIRST,
                "signatoryLastName": LAST,
                "email": EMAIL,
                "customerId": TENANT,
            },
            "r",
        )
    ]
    assert (state.attestation_id, state.status, state.raw_status) == ("att-1", StatusKind.PENDING, "Required")
    assert state.acceptance_link == "https://x/att-1"
    assert "https://x" not in repr(state)


async def test_the_phone_is_sent_only_when_there_is_one() -> None:
    """Without a phone in the event, the body has no phone field; with one, under the default name."""
    caller = RecordingCaller({"attestationId": "a"})
    api = EnhancedAttestationApi(caller)

    await api.create_attestation(_request(signatory=signatory(phoneNumber=...)), request_id="r", correlation_id="c")
    await api.create_attestation(_request(), request_id="r", correlation_id="c")

    assert "signatoryPhoneNumber" not in caller.calls[0][3]
    assert caller.calls[1][3]["signatoryPhoneNumber"] == PHONE


async def test_a_create_answer_without_the_id_field_is_a_mismatch_naming_fields_not_values() -> None:
    """A success without the configured id field is a permanent EnhancedResponseMismatch listing the field names."""
    caller = RecordingCaller({"id": "att-secret-value", "status": "Required"})

    with pytest.raises(EnhancedResponseMismatch) as caught:
        await EnhancedAttestationApi(caller).create_attestation(_request(), request_id="r", correlation_id="c")

    assert isinstance(caught.value, PermanentError)
    assert "'attestationId' (the configured responseIdField)" in str(caught.value)
    assert "['id', 'status']" in str(caught.value)
    assert "att-secret-value" not in str(caught.value)
    assert caught.value.ids == IDS


async def test_status_maps_the_configured_values() -> None:
    """GET status goes to the configured path and maps the value through the configured lists."""
    caller = RecordingCaller({"status": "SIGNED"})
    api = EnhancedAttestationApi(
        caller, EnhancedApiSettings(status_accepted=("Signed",), status_path="/v1/x/{attestationId}")
    )

    state = await api.get_status("att-9", correlation_id="c")

    assert caller.calls[0][:2] == ("GET", "/v1/x/att-9")
    assert (state.attestation_id, state.status, state.raw_status) == ("att-9", StatusKind.ACCEPTED, "SIGNED")


async def test_a_status_answer_without_the_status_field_is_a_mismatch() -> None:
    """A status answer lacking the configured status field cannot be read as any state."""
    with pytest.raises(EnhancedResponseMismatch, match="statusField"):
        await EnhancedAttestationApi(RecordingCaller({"state": "Accepted"})).get_status("a", correlation_id="c")


async def test_agreement_carries_the_attestation_id_in_the_body_by_default() -> None:
    """By default the agreement POST is the legacy body plus attestationId."""
    caller = RecordingCaller({"userId": "app"})

    created = await EnhancedAttestationApi(caller).create_agreement(
        _agreement(), "att-1", request_id="r", correlation_id="c"
    )

    method, path, params, body, _ = caller.calls[0]
    assert (method, path, params) == ("POST", f"/v1/customers/{TENANT}/agreements", None)
    assert body == {**_agreement().body(), "attestationId": "att-1"}
    assert created.user_id == "app"


async def test_agreement_can_carry_the_attestation_id_as_a_query_parameter() -> None:
    """attestationIdLocation=query sends the id as a query parameter under the configured name, not in the body."""
    caller = RecordingCaller({})
    settings = EnhancedApiSettings(attestation_id_location="query", attestation_id_name="enhancedAttestationId")

    await EnhancedAttestationApi(caller, settings).create_agreement(
        _agreement(), "att-1", request_id="r", correlation_id="c"
    )

    assert caller.calls[0][2] == {"enhancedAttestationId": "att-1"}
    assert caller.calls[0][3] == _agreement().body()


def test_request_ids_are_stable_per_event_step_and_body() -> None:
    """The same event, step and body give the same MS-RequestId; another step or body gives another."""
    body = {"country": "DE"}

    assert derive_enhanced_request_id("e", "create", body) == derive_enhanced_request_id("e", "create", dict(body))
    assert derive_enhanced_request_id("e", "create", body) != derive_enhanced_request_id("e", "agreement", body)
    assert derive_enhanced_request_id("e", "create", body) != derive_enhanced_request_id(
        "e", "create", {"country": "AT"}
    )


def test_request_repr_shows_no_personal_data() -> None:
    """The create request's repr names the customer and country only."""
    text = repr(_request())

    assert not [value for value in (FIRST, LAST, EMAIL, PHONE, COMPANY) if value in text]
