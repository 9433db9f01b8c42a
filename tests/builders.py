"""Builders for events and messages, and fakes of the ports, for every test folder. No mocks: fakes record.

Events
    ``event_doc`` (a valid contract v1 event as a JSON document), ``event_with_contact``, ``signed_event``
    (parsed), ``as_body`` (a document as bytes), ``fresh_event_doc`` (new ids and a recent date, for real servers that
    remember), ``cloud_event`` and ``event_grid_event`` (envelopes). Keyword arguments replace top-level
    fields by their wire name; ``...`` removes one.
Personal data
    ``FIRST``, ``LAST``, ``EMAIL``, ``PHONE``, ``COMPANY``: unusual on purpose, so "does an error message or a log line
    echo the input?" cannot be fooled by a common word.
Port fakes
    ``FakeAttestation`` (the ``Attestation`` port, for use-case tests that need only the port),
    ``FakeAgreementPoster`` (behind ``AgreementPostAttestation``, for tests of the POST body and request id),
    ``FakeMetadata`` (``MetadataSource``), ``FakeTokens`` (``TokenProvider``), ``RecordingSleep``,
    ``FakeLedger`` (``Ledger``: entries in a dict, every write recorded; ``fail`` makes it unreachable),
    ``FakeAcceptanceReads`` (Partner Center's two pre-check reads, recorded),
    ``ManualClock`` (a clock and a sleep that only move on demand), ``RecordingSharedPause`` (``SharedPause``).
Service Bus
    ``received_message`` (a real SDK message), ``RecordingMessageActions`` (the settler),
    ``RecordingSender`` (sends, batches and schedules).
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch, ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus.exceptions import ServiceBusError

from shared.attestation.contract import SignedAgreementEvent, parse_event
from shared.attestation.contract.v2 import AcceptanceRequestedEvent
from shared.attestation.errors import AlreadyAttested as AlreadyAttestedError
from shared.attestation.errors import RequestIds
from shared.attestation.flow_state import Delivery
from shared.attestation.ledger import LedgerEntry, LedgerError, LedgerQuery, StoredEntry
from shared.attestation.metadata import MCA, AgreementMetadata
from shared.attestation.notifications import FlowNotification, NotificationError
from shared.attestation.ports import AttestationReceipt, AttestationRequest, AttestationState, StatusKind
from shared.attestation.router import EventRouter
from shared.attestation.use_case import Attestor
from shared.metadata_cache.testing import make_metadata
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.client import CreatedAgreement, CustomerAgreement
from shared.servicebus.processing import Processed, process_message
from shared.servicebus.settlement import RedeliveryPolicy, ScheduleCheck

FIRST = "Zephyrine"
LAST = "Quillfeather"
EMAIL = "zephyrine.quillfeather@contoso.example.com"
PHONE = "+1 555 0147"
TENANT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
TEMPLATE = "117a2bd2-6a5d-4c2b-9d3b-1f4a5e6b7c80"  # the current template of FakeMetadata's default answer
OLDER_TEMPLATE = "0c9b5c3f-0a1e-4f6c-9f55-3a3f4c7d0a11"  # a known, older template of that answer
EVENT_ID = "crm-42"
DATE_AGREED = "2026-11-20T09:30:00Z"


# --- events -------------------------------------------------------------------------------------------------------


def _replaced(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: a value replaces the key, ``...`` removes it."""
    for key, value in changes.items():
        if value is ...:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def contact(**fields: Any) -> dict[str, Any]:
    """The default primaryContact (every field set); ``fields`` replace fields, ``...`` removes one."""
    return _replaced({"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": PHONE}, fields)


def event_doc(**fields: Any) -> dict[str, Any]:
    """A valid bare contract v1 event; ``fields`` replace top-level fields (``...`` removes one)."""
    doc = {"eventId": EVENT_ID, "customerTenantId": TENANT, "dateAgreed": DATE_AGREED, "primaryContact": contact()}
    return _replaced(doc, fields)


def event_with_contact(**contact_fields: Any) -> dict[str, Any]:
    """A valid bare event whose primaryContact fields are replaced (``...`` removes one)."""
    return event_doc(primaryContact=contact(**contact_fields))


def signed_event(**fields: Any) -> SignedAgreementEvent:
    """``event_doc(**fields)``, parsed."""
    return parse_event(event_doc(**fields))


def as_body(doc: object) -> bytes:
    """A document as a message body (JSON, UTF-8)."""
    return json.dumps(doc).encode("utf-8")


