"""The enhanced attestation's vocabulary: its steps, its timing, and what a delivery brings.

Steps, as the ledger's ``flow_step`` spells them::

    requested → attestation_created → link_issued → awaiting_acceptance → accepted → agreement_created
                                                     ├──────────────→ link_expired
                                                     ├──────────────→ rejected
                                                     └──────────────→ timed_out
    requested → already_accepted   (the pre-check: the customer had accepted, e.g. in the admin center)

Each arrow is recorded in the ledger before the next call is made, so a crash between two steps resumes at
the second (``shared.attestation.enhanced_flow``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class FlowStep(StrEnum):
    REQUESTED = "requested"
    ATTESTATION_CREATED = "attestation_created"
    LINK_ISSUED = "link_issued"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    ACCEPTED = "accepted"
    AGREEMENT_CREATED = "agreement_created"
    ALREADY_ACCEPTED = "already_accepted"
    LINK_EXPIRED = "link_expired"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


# The customer's answer ended the round: a replay starts a new attestation (a new link).
ROUND_ENDING_STEPS = frozenset({FlowStep.LINK_EXPIRED, FlowStep.REJECTED})


@dataclass(frozen=True, slots=True)
class FlowTiming:
    """When status checks run: ``first_check_seconds`` after the link, then growing (doubling) up to
    ``max_check_seconds``, and never past ``deadline_seconds`` after the wait began (then: timed out)."""

    first_check_seconds: float = 900.0
    max_check_seconds: float = 21_600.0
    deadline_seconds: float = 2_592_000.0  # 30 days (assumed: Microsoft publishes no link lifetime)

    def __post_init__(self) -> None:
        values = (self.first_check_seconds, self.max_check_seconds, self.deadline_seconds)
        if not all(math.isfinite(v) and v > 0 for v in values) or self.first_check_seconds > self.max_check_seconds:
            raise ValueError("check intervals and the deadline must be positive, the first at most the longest")

    def interval(self, checks_done: int) -> float:
        """Seconds between check ``checks_done`` and the next: first, doubling, capped."""
        return min(self.max_check_seconds, self.first_check_seconds * 2.0 ** min(checks_done, 60))


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the host knows of the message that carried the event.

    ``replay_count`` is the message's ``mca-replay-count``: a replay the ledger has not seen restarts a flow
    that ended unhappily. ``check`` is the message's ``mca-check``: the scheduled status check it carries out
    (0: none); the check that is due runs when it arrives, even if this host's clock says it is a little early
    (the broker's clock decided). ``check_now`` (the bulk command, run by a person) checks a waiting
    attestation's status at once instead of at its scheduled time.
    """

    attempt: int = 0
    message_id: str = ""
    replay_count: int = 0
    check: int = 0
    check_now: bool = False
