"""Which flow an event takes: contract v1 → ``Attestor`` (the legacy POST), contract v2 → ``EnhancedFlow``.

Queue hosts (the queue trigger, the worker) hand every body to ``EventRouter``; it reads the contract the body
names (``contract_of``: the event type in an envelope, ``contractVersion`` when bare) and passes it on. A body
that names no known contract, or a contract this deployment does not process (``ATTESTATION_FLOWS``), is a dead
letter with the reason; nothing raises (the final guard is the same as ``Attestor``'s). The bulk command parses
its file first and hands each contract v2 event to ``advance_enhanced`` (v1 events to ``Attestor`` directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.attestation.contract import InvalidEventError
from shared.attestation.contract.envelopes import decode_body, readable_event_id
from shared.attestation.contract.fields import FieldError
from shared.attestation.contract.v2 import AcceptanceRequestedEvent, contract_of, parse_acceptance_requested
from shared.attestation.enhanced_flow import EnhancedFlow
from shared.attestation.flow_state import Delivery
from shared.attestation.ledger import AttestationJournal
from shared.attestation.outcomes import DeadLetter, DeadLetterReason, Outcome, Validated, invalid_event_outcome
from shared.attestation.use_case import Attestor, unexpected_error_outcome

LEGACY = "legacy"
ENHANCED = "enhanced"


class EventRouter:
    """Routes each event to the flow its contract names; ``legacy`` or ``enhanced`` may be left out."""

    def __init__(self, legacy: Attestor | None, enhanced: EnhancedFlow | None, *, dry_run: bool = False) -> None:
        self.legacy = legacy
        self.enhanced = enhanced
        self._dry_run = dry_run  # contract v2 is validated only (the legacy Attestor has its own dry run)

    @property
    def journal(self) -> AttestationJournal | None:
        """The legacy flow's ledger journal (the hosts record v1 settlements into it)."""
        return self.legacy.journal if self.legacy is not None else None

    async def attest_body(self, body: bytes | str, delivery: Delivery | None = None) -> Outcome:
        """The outcome for one message body, whichever contract it names."""
        try:
            doc = decode_body(body)
            contract = contract_of(doc)
        except InvalidEventError as exc:
            return invalid_event_outcome(exc)
        if isinstance(contract, FieldError):
            return invalid_event_outcome(InvalidEventError([contract], readable_event_id(doc)))
        if contract == "v2":
            return await self._enhanced(doc, delivery or Delivery())
        if self.legacy is None:
            return _not_enabled(readable_event_id(doc), "contract v1 (the legacy attestation)", LEGACY)
        return await self.legacy.attest_body(doc)  # decoded once: the mapping is parsed as it is

    async def advance_enhanced(self, event: AcceptanceRequestedEvent, delivery: Delivery | None = None) -> Outcome:
        """The outcome for a contract v2 event parsed already (the bulk command validates its whole file first):
        ``Validated`` in a dry run, ``FlowNotEnabled`` without the enhanced flow, else the flow's answer. Never
        raises (the same final guard as for a body)."""
        if self._dry_run:
            return Validated(event.event_id, "", event.correlation_id or "", "")
        if self.enhanced is None:
            return _not_enabled(event.event_id, _V2, ENHANCED)
        try:
            return await self.enhanced.advance(event, delivery or Delivery())
        except Exception as exc:  # noqa: BLE001 — the final guard, as in Attestor._answer
            return unexpected_error_outcome(exc, event.event_id, event.correlation_id or "")

    async def _enhanced(self, doc: Mapping[str, Any], delivery: Delivery) -> Outcome:
        if self.enhanced is None and not self._dry_run:
            return _not_enabled(readable_event_id(doc), _V2, ENHANCED)
        try:
            event = parse_acceptance_requested(doc)
        except InvalidEventError as exc:
            return invalid_event_outcome(exc)
        except Exception as exc:  # noqa: BLE001 — the final guard, as in Attestor._answer
            return unexpected_error_outcome(exc, readable_event_id(doc), "")
        return await self.advance_enhanced(event, delivery)


_V2 = "contract v2 (the enhanced attestation)"


def _not_enabled(event_id: str, what: str, flow: str) -> DeadLetter:
    return DeadLetter(
        event_id,
        "",
        "",
        DeadLetterReason.FLOW_NOT_ENABLED,
        f"{what} is not enabled on this deployment: add {flow} to ATTESTATION_FLOWS, then replay",
    )
