"""The use case: Attestor turns an event into an Outcome, with fake metadata and a fake of the Attestation port
(the legacy POST adapter over a recording poster where the request sent is what is pinned)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from shared.attestation import errors as pc
from shared.attestation.correlation import derive_correlation_id
from shared.attestation.metadata import MCA
from shared.attestation.outcomes import (
    AlreadyAttested,
    Attested,
    DeadLetter,
    DeadLetterReason,
    RetryLater,
    Validated,
    outcome_name,
)
from shared.attestation.ports import AttestationRequest
from shared.attestation.use_case import Attestor
from shared.partner_center.agreement_attestation import AgreementPostAttestation, agreement_request_for
from shared.partner_center.agreement_request import derive_request_id
from tests.builders import (
    OLDER_TEMPLATE,
    TEMPLATE,
    TENANT,
    FakeAgreementPoster,
    FakeAttestation,
    FakeMetadata,
    as_body,
    contact,
    event_doc,
    no_templates,
    process_with,
    signed_event,
)

CURRENT_TEMPLATE = TEMPLATE
PC_IDS = pc.RequestIds(request_id="pc-req", correlation_id="pc-corr", ms_cv="pc-cv")
ZOE = contact(firstName="Zoë", lastName="Okafor", email="zoe.okafor@contoso.example", phoneNumber="+44 20 7946 0000")
PERSONAL_DATA = ("Zoë", "Okafor", "zoe.okafor", "7946")


PERMANENT_ERRORS: list[tuple[pc.PartnerCenterError, DeadLetterReason]] = [
    (pc.ConsentRequired("redo the consent", status=400, code="invalid_grant"), DeadLetterReason.CONSENT_REQUIRED),
    (pc.AuthError("MFA required", status=401, code="10001", ids=PC_IDS), DeadLetterReason.AUTHENTICATION_FAILED),
    (pc.FutureDate("Date of agreement cannot be greater", status=400, code="600002"), DeadLetterReason.FUTURE_DATE),
    (pc.UnknownCustomer("Tenant not found", status=404, code="60003"), DeadLetterReason.UNKNOWN_CUSTOMER),
    (pc.NoRelationship("no commerce relationship", status=403, code="20002"), DeadLetterReason.NO_RELATIONSHIP),
    (pc.RetiredTemplate("is no longer supported", status=400), DeadLetterReason.RETIRED_TEMPLATE),
    (pc.InvalidRequest("Invalid property", status=400, code="3000"), DeadLetterReason.REJECTED),
    (pc.PermanentError("something else", status=400), DeadLetterReason.REJECTED),
]


def _ids(case: object) -> str:
    return type(case).__name__ if isinstance(case, Exception) else str(case)


async def test_attested_with_user_id() -> None:
    """A 201 gives Attested with Partner Center's userId and the derived ids."""
    attestation = FakeAttestation(user_id="user-7")
    event = signed_event()

    outcome = await Attestor(attestation, FakeMetadata()).attest(event)

    [request] = attestation.requests
    assert outcome == Attested("crm-42", attestation.request_id(request), derive_correlation_id("crm-42"), "user-7")
    assert outcome_name(outcome) == "attested"


async def test_request_sent_is_built_from_the_event_and_current_template() -> None:
    """The API receives the event's contact and date with the current template (highest versionRank)."""
    poster = FakeAgreementPoster()
    metadata = FakeMetadata()

    await Attestor(AgreementPostAttestation(poster), metadata).attest(
        signed_event(primaryContact=ZOE, dateAgreed="2026-01-15T09:30:00Z")
    )

    [call] = poster.calls
    assert metadata.asked == [MCA]
    assert call.request.body() == {
        "primaryContact": {
            "firstName": "Zoë",
            "lastName": "Okafor",
            "email": "zoe.okafor@contoso.example",
            "phoneNumber": "+44 20 7946 0000",
        },
        "templateId": CURRENT_TEMPLATE,
        "dateAgreed": "2026-01-15T09:30:00.000Z",
        "type": MCA,
    }
    assert call.request.customer_tenant_id == TENANT