def fresh_event_doc(**fields: Any) -> dict[str, Any]:
    """A valid event with a new eventId and customer and yesterday's date: for real servers (the simulator,
    the broker) that remember what they were sent."""
    fresh = {
        "eventId": f"crm-{uuid.uuid4().hex[:12]}",
        "customerTenantId": str(uuid.uuid4()),
        "dateAgreed": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    }
    return event_doc(**{**fresh, **fields})


def cloud_event(**attributes: Any) -> dict[str, Any]:
    """A valid CloudEvents 1.0 envelope, by default around an event without its own eventId (``attributes``
    replace members, ``data`` included; ``...`` removes one)."""
    envelope = {
        "specversion": "1.0",
        "id": "ce-7f3a",
        "type": "mca.customer.signed.v1",
        "source": "/crm/contoso",
        "datacontenttype": "application/json",
        "data": event_doc(eventId=...),
    }
    return _replaced(envelope, attributes)


def event_grid_event(**members: Any) -> dict[str, Any]:
    """A valid Event Grid schema event as Event Grid delivers it to a queue, by default around an event without
    its own eventId (``members`` replace members, ``data`` included; ``...`` removes one)."""
    envelope = {
        "id": "eg-5c1d",
        "topic": "/subscriptions/0000/resourceGroups/crm/providers/Microsoft.EventGrid/topics/mca",
        "subject": "/crm/contoso/accounts/42",
        "eventType": "mca.customer.signed.v1",
        "eventTime": "2026-11-20T09:31:00Z",
        "data": event_doc(eventId=...),
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }
    return _replaced(envelope, members)


COMPANY = "Quillfeather Zephyr Holdings"  # personal data too (a sole trader's company is a person's name)


def signatory(**fields: Any) -> dict[str, Any]:
    """The default contract v2 signatory (every field set); ``fields`` replace fields, ``...`` removes one."""
    return _replaced({"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": PHONE}, fields)


def acceptance_requested_doc(**fields: Any) -> dict[str, Any]:
    """A valid bare contract v2 event ("MCA acceptance requested"); ``fields`` replace top-level fields."""
    doc = {
        "contractVersion": 2,
        "eventId": EVENT_ID,
        "customerTenantId": TENANT,
        "country": "DE",
        "language": "de-DE",
        "companyName": COMPANY,
        "signatory": signatory(),
    }
    return _replaced(doc, fields)


# --- the ports ----------------------------------------------------------------------------------------------------


class FakeAttestation:
    """The ``Attestation`` port: records each request attested and answers a receipt, or raises ``error``."""

    def __init__(self, error: BaseException | None = None, user_id: str = "user-7") -> None:
        self.error = error
        self.user_id = user_id
        self.requests: list[AttestationRequest] = []

    def request_id(self, request: AttestationRequest) -> str:
        """Equal requests, equal ids (as the port promises)."""
        return f"request-{request.event.event_id}-{request.template_id}"

    async def attest(self, request: AttestationRequest) -> AttestationReceipt:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return AttestationReceipt(user_id=self.user_id)


class FakeEnhancedAttestation:
    """The ``EnhancedAttestation`` port as a tiny Partner Center: ``create_attestation`` makes one attestation per
    distinct request id (``created`` counts them: a second attestation for one event shows as 2), ``status`` is
    what ``get_status`` answers for every attestation (set it to simulate the customer), ``errors`` maps a call
    name (``create``, ``status``, ``agreement``) to an exception raised once."""

    def __init__(self, link: str = "https://accept.example/a?token=secret-token") -> None:
        self.link = link
        self.status = StatusKind.PENDING
        self.accepted_at = ""  # what an accepted attestation's status answer says of when
        self.errors: dict[str, BaseException] = {}
        self.attestations: dict[str, str] = {}  # request id → attestation id
        self.agreements: list[tuple[str, str, str]] = []  # (customer, attestation id, template id)
        self.calls: list[str] = []

    @property
    def created(self) -> int:
        return len(self.attestations)

    def attestation_request_id(self, event: AcceptanceRequestedEvent, *, attempt_round: int) -> str:
        body = f"{event.event_id}\n{attempt_round}\n{event.signatory.email}"  # a digest, as a real id is
        return str(uuid.uuid5(uuid.NAMESPACE_URL, body))

    def _raise(self, call: str) -> None:
        self.calls.append(call)
        error = self.errors.pop(call, None)
        if error is not None:
            raise error

    async def create_attestation(
        self, event: AcceptanceRequestedEvent, *, attempt_round: int, correlation_id: str
    ) -> AttestationState:
        self._raise("create")
        request_id = self.attestation_request_id(event, attempt_round=attempt_round)
        attestation_id = self.attestations.setdefault(request_id, f"attestation-{len(self.attestations) + 1}")
        return AttestationState(
            attestation_id,
            StatusKind.PENDING,
            "Pending",
            self.link,
            "2026-12-31T00:00:00Z",
            ids=RequestIds(request_id),
        )

    async def get_status(self, attestation_id: str, *, correlation_id: str) -> AttestationState:
        self._raise("status")
        accepted_at = self.accepted_at if self.status is StatusKind.ACCEPTED else ""
        return AttestationState(attestation_id, self.status, self.status.value, self.link, accepted_at=accepted_at)

    async def create_agreement(
        self,
        event: AcceptanceRequestedEvent,
        attestation_id: str,
        *,
        template_id: str,
        date_agreed: datetime,
        attempt_round: int,
        correlation_id: str,
    ) -> AttestationReceipt:
        self._raise("agreement")
        if any(done[1] == attestation_id for done in self.agreements):
            raise AlreadyAttestedError("an identical agreement exists", status=409, code="600061")
        self.agreements.append((event.customer_tenant_id, attestation_id, template_id))
        return AttestationReceipt(user_id="app-only")


