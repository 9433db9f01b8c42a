"""What the enhanced attestation tells the CRM, and the port it tells it through.

The CRM asked for the customer's acceptance (contract v2); the acceptance happens on Microsoft's page, so
the CRM needs the link to send the customer, and needs to hear how the request ended. Each of these is one
``FlowNotification`` on the outbound queue (``mca-notifications``; schema in docs/notifications.md and
``docs/notification-schema.json``):

==========================  ===================================================================
``kind``                    meaning
==========================  ===================================================================
``acceptance_link_issued``  the attestation exists; send ``acceptanceLink`` to the customer
``agreement_created``       the customer accepted and the agreement is created (terminal)
``already_attested``        Partner Center already held the agreement (600061) (terminal)
``already_accepted``        the customer had accepted already, e.g. in the admin center (terminal)
``link_expired``            the link expired before the customer accepted (terminal)
``rejected``                the customer declined (terminal)
``timed_out``               no acceptance before the deadline (terminal)
``dead_lettered``           the request cannot go on; ``reason`` says why (terminal)
==========================  ===================================================================

A notification names ids and codes, never a person: no names, email or phone. The acceptance link is not
personal data, but anyone holding it can accept: it is in the link notification only, never in logs or the
ledger. Every notification has an identity (event, customer, round, kind, replay): sending it twice gives the
same message id, so the queue's duplicate detection keeps one, whichever delivery sent it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

SCHEMA_VERSION = "mca.notification.v1"


class NotificationKind(StrEnum):
    LINK_ISSUED = "acceptance_link_issued"
    AGREEMENT_CREATED = "agreement_created"
    ALREADY_ATTESTED = "already_attested"
    ALREADY_ACCEPTED = "already_accepted"
    LINK_EXPIRED = "link_expired"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    DEAD_LETTERED = "dead_lettered"


TERMINAL_KINDS = frozenset(NotificationKind) - {NotificationKind.LINK_ISSUED}


@dataclass(frozen=True, slots=True)
class FlowNotification:
    """One message to the CRM about one contract v2 event."""

    kind: NotificationKind
    event_id: str
    customer_tenant_id: str
    correlation_id: str
    occurred_at: str  # ISO-8601 UTC
    attestation_id: str = ""
    attempt_round: int = 0
    replay_count: int = 0
    acceptance_link: str = field(default="", repr=False)  # acceptance_link_issued only
    link_expires_at: str = ""
    reason: str = ""  # a DeadLetterReason value, for the unhappy terminal kinds
    detail: str = ""  # what to do; ids and codes only (the use case redacts Partner Center's text)

    def document(self) -> dict[str, Any]:
        """The JSON body (docs/notification-schema.json): empty optional members are left out."""
        doc: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "kind": self.kind.value,
            "eventId": self.event_id,
            "customerTenantId": self.customer_tenant_id,
            "correlationId": self.correlation_id,
            "occurredAt": self.occurred_at,
            "terminal": self.kind in TERMINAL_KINDS,
        }
        optional = {
            "attestationId": self.attestation_id,
            "acceptanceLink": self.acceptance_link,
            "linkExpiresAt": self.link_expires_at,
            "reason": self.reason,
            "detail": self.detail,
        }
        doc.update({name: value for name, value in optional.items() if value})
        if self.attempt_round:
            doc["attestationRound"] = self.attempt_round
        return doc

    def identity(self) -> tuple[str | int, ...]:
        """What makes two notifications the same message (the time it was sent does not)."""
        return (self.customer_tenant_id, self.event_id, self.attempt_round, self.replay_count, self.kind.value)


class NotificationError(Exception):
    """The notification could not be sent (the queue unreachable or refusing); the step is retried."""


class Notifier(Protocol):
    async def notify(self, notification: FlowNotification) -> None:
        """Send it, or raise ``NotificationError``."""
        ...