async def test_request_id_is_derived_from_event_and_request() -> None:
    """The MS-RequestId passed to the API is derive_request_id(event_id, request), the same on every delivery."""
    poster = FakeAgreementPoster()
    attestor = Attestor(AgreementPostAttestation(poster), FakeMetadata())

    await attestor.attest(signed_event())
    await attestor.attest(signed_event())

    first, second = poster.calls
    assert first.request_id == derive_request_id("crm-42", first.request)
    assert first.request_id == derive_request_id(
        "crm-42", agreement_request_for(AttestationRequest(signed_event(), CURRENT_TEMPLATE, ""))
    )
    assert second.request_id == first.request_id


async def test_event_correlation_id_is_used_when_given() -> None:
    """An event's own correlationId is sent as MS-CorrelationId."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata()).attest(signed_event(correlationId="crm-batch-7"))

    assert attestation.requests[0].correlation_id == "crm-batch-7"
    assert outcome.correlation_id == "crm-batch-7"


async def test_already_attested() -> None:
    """600061 from Partner Center is the AlreadyAttested outcome."""
    attestation = FakeAttestation(pc.AlreadyAttested("exists", status=400, code="600061"))

    outcome = await Attestor(attestation, FakeMetadata()).attest(signed_event())

    assert outcome == AlreadyAttested(
        "crm-42", attestation.request_id(attestation.requests[0]), derive_correlation_id("crm-42")
    )


async def test_throttled_is_retry_later_with_retry_after() -> None:
    """Throttled becomes RetryLater carrying Partner Center's Retry-After and the error summary."""
    attestation = FakeAttestation(pc.Throttled("Rate limit is exceeded.", retry_after=57.0, status=429, ids=PC_IDS))

    outcome = await Attestor(attestation, FakeMetadata()).attest(signed_event())

    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after == 57.0
    assert outcome.request_id == attestation.request_id(attestation.requests[0])
    assert "HTTP 429" in outcome.description


@pytest.mark.parametrize("error", [pc.ServerError("boom", status=503), pc.ConnectionFailed("ConnectError")], ids=_ids)
async def test_other_transient_errors_are_retry_later(error: pc.PartnerCenterError) -> None:
    """5xx and connection failures become RetryLater without a retry_after."""
    outcome = await Attestor(FakeAttestation(error), FakeMetadata()).attest(signed_event())

    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after is None


async def test_unreachable_is_retry_later_that_exhausts_as_partner_center_unreachable() -> None:
    """An answer that is not Partner Center's is RetryLater; when retries run out it is PartnerCenterUnreachable."""
    attestation = FakeAttestation(pc.Unreachable("Not Found", status=404, ids=PC_IDS))

    outcome = await Attestor(attestation, FakeMetadata()).attest(signed_event())

    assert isinstance(outcome, RetryLater)
    assert outcome.exhausted_reason is DeadLetterReason.PARTNER_CENTER_UNREACHABLE
    assert "HTTP 404" in outcome.description


@pytest.mark.parametrize(
    "error", [pc.ServerError("boom", status=503), pc.Throttled("slow", retry_after=1.0, status=429)], ids=_ids
)
async def test_other_transient_errors_exhaust_as_retries_exhausted(error: pc.PartnerCenterError) -> None:
    """Throttling and server errors exhaust as RetriesExhausted (the default)."""
    outcome = await Attestor(FakeAttestation(error), FakeMetadata()).attest(signed_event())

    assert isinstance(outcome, RetryLater)
    assert outcome.exhausted_reason is DeadLetterReason.RETRIES_EXHAUSTED