class MemoryNotifier:
    """The ``Notifier`` port in a list; like the queue's duplicate detection, a notification whose identity was
    sent before is dropped (``sent`` keeps one of each, ``attempts`` counts every call); ``fail`` raises."""

    def __init__(self) -> None:
        self.sent: list[FlowNotification] = []
        self.attempts = 0
        self.fail = False

    async def notify(self, notification: FlowNotification) -> None:
        self.attempts += 1
        if self.fail:
            raise NotificationError("notifications queue unreachable (MemoryNotifier.fail)")
        if all(notification.identity() != sent.identity() for sent in self.sent):
            self.sent.append(notification)

    def kinds(self) -> list[str]:
        return [n.kind.value for n in self.sent]


@dataclass(frozen=True)
class AgreementCall:
    """One ``create_customer_agreement`` call, as ``FakeAgreementPoster`` recorded it."""

    request: AgreementRequest
    request_id: str
    correlation_id: str


class FakeAgreementPoster:
    """Stands in for ``PartnerCenterClient`` behind ``AgreementPostAttestation``: records each POST and answers
    201 with ``user_id``, or raises ``error``."""

    def __init__(self, error: BaseException | None = None, user_id: str = "user-7") -> None:
        self.error = error
        self.user_id = user_id
        self.calls: list[AgreementCall] = []

    async def create_customer_agreement(
        self, request: AgreementRequest, *, request_id: str, correlation_id: str
    ) -> CreatedAgreement:
        self.calls.append(AgreementCall(request, request_id, correlation_id))
        if self.error is not None:
            raise self.error
        return CreatedAgreement(user_id=self.user_id, ids=RequestIds(request_id, correlation_id, "cv"))


def no_templates(agreement_type: str = MCA) -> AgreementMetadata:
    """Metadata listing no template at all (the use case's ``NoTemplateError``)."""
    return AgreementMetadata(agreement_type, (), datetime(2026, 1, 1, tzinfo=UTC))


