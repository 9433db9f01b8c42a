"""The attestation POST body, its canonical bytes, and the derived MS-RequestId / MS-CorrelationId."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.attestation.correlation import derive_correlation_id
from shared.partner_center.agreement_request import AgreementRequest, derive_request_id, format_date_agreed

TENANT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
MCA_TEMPLATE = "117a77b0-9360-443b-8795-c6dedc750cf9"


def _request(**changes: Any) -> AgreementRequest:
    request = AgreementRequest(
        customer_tenant_id=TENANT,
        first_name="Zoë",
        last_name="Okafor",
        email="zoe.okafor@contoso.example",
        phone_number="+44 20 7946 0000",
        template_id=MCA_TEMPLATE,
        date_agreed=datetime(2026, 1, 15, 9, 30, 12, 345678, tzinfo=UTC),
        agreement_type="MicrosoftCustomerAgreement",
    )
    return dataclasses.replace(request, **changes)


@pytest.fixture
def new_york_local_time() -> Iterator[None]:
    """Run with a process time zone that is not UTC."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "America/New_York")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2018, 6, 14, tzinfo=UTC), "2018-06-14T00:00:00.000Z"),
        (datetime(2026, 1, 15, 9, 30, 12, 345678, tzinfo=UTC), "2026-01-15T09:30:12.345Z"),
        (datetime(2026, 1, 15, 9, 30, 12, 999999, tzinfo=UTC), "2026-01-15T09:30:12.999Z"),
        (datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=1))), "2026-11-20T08:30:00.000Z"),
        (datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), "2025-12-31T22:30:00.000Z"),
    ],
)
def test_format_date_agreed(value: datetime, expected: str) -> None:
    """dateAgreed is UTC, YYYY-MM-DDTHH:MM:SS.fffZ, milliseconds truncated."""
    assert format_date_agreed(value) == expected


@pytest.mark.usefixtures("new_york_local_time")
def test_naive_date_agreed_is_utc_not_local_time() -> None:
    """A date without an offset is taken as UTC, never as the process's local time."""
    assert format_date_agreed(datetime(2018, 6, 14, 12, 0)) == "2018-06-14T12:00:00.000Z"


def test_body_shape() -> None:
    """The body has the documented keys, with the contact under primaryContact."""
    assert _request().body() == {
        "primaryContact": {
            "firstName": "Zoë",
            "lastName": "Okafor",
            "email": "zoe.okafor@contoso.example",
            "phoneNumber": "+44 20 7946 0000",
        },
        "templateId": MCA_TEMPLATE,
        "dateAgreed": "2026-01-15T09:30:12.345Z",
        "type": "MicrosoftCustomerAgreement",
    }


def test_phone_omitted_when_none() -> None:
    """Without a phone number the body has no phoneNumber key at all."""
    assert "phoneNumber" not in _request(phone_number=None).body()["primaryContact"]


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    """Canonical bytes: sorted keys, no spaces, UTF-8 (not \\u escapes), and equal to the body."""
    raw = _request().canonical_bytes()

    assert raw.startswith(b'{"dateAgreed":"2026-01-15T09:30:12.345Z","primaryContact":{"email":')
    assert b", " not in raw
    assert b": " not in raw
    assert "Zoë".encode() in raw
    assert json.loads(raw) == _request().body()


def test_canonical_bytes_are_stable() -> None:
    """Equal requests give equal bytes, call after call."""
    assert _request().canonical_bytes() == _request().canonical_bytes()
    request = _request()
    assert request.canonical_bytes() == request.canonical_bytes()


def test_request_id_same_for_same_event_and_body() -> None:
    """The same event and body always give the same MS-RequestId, a UUIDv5."""
    first = derive_request_id("crm-42", _request())

    assert first == derive_request_id("crm-42", _request())
    assert uuid.UUID(first).version == 5


def test_request_id_is_pinned() -> None:
    """The derivation is fixed across versions: changing it would break idempotency of replays."""
    assert derive_request_id("crm-42", _request()) == "8f872cff-b0e3-5dd3-beb9-e627b1cea74a"


def test_request_id_ignores_the_offset_of_an_equal_instant() -> None:
    """The same instant written with another offset is the same request."""
    shifted = _request(date_agreed=datetime(2026, 1, 15, 10, 30, 12, 345678, tzinfo=timezone(timedelta(hours=1))))

    assert derive_request_id("crm-42", shifted) == derive_request_id("crm-42", _request())


@pytest.mark.parametrize(
    "change",
    [
        {"customer_tenant_id": "00000000-0000-0000-0000-000000000001"},
        {"first_name": "Zoe"},
        {"last_name": "Okafor-Smith"},
        {"email": "z.okafor@contoso.example"},
        {"phone_number": None},
        {"phone_number": "+44 20 7946 0001"},
        {"template_id": "0c9b5c3f-0a1e-4f6c-9f55-3a3f4c7d0a11"},
        {"date_agreed": datetime(2026, 1, 15, 9, 30, 13, tzinfo=UTC)},
        {"agreement_type": "MicrosoftCloudAgreement"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_request_id_changes_with_any_body_field(change: dict[str, Any]) -> None:
    """An edited event (any field of the body or the customer) is a new request with a new id."""
    assert derive_request_id("crm-42", _request(**change)) != derive_request_id("crm-42", _request())


def test_request_id_changes_with_the_event_id() -> None:
    """Another event with the same body is another request."""
    assert derive_request_id("crm-43", _request()) != derive_request_id("crm-42", _request())


def test_correlation_id_is_stable_per_event() -> None:
    """MS-CorrelationId derived from an event id is a fixed UUIDv5, different per event."""
    assert derive_correlation_id("crm-42") == derive_correlation_id("crm-42")
    assert derive_correlation_id("crm-42") == "8bd33da7-e431-5a51-9ec6-ff6f91ee9f93"
    assert derive_correlation_id("crm-43") != derive_correlation_id("crm-42")
    assert uuid.UUID(derive_correlation_id("crm-42")).version == 5


def test_repr_hides_the_contact() -> None:
    """repr and str show the customer and template, never a name, email or phone number."""
    request = _request()

    for text in (repr(request), str(request), f"{request}", repr([request])):
        assert TENANT in text
        for personal in ("Zoë", "Okafor", "zoe.okafor", "7946"):
            assert personal not in text
