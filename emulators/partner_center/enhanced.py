"""The enhanced attestation, as the project assumes it (docs/enhanced-attestation.md): create, status, finalize.

Routes (``enhanced_routes``; authenticated and faulted by the edge like every ``/v1`` route, a lost response
hits the POST too):

    POST /v1/attestations/enhanced                 create → 201 {attestationId, status, acceptanceLink, linkExpiresAt}
    GET  /v1/attestations/enhanced/{attestationId} status → 200 {attestationId, customerTenantId, status, …}
    POST /v1/customers/{id}/agreements             with "attestationId" in the body: finalize (``partner_api``)

Control (``/_simulator/enhanced``, never faulted): list, and the customer's side — accept, reject, expire the
link — plus the link lifetime. The simulator stands in for the customer here; the tool itself never accepts.
A test can also script the create's answer for one customer (``answer_creates``: a status and a Partner Center
code, e.g. 403 for a partner that is the customer's indirect reseller, whose reads succeed), which the random
faults of ``FaultConfig`` cannot aim at one call.

Choices where the real service is unknown (the same defaults as ``EnhancedApiSettings``): the body names the
customer in ``customerTenantId`` and the signatory's email and phone in ``signatoryEmail`` /
``signatoryPhoneNumber``; only app-only tokens are accepted (app+user: 401, 1002); statuses are ``Required``,
``Accepted``, ``Expired``, ``Rejected``; finalizing an attestation that is not accepted answers 400 with the
simulator's own code 600070 ``AttestationNotAccepted``; a create for a contact who already has an agreement
answers 600061. A create is processed once per ``MS-RequestId``, as the agreement POST.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.partner_center.agreements import Contact, parse_guid
from emulators.partner_center.bodies import Reply, agreement_fault, classic_fault, json_reply

PATH = "/v1/attestations/enhanced"
CONTROL = "/_simulator/enhanced"
LINK_BASE = "https://mca-acceptance.simulator.invalid/accept/"
REQUIRED, ACCEPTED, EXPIRED, REJECTED = "Required", "Accepted", "Expired", "Rejected"
ATTESTATION_ID_FIELD = "attestationId"
DEFAULT_LINK_LIFETIME_SECONDS = 7 * 24 * 3600.0
_STRING_FIELDS = ("customerTenantId", "country", "language", "companyName", "signatoryFirstName", "signatoryLastName")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True, slots=True)
class EnhancedAttestation:
    """One attestation: who, for which customer, and where the customer's acceptance stands."""

    attestation_id: str
    customer_id: str
    country: str
    language: str
    company_name: str
    contact: Contact
    status: str
    link_expires_at: datetime
    created_at: datetime
    accepted_at: datetime | None = None
    agreement_created: bool = False

    def current_status(self, now: datetime) -> str:
        """A link not acted on expires at ``link_expires_at``."""
        return EXPIRED if self.status == REQUIRED and now >= self.link_expires_at else self.status

    def to_json(self, now: datetime) -> dict[str, Any]:
        document: dict[str, Any] = {
            "attestationId": self.attestation_id,
            "customerTenantId": self.customer_id,
            "status": self.current_status(now),
            "acceptanceLink": LINK_BASE + self.attestation_id,
            "linkExpiresAt": _iso(self.link_expires_at),
        }
        if self.accepted_at is not None:
            document["acceptedAt"] = _iso(self.accepted_at)
        return document

    def inspection_json(self, now: datetime) -> dict[str, Any]:
        """What the control API shows (the contact included: the simulator's data is fake)."""
        return {
            **self.to_json(now),
            "country": self.country,
            "language": self.language,
            "companyName": self.company_name,
            "signatory": self.contact.to_json(),
            "agreementCreated": self.agreement_created,
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class EnhancedWorld:
    """Every enhanced attestation of the simulated world; thread-safe."""

    def __init__(self, link_lifetime_seconds: float = DEFAULT_LINK_LIFETIME_SECONDS) -> None:
        self._lock = threading.Lock()
        self._attestations: dict[str, EnhancedAttestation] = {}
        self._replies: dict[str, Reply] = {}
        self._create_answers: dict[str, Reply] = {}  # customer id → what every create for it is answered
        self.link_lifetime_seconds = link_lifetime_seconds
        self.replays = 0

    def create(
        self,
        raw_body: bytes,
        request_id: str | None,
        *,
        check_customer: Callable[[str], str | Reply],
        agreements_of: Callable[[str], list[Contact]],
    ) -> Reply:
        """Create an attestation, once per MS-RequestId (a repeat gets the first answer)."""
        key = request_id.strip().lower() if request_id and request_id.strip() else None
        with self._lock:
            if key is not None and key in self._replies:
                self.replays += 1
                reply = self._replies[key]
                return replace(reply, headers={**reply.headers, "X-Simulator-Replayed": "true"})
            reply = self._create(raw_body, check_customer, agreements_of)
            if key is not None:
                self._replies[key] = reply
            return reply

    def _create(
        self,
        raw_body: bytes,
        check_customer: Callable[[str], str | Reply],
        agreements_of: Callable[[str], list[Contact]],
    ) -> Reply:
        parsed = _parse_create(raw_body)
        if isinstance(parsed, Reply):
            return parsed
        customer = check_customer(parsed["customerTenantId"])
        if isinstance(customer, Reply):
            return customer
        if customer in self._create_answers:
            return self._create_answers[customer]
        phone = parsed.get("signatoryPhoneNumber")
        contact = Contact(parsed["signatoryFirstName"], parsed["signatoryLastName"], parsed["signatoryEmail"], phone)
        if any(contact.same_as(existing) for existing in agreements_of(customer)):
            return agreement_fault(
                400,
                600061,
                "A partner confirmed agreement already exists for the customer.",
                error_name="PartnerConfirmedAgreementAlreadyExists",
            )
        now = datetime.now(UTC)
        attestation = EnhancedAttestation(
            attestation_id=str(uuid.uuid4()),
            customer_id=customer,
            country=parsed["country"].upper(),
            language=parsed["language"],
            company_name=parsed["companyName"],
            contact=contact,
            status=REQUIRED,
            link_expires_at=now + timedelta(seconds=self.link_lifetime_seconds),
            created_at=now,
        )
        self._attestations[attestation.attestation_id] = attestation
        return json_reply(201, attestation.to_json(now))

    def status(self, attestation_id: str) -> Reply:
        with self._lock:
            attestation = self._attestations.get(attestation_id.lower())
        if attestation is None:
            return classic_fault(404, 1000, "Not found")
        return json_reply(200, attestation.to_json(datetime.now(UTC)))

    def check_finalize(self, customer_id: str, attestation_id: object) -> Reply | None:
        """Why an agreement cannot be created with ``attestation_id`` for the customer; None when it can."""
        with self._lock:
            found = self._attestations.get(attestation_id.lower()) if isinstance(attestation_id, str) else None
        if found is None or found.customer_id != (parse_guid(customer_id) or customer_id.lower()):
            return agreement_fault(
                400,
                3000,
                "Invalid property 'attestationId': no such attestation for the customer.",
                error_name="InvalidProperty",
                parameters={"property": ATTESTATION_ID_FIELD},
            )
        status = found.current_status(datetime.now(UTC))
        if status != ACCEPTED:
            return agreement_fault(
                400,
                600070,
                f"The customer has not accepted the attestation (status {status}).",
                error_name="AttestationNotAccepted",
            )
        return None

    def finalized(self, attestation_id: str) -> None:
        self._update(attestation_id, agreement_created=True)

    # Control: a scripted answer, and the customer's side.

    def answer_creates(self, customer_id: str, status: int, code: int, description: str = "") -> None:
        """From now on a create for ``customer_id`` is answered ``status`` with ``code`` (agreement shape) and
        creates nothing; like any processed answer it is kept per MS-RequestId. ``status`` 0 forgets the script."""
        key = parse_guid(customer_id) or customer_id.lower()
        with self._lock:
            if not status:
                self._create_answers.pop(key, None)
                return
            if not 400 <= status < 600:
                raise ValueError("status must be an HTTP error status (400-599), or 0 to forget the script")
            self._create_answers[key] = agreement_fault(
                status,
                code,
                description or f"Scripted answer of the simulator ({status}, {code}).",
                error_name="ScriptedAnswer",
            )

    def accept(self, attestation_id: str) -> EnhancedAttestation:
        """The customer accepts on Microsoft's page (a link that expired or was declined cannot be accepted)."""
        with self._lock:
            found = self._attestations[attestation_id.lower()]
            status = found.current_status(datetime.now(UTC))
            if status not in (REQUIRED, ACCEPTED):
                raise ValueError(f"attestation is {status}; it can no longer be accepted")
        return self._update(attestation_id, status=ACCEPTED, accepted_at=found.accepted_at or datetime.now(UTC))

    def reject(self, attestation_id: str) -> EnhancedAttestation:
        return self._update(attestation_id, status=REJECTED)

    def expire(self, attestation_id: str) -> EnhancedAttestation:
        """The link expires now (an accepted attestation stays accepted)."""
        return self._update(attestation_id, link_expires_at=datetime.now(UTC))

    def all(self) -> list[EnhancedAttestation]:
        with self._lock:
            return list(self._attestations.values())

    def _update(self, attestation_id: str, **changes: Any) -> EnhancedAttestation:
        with self._lock:
            key = attestation_id.lower()
            updated = replace(self._attestations[key], **changes)
            self._attestations[key] = updated
            return updated


def _parse_create(raw: bytes) -> dict[str, Any] | Reply:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return classic_fault(400, 800002, "Invalid request input: the body is not valid JSON.")
    if not isinstance(body, dict):
        return classic_fault(400, 800002, "Invalid request input: the body must be a JSON object.")
    for name in (*_STRING_FIELDS, "signatoryEmail"):
        if body.get(name) is None:
            return classic_fault(400, 800002, f"Invalid request input: '{name}' is required.", [name])
    for name in (*_STRING_FIELDS, "signatoryEmail"):
        if not isinstance(body[name], str) or not body[name].strip():
            return _invalid(name, "must be a non-empty string")
    if not _COUNTRY.match(body["country"]):
        return _invalid("country", "must be an ISO 3166-1 alpha-2 code")
    if not _EMAIL.match(body["signatoryEmail"]):
        return _invalid("signatoryEmail", "is not a valid email address")
    phone = body.get("signatoryPhoneNumber")
    if phone is not None and not isinstance(phone, str):
        return _invalid("signatoryPhoneNumber", "must be a string")
    return body


def _invalid(name: str, problem: str) -> Reply:
    return agreement_fault(
        400, 3000, f"Invalid property '{name}': {problem}.", error_name="InvalidProperty", parameters={"property": name}
    )