class FakeMetadata:
    """A ``MetadataSource`` with one answer (by default TEMPLATE current, OLDER_TEMPLATE known) or the exception
    it was given; records the agreement types asked for."""

    def __init__(self, answer: AgreementMetadata | BaseException | None = None) -> None:
        self.answer = answer if answer is not None else make_metadata(TEMPLATE, extra_templates=(OLDER_TEMPLATE,))
        self.asked: list[str] = []

    async def get(self, agreement_type: str) -> AgreementMetadata:
        self.asked.append(agreement_type)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class FakeLedger:
    """The ``Ledger`` port in a dict, with the same ETag guard as the real ones; records every write it accepted
    (``writes``); ``fail`` makes every call raise ``LedgerError`` (storage unreachable)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.entries: dict[tuple[str, str], StoredEntry] = {}
        self.writes: list[LedgerEntry] = []

    def _check(self) -> None:
        if self.fail:
            raise LedgerError("ledger unreachable (FakeLedger.fail)")

    async def get(self, customer_tenant_id: str, event_id: str) -> StoredEntry | None:
        self._check()
        return self.entries.get((customer_tenant_id, event_id))

    async def put(self, entry: LedgerEntry, *, if_match: str | None) -> str | None:
        self._check()
        key = (entry.customer_tenant_id, entry.event_id)
        current = self.entries.get(key)
        if (current.etag if current else None) != if_match:
            return None
        etag = f"etag-{len(self.writes) + 1}"
        self.entries[key] = StoredEntry(entry, etag)
        self.writes.append(entry)
        return etag

    async def query(self, query: LedgerQuery) -> list[LedgerEntry]:
        from shared.ledger.codec import matches

        self._check()
        return [stored.entry for key, stored in sorted(self.entries.items()) if matches(stored.entry, query)]

    def entry(self, event_id: str = EVENT_ID, customer_tenant_id: str = TENANT) -> LedgerEntry:
        """The stored entry of an event (KeyError if there is none)."""
        return self.entries[(customer_tenant_id, event_id)].entry


class FakeAcceptanceReads:
    """Stands in for ``PartnerCenterClient`` behind ``PartnerCenterAcceptance``: customers in ``direct_signed`` are
    signed, ``agreements`` lists a customer's agreements (none for a missing customer, as the client turns
    Partner Center's 600009 into an empty list); records every read in
    ``calls`` as ``("direct_signed" | "agreements", customer)``; ``error`` makes every read raise it."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.direct_signed: set[str] = set()
        self.agreements: dict[str, list[CustomerAgreement]] = {}
        self.calls: list[tuple[str, str]] = []

    async def get_direct_signed_status(self, customer_tenant_id: str) -> bool:
        self.calls.append(("direct_signed", customer_tenant_id))
        if self.error is not None:
            raise self.error
        return customer_tenant_id in self.direct_signed

    async def list_customer_agreements(
        self, customer_tenant_id: str, agreement_type: str = MCA
    ) -> list[CustomerAgreement]:
        self.calls.append(("agreements", customer_tenant_id))
        return self.agreements.get(customer_tenant_id, [])

    def attested(self, customer_tenant_id: str = TENANT, *, email: str = EMAIL, template_id: str = TEMPLATE) -> None:
        """Give the customer an agreement for the default contact (or another ``email``)."""
        self.agreements.setdefault(customer_tenant_id, []).append(
            CustomerAgreement(template_id, MCA, datetime(2026, 11, 20, 9, 30, tzinfo=UTC), (FIRST, LAST, email, PHONE))
        )


class FakeTokens:
    """A ``TokenProvider`` that hands out token-1, token-2, … (a new one after each invalidation of the
    current one) and records invalidations."""

    def __init__(self) -> None:
        self.issued = 0
        self.current: str | None = None
        self.invalidated: list[str] = []

    async def get_token(self) -> str:
        if self.current is None:
            self.issued += 1
            self.current = f"token-{self.issued}"
        return self.current

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.current:
            self.current = None


class RecordingSleep:
    """Stands in for ``asyncio.sleep``: records the delay, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class ManualClock:
    """A clock that moves only when told to, or when its ``sleep`` is awaited (which records the delay)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingSharedPause:
    """A ``SharedPause`` held in memory: records reads and extensions; ``until`` is what every reader sees."""

    def __init__(self, until: float | None = None) -> None:
        self.until = until
        self.reads = 0
        self.extended: list[float] = []

    async def read(self) -> float | None:
        self.reads += 1
        return self.until

    async def extend(self, until: float) -> None:
        self.extended.append(until)
        if self.until is None or until > self.until:
            self.until = until


# --- Service Bus --------------------------------------------------------------------------------------------------

Journal = list[tuple[str, Any]]  # ("send" | "schedule" | "complete" | …, what it was about), in order