@pytest.mark.parametrize(("error", "reason"), PERMANENT_ERRORS, ids=_ids)
async def test_permanent_errors_dead_letter_with_reason(error: pc.PartnerCenterError, reason: DeadLetterReason) -> None:
    """Each permanent Partner Center error dead-letters with its reason and the error's summary."""
    attestation = FakeAttestation(error)

    outcome = await Attestor(attestation, FakeMetadata()).attest(signed_event())

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is reason
    assert outcome.description == error.summary()
    assert outcome.request_id == attestation.request_id(attestation.requests[0])
    assert outcome.event_id == "crm-42"


FUTURE_DATE = pc.FutureDate(
    "Date of agreement cannot be greater than the current date.", status=400, code="600002", ids=PC_IDS
)


@pytest.mark.parametrize(
    ("offset", "retry_after"),
    [(timedelta(minutes=1), 360.0), (timedelta(0), 300.0), (timedelta(minutes=-4), 60.0)],
    ids=["ahead-1min", "now", "behind-4min"],
)
async def test_future_date_within_clock_skew_is_retry_later(offset: timedelta, retry_after: float) -> None:
    """600002 for a dateAgreed within the allowed clock skew of now is RetryLater once Partner Center's clock can pass it."""
    now = datetime.now(UTC).replace(microsecond=0)
    event = signed_event(dateAgreed=(now + offset).isoformat())

    outcome = await Attestor(FakeAttestation(FUTURE_DATE), FakeMetadata(), clock=lambda: now).attest(event)

    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after == retry_after
    assert outcome.exhausted_reason is DeadLetterReason.FUTURE_DATE
    assert "600002" in outcome.description


async def test_future_date_beyond_clock_skew_dead_letters() -> None:
    """600002 for a dateAgreed more than the allowed skew in the past stays a FutureDateAgreed dead letter."""
    now = datetime.now(UTC).replace(microsecond=0)
    event = signed_event(dateAgreed=(now - timedelta(minutes=6)).isoformat())

    outcome = await Attestor(FakeAttestation(FUTURE_DATE), FakeMetadata(), clock=lambda: now).attest(event)

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.FUTURE_DATE


@pytest.mark.parametrize(("error", "reason"), PERMANENT_ERRORS, ids=_ids)
async def test_metadata_permanent_failures_map_the_same(error: pc.PartnerCenterError, reason: DeadLetterReason) -> None:
    """A permanent failure fetching metadata dead-letters with the same reason; nothing is posted."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata(error)).attest(signed_event())

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is reason
    assert outcome.request_id == ""
    assert attestation.requests == []


async def test_metadata_throttled_is_retry_later() -> None:
    """A throttled metadata fetch becomes RetryLater with its Retry-After; nothing is posted."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata(pc.Throttled("slow", retry_after=30.0, status=429))).attest(
        signed_event()
    )

    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after == 30.0
    assert attestation.requests == []


async def test_no_template_is_retry_later() -> None:
    """Metadata listing no template (NoTemplateError) is RetryLater, not a dead letter; nothing is posted."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata(no_templates())).attest(signed_event())

    assert isinstance(outcome, RetryLater)
    assert outcome.retry_after is None
    assert "no template" in outcome.description
    assert attestation.requests == []


async def test_dry_run_validates_and_never_calls_the_api() -> None:
    """A dry run resolves the template and ids, returns Validated, and posts nothing."""
    poster = FakeAgreementPoster()
    event = signed_event()

    outcome = await Attestor(AgreementPostAttestation(poster), FakeMetadata(), dry_run=True).attest(event)

    assert outcome == Validated(
        "crm-42",
        derive_request_id("crm-42", agreement_request_for(AttestationRequest(event, CURRENT_TEMPLATE, ""))),
        derive_correlation_id("crm-42"),
        CURRENT_TEMPLATE,
    )
    assert outcome_name(outcome) == "validated"
    assert poster.calls == []


async def test_known_template_override_is_honoured() -> None:
    """An event's templateId that metadata knows is posted instead of the current one."""
    attestation = FakeAttestation()

    await Attestor(attestation, FakeMetadata()).attest(signed_event(templateId=OLDER_TEMPLATE))

    assert attestation.requests[0].template_id == OLDER_TEMPLATE