def received_message(
    body: bytes | dict[str, Any],
    *,
    message_id: str = "msg-1",
    application_properties: Mapping[bytes, Any] | None = None,
    delivery_count: int = 0,
) -> ServiceBusReceivedMessage:
    """A real ``azure.servicebus.ServiceBusReceivedMessage`` as the Functions binding hands it over."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    properties: dict[str | bytes, Any] = {key: value for key, value in (application_properties or {}).items()}
    amqp = Message(
        data=[data],
        properties=Properties(message_id=message_id.encode(), content_type=b"application/json", correlation_id=b"corr"),
        application_properties=properties,
        header=Header(delivery_count=delivery_count),
        delivery_annotations={b"x-opt-lock-token": uuid.uuid4()},
        message_annotations={b"x-opt-sequence-number": 1},
    )
    return ServiceBusReceivedMessage(amqp, receiver=None)


@dataclass
class RecordingMessageActions:
    """Stands in for ``ServiceBusMessageActions``: records each settlement call in order (into ``journal`` too,
    as ``(name, message_id)``)."""

    journal: Journal = field(default_factory=list)
    calls: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)

    def complete(self, message: Any) -> None:
        self._record("complete", message, {})

    def abandon(self, message: Any) -> None:
        self._record("abandon", message, {})

    def deadletter(
        self, message: Any, deadletter_reason: str | None = None, deadletter_error_description: str | None = None
    ) -> None:
        self._record("deadletter", message, {"reason": deadletter_reason, "description": deadletter_error_description})

    def _record(self, name: str, message: Any, details: dict[str, Any]) -> None:
        self.calls.append((name, message, details))
        self.journal.append((name, getattr(message, "message_id", None)))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


class RecordingBatch(ServiceBusMessageBatch):
    """A real SDK batch (real size accounting) that remembers what was added."""

    def __init__(self, max_size_in_bytes: int) -> None:
        super().__init__(max_size_in_bytes=max_size_in_bytes)
        self.added: list[ServiceBusMessage] = []

    def add_message(self, message: Any) -> None:
        super().add_message(message)
        self.added.append(message)


class RecordingSender:
    """Stands in for ``azure.servicebus.aio.ServiceBusSender``: records every message sent (one by one or in
    batches of at most ``max_batch_bytes``) and scheduled, into ``journal`` too; ``fail`` makes sends fail."""

    def __init__(
        self, journal: Journal | None = None, *, max_batch_bytes: int = 256 * 1024, fail: bool = False
    ) -> None:
        self.journal = journal if journal is not None else []
        self.max_batch_bytes = max_batch_bytes
        self.fail = fail
        self.sent: list[ServiceBusMessage] = []
        self.batches: list[list[ServiceBusMessage]] = []
        self.scheduled: list[tuple[ServiceBusMessage, datetime]] = []

    async def create_message_batch(self, max_size_in_bytes: int | None = None) -> ServiceBusMessageBatch:
        return RecordingBatch(max_size_in_bytes or self.max_batch_bytes)

    async def send_messages(self, message: ServiceBusMessage | ServiceBusMessageBatch) -> None:
        if self.fail:
            raise ServiceBusError("link detached")
        if isinstance(message, RecordingBatch):
            messages = list(message.added)
            self.batches.append(messages)
        elif isinstance(message, ServiceBusMessage):
            messages = [message]
        else:
            raise TypeError("a batch this sender did not create: its messages cannot be recorded")
        for each in messages:
            self.journal.append(("send", each.message_id))
            self.sent.append(each)

    async def schedule_messages(self, message: ServiceBusMessage, schedule_time_utc: datetime) -> list[int]:
        self.scheduled.append((message, schedule_time_utc))
        self.journal.append(("schedule", message.message_id))
        return [len(self.scheduled)]


# --- the function app ---------------------------------------------------------------------------------------------


class RecordingSettler:
    """Stands in for a host's ``MessageSettler``: records each settlement in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    async def complete(self) -> None:
        self.calls.append(("complete", ()))

    async def dead_letter(self, reason: str, description: str) -> None:
        self.calls.append(("dead_letter", (reason, description)))

    async def schedule_copy(self, delay_seconds: float, attempt: int) -> None:
        self.calls.append(("schedule_copy", (delay_seconds, attempt)))

    async def schedule_check(self, check: ScheduleCheck) -> None:
        self.calls.append(("schedule_check", (check.delay_seconds, check.check, check.identity)))


async def process_with(
    attestor: Attestor | EventRouter,
    body: bytes,
    *,
    delivery: Delivery | None = None,
    settler: RecordingSettler | None = None,
    policy: RedeliveryPolicy | None = None,
) -> Processed:
    """Run one message body through the hosts' shared path (route → decide → settle → log) with a recording
    settler; returns what ``process_message`` returns. A bare ``Attestor`` is routed as the legacy flow alone."""
    router = attestor if isinstance(attestor, EventRouter) else EventRouter(attestor, None)
    return await process_message(
        body,
        delivery=delivery or Delivery(),
        router=router,
        settler=settler or RecordingSettler(),
        policy=policy or RedeliveryPolicy(),
        rng=random.Random(1),
    )


@functools.cache
def app_functions() -> dict[str, Any]:
    """``function_app``'s functions by name. ``get_functions()`` refuses to run twice in one process (it
    re-validates names against what it built before), so every test module shares this one call."""
    import function_app

    return {str(function.get_function_name()): function for function in function_app.app.get_functions()}