async def test_unknown_template_override_dead_letters() -> None:
    """An event's templateId that is not a current template dead-letters as InvalidEvent; nothing is posted."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata()).attest(
        signed_event(templateId="22222222-2222-2222-2222-222222222222")
    )

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.INVALID_EVENT
    assert "templateId" in outcome.description
    assert attestation.requests == []


async def test_attest_body_with_valid_bytes() -> None:
    """attest_body parses a valid message body and attests it."""
    attestation = FakeAttestation()

    outcome = await Attestor(attestation, FakeMetadata()).attest_body(as_body(event_doc()))

    assert isinstance(outcome, Attested)
    assert len(attestation.requests) == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"eventId": "crm-42"}', ["customerTenantId", "dateAgreed", "primaryContact"]),
        (
            as_body(event_doc(customerTenantId="nope", primaryContact={"firstName": "", "lastName": "O"})),
            ["customerTenantId", "primaryContact.firstName", "primaryContact.email"],
        ),
        (b"\xff\xfe", ["body"]),
        (b"not json", ["body"]),
        (b"[]", ["body"]),
    ],
    ids=["missing-fields", "bad-fields", "not-utf8", "not-json", "not-object"],
)
async def test_attest_body_with_invalid_bytes_dead_letters(body: bytes, fields: list[str]) -> None:
    """Invalid bytes dead-letter as InvalidEvent, the description listing every failing field; nothing is posted."""
    attestation = FakeAttestation()
    metadata = FakeMetadata()

    outcome = await Attestor(attestation, metadata).attest_body(body)

    assert isinstance(outcome, DeadLetter)
    assert outcome.reason is DeadLetterReason.INVALID_EVENT
    for field in fields:
        assert f"{field}:" in outcome.description
    assert attestation.requests == []
    assert metadata.asked == []


async def test_outcome_logs_carry_ids_and_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    """The one outcome line per message carries event id, outcome, reason and request ids, never a name, email or
    phone number."""
    caplog.set_level(logging.INFO, logger="shared.attestation")
    attestor_ok = Attestor(FakeAttestation(), FakeMetadata())
    attestor_dead = Attestor(FakeAttestation(pc.UnknownCustomer("Zoë Okafor not found", status=404)), FakeMetadata())

    attested = (await process_with(attestor_ok, as_body(event_doc(primaryContact=ZOE)))).outcome
    dead = (await process_with(attestor_dead, as_body(event_doc(eventId="crm-43", primaryContact=ZOE)))).outcome
    invalid = (await process_with(attestor_ok, as_body(event_doc(customerTenantId="nope", primaryContact=ZOE)))).outcome

    assert [r.__dict__["outcome"] for r in caplog.records] == ["attested", "dead_letter", "dead_letter"]
    ok_record, dead_record, invalid_record = caplog.records
    assert ok_record.levelno == logging.INFO
    assert dead_record.levelno == logging.WARNING
    for record, outcome in ((ok_record, attested), (dead_record, dead), (invalid_record, invalid)):
        assert record.__dict__["event"] == "attestation.outcome"
        assert record.__dict__["event_id"] == outcome.event_id
        assert record.__dict__["ms_request_id"] == outcome.request_id
        assert record.__dict__["ms_correlation_id"] == outcome.correlation_id
        text = record.getMessage() + json.dumps({k: str(v) for k, v in record.__dict__.items()})
        for personal in PERSONAL_DATA:
            assert personal not in text
    assert ok_record.__dict__["event_id"] == "crm-42"
    assert ok_record.__dict__["ms_request_id"]
    assert "reason" not in ok_record.__dict__
    assert dead_record.__dict__["reason"] == "UnknownCustomer"
    assert invalid_record.__dict__["reason"] == "InvalidEvent"
