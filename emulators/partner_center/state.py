"""The simulated world: templates, customers, attestations, tokens, the replay cache, faults and counters.

``SimulatorState`` is shared by the aiohttp handlers (on the server's loop) and by tests (often on
another thread), so every method takes one re-entrant lock and returns copies. Handlers call the domain
operations (``attest``, ``customer_agreements``, …), which return ``Reply`` values; tests call the
inspection and control methods.

MS-RequestId replay: the first answer to a POST with an ``MS-RequestId`` is kept for
``replay_window_seconds``; another POST with the same id (compared case-insensitively, whatever its path
or body) gets that answer again without being processed. The real service's behaviour is unknown; this
is the behaviour a safe client must be able to live with.

Raw records: besides the attestations it keeps (one per distinct contact, as 600061 implies), the state
counts every POST that *would have created* a record — it passed every check that is not about
duplicates — once per distinct ``MS-RequestId``, whether it was answered 201, 600061 or from the replay
cache. A client that re-posts one event under a new request id (a regenerated id, a second message for the
same event that derives another id) shows up there as a double even though 600061 hides it from the
attestations; exactly-once tests assert on ``raw_record_count``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.partner_center.agreements import (
    DEFAULT_TEMPLATES,
    Attestation,
    Template,
    parse_attestation_request,
    parse_guid,
)
from emulators.partner_center.bodies import Reply, agreement_fault, collection, json_reply
from emulators.partner_center.conventions import (
    CLOUD_AGREEMENT,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_USER_ID,
)
from emulators.partner_center.customers import CustomerDirectory, UnknownCustomerResponse
from emulators.partner_center.enhanced import EnhancedWorld
from emulators.partner_center.faults import FaultConfig, FaultInjector
from emulators.partner_center.tokens import Identity, TokenStore

RUNTIME_OPTIONS = frozenset(
    {
        "token_lifetime_seconds",
        "unknown_customer_response",
        "replay_window_seconds",
        "future_date_tolerance_seconds",
        "listing_delay_seconds",
    }
)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the world starts. Options in ``RUNTIME_OPTIONS`` can also change while it runs."""

    clients: tuple[tuple[str, str], ...] = ((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),)
    """Accepted (client_id, client_secret) pairs; the first one owns the initial refresh token."""
    client_certificates: tuple[tuple[str, str], ...] = ()
    """(client_id, certificate PEM) pairs: apps that may prove themselves with a signed assertion."""
    refresh_token: str = DEFAULT_REFRESH_TOKEN
    user_id: str = DEFAULT_USER_ID
    accepted_tenants: frozenset[str] = frozenset()
    """Tenants the token endpoint answers for (lower case); empty = any."""
    token_lifetime_seconds: float = 3600.0
    unknown_customer_response: UnknownCustomerResponse = UnknownCustomerResponse.TENANT_NOT_FOUND_60003
    replay_window_seconds: float = 24 * 3600.0
    future_date_tolerance_seconds: float = 5.0
    """How far in the future ``dateAgreed`` may be (clock skew) before 600002."""
    listing_delay_seconds: float = 0.0
    """How long a new attestation stays invisible to the GET (the real service: up to ~4 hours)."""
    templates: tuple[Template, ...] = DEFAULT_TEMPLATES

    def __post_init__(self) -> None:
        object.__setattr__(self, "unknown_customer_response", UnknownCustomerResponse(self.unknown_customer_response))
        object.__setattr__(self, "accepted_tenants", frozenset(t.lower() for t in self.accepted_tenants))
        if not self.clients:
            raise ValueError("clients must name at least one (client_id, client_secret) pair")
        if self.token_lifetime_seconds <= 0:
            raise ValueError("token_lifetime_seconds must be positive")

    def runtime_json(self) -> dict[str, Any]:
        return {_camel(name): _plain(getattr(self, name)) for name in sorted(RUNTIME_OPTIONS)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain(value: object) -> object:
    return str(value) if isinstance(value, UnknownCustomerResponse) else value


class SimulatorState:
    """The world one simulator serves; thread-safe."""

    def __init__(self, config: SimulatorConfig | None = None, faults: FaultConfig | None = None) -> None:
        self._initial_config = config or SimulatorConfig()
        self._initial_faults = faults or FaultConfig()
        self._lock = threading.RLock()
        self.fault_injector = FaultInjector(self._initial_faults)
        self.tokens = self._new_token_store()
        self._restore()

    def _new_token_store(self) -> TokenStore:
        config = self._initial_config
        return TokenStore(
            clients=dict(config.clients),
            certificates=dict(config.client_certificates),
            initial_refresh_token=config.refresh_token,
            user_id=config.user_id,
            lifetime_seconds=config.token_lifetime_seconds,
            accepted_tenants=config.accepted_tenants,
        )

    def _restore(self) -> None:
        self._config = self._initial_config
        self._templates: dict[str, Template] = {t.template_id.lower(): t for t in self._config.templates}
        self._customers = CustomerDirectory()
        self._attestations: dict[str, list[Attestation]] = {}
        self.enhanced = EnhancedWorld()  # the enhanced attestation's world (its own lock)
        self._replies: dict[str, tuple[Reply, float]] = {}
        self._raw_records: dict[str, set[str]] = {}  # customer → request ids of POSTs that would have created one
        self._requests: Counter[tuple[str, str]] = Counter()
        self._replays = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self.fault_injector.configure(self._initial_faults)

    # Control.

    def reset(self, *, keep_tokens: bool = False) -> None:
        """Back to the world as constructed: config, faults, templates, customers, no attestations, zero
        counters; tokens too unless ``keep_tokens`` (then issued tokens stay valid)."""
        with self._lock:
            self._restore()
            if keep_tokens:
                self.tokens.lifetime_seconds = self._config.token_lifetime_seconds
                self.tokens.reset_request_count()
            else:
                self.tokens = self._new_token_store()

    @property
    def config(self) -> SimulatorConfig:
        with self._lock:
            return self._config

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Change run-time options (see ``RUNTIME_OPTIONS``); returns the new config."""
        unknown = set(changes) - RUNTIME_OPTIONS
        if unknown:
            raise ValueError(f"not run-time options: {', '.join(sorted(unknown))}")
        with self._lock:
            self._config = replace(self._config, **changes)
            self.tokens.lifetime_seconds = self._config.token_lifetime_seconds
            return self._config

    @property
    def faults(self) -> FaultConfig:
        return self.fault_injector.config

    def configure_faults(self, faults: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replace the fault config (``faults``, else the current one) with ``changes`` applied."""
        new = replace(faults or self.fault_injector.config, **changes)
        self.fault_injector.configure(new)
        return new

    def add_unknown_customer(self, customer_id: str) -> None:
        with self._lock:
            self._customers.unknown.add(_canonical(customer_id))

    def add_foreign_customer(self, customer_id: str) -> None:
        with self._lock:
            self._customers.foreign.add(_canonical(customer_id))

    def set_direct_signed(self, customer_id: str, signed: bool = True) -> None:
        with self._lock:
            if signed:
                self._customers.direct_signed.add(_canonical(customer_id))
            else:
                self._customers.direct_signed.discard(_canonical(customer_id))

    def templates(self, *, include_retired: bool = True) -> list[Template]:
        with self._lock:
            return [t for t in self._templates.values() if include_retired or not t.retired]

    def add_template(self, template: Template) -> None:
        """Add or replace a template, e.g. a new MCA version with a higher ``version_rank``."""
        with self._lock:
            self._templates[template.template_id.lower()] = template

    def retire_template(self, template_id: str) -> None:
        with self._lock:
            key = template_id.lower()
            if key not in self._templates:
                raise KeyError(template_id)
            self._templates[key] = replace(self._templates[key], retired=True)

    def revoke_refresh_tokens(self) -> None:
        self.tokens.revoke_refresh_tokens()

    def expire_access_tokens(self) -> int:
        return self.tokens.expire_access_tokens()

    def issue_refresh_token(self, client_id: str | None = None) -> str:
        return self.tokens.issue_refresh_token(client_id)

    # Inspection.

    def attestations(self, customer_id: str) -> list[Attestation]:
        with self._lock:
            return list(self._attestations.get(_canonical(customer_id), ()))

    def all_attestations(self) -> list[Attestation]:
        with self._lock:
            return [a for items in self._attestations.values() for a in items]

    def attestation_count(self, customer_id: str | None = None) -> int:
        with self._lock:
            if customer_id is not None:
                return len(self._attestations.get(_canonical(customer_id), ()))
            return sum(len(items) for items in self._attestations.values())

    def raw_record_count(self, customer_id: str | None = None) -> int:
        """Records the POSTs would have created without 600061 and the replay cache: one per distinct
        MS-RequestId (a POST without one counts alone) that passed every other check."""
        with self._lock:
            if customer_id is not None:
                return len(self._raw_records.get(_canonical(customer_id), ()))
            return sum(len(ids) for ids in self._raw_records.values())

    @property
    def requests(self) -> dict[str, dict[str, int]]:
        """Requests answered so far: ``{"POST /v1/customers/{customer_id}/agreements": {"201": 3}}``.
        A status is a number as text, ``"dropped"`` for a connection the simulator closed without an answer, or
        ``"aborted"`` for a client that closed its connection before sending the whole request."""
        with self._lock:
            counts: dict[str, dict[str, int]] = {}
            for (route, status), count in sorted(self._requests.items()):
                counts.setdefault(route, {})[status] = count
            return counts

    def request_count(self, route: str | None = None, status: int | str | None = None) -> int:
        with self._lock:
            return sum(
                count
                for (r, s), count in self._requests.items()
                if (route is None or r == route) and (status is None or s == str(status))
            )

    @property
    def token_requests(self) -> int:
        return self.tokens.requests

    @property
    def replays(self) -> int:
        """POSTs answered from the MS-RequestId replay cache."""
        with self._lock:
            return self._replays

    @property
    def peak_in_flight(self) -> int:
        """The most /v1 requests in progress at once."""
        with self._lock:
            return self._peak_in_flight

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "tokenRequests": self.token_requests,
                "replays": self._replays,
                "attestations": self.attestation_count(),
                "rawRecords": self.raw_record_count(),
                "inFlight": self._in_flight,
                "peakInFlight": self._peak_in_flight,
                "faults": self.faults.to_json(),
                "config": self._config.runtime_json(),
            }

    # Bookkeeping for the server.

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_finished(self, route: str, status: int | str) -> None:
        with self._lock:
            self._in_flight -= 1
            self._requests[route, str(status)] += 1

    # Domain operations: what the Partner Center routes answer.

    def list_templates(self, agreement_type: str | None) -> Reply:
        wanted = (agreement_type or CLOUD_AGREEMENT).lower()
        return collection(
            [
                t.to_json()
                for t in self.templates(include_retired=False)
                if wanted == "*" or t.agreement_type.lower() == wanted
            ]
        )

    def check_customer(self, customer_id: str) -> str | Reply:
        with self._lock:
            return self._customers.check(customer_id, self._config.unknown_customer_response)

    def direct_signed_status(self, customer_id: str) -> Reply:
        with self._lock:
            checked = self.check_customer(customer_id)
            if isinstance(checked, Reply):
                return checked
            return json_reply(200, {"isSigned": checked in self._customers.direct_signed})

    def customer_agreements(self, customer_id: str, agreement_type: str | None) -> Reply:
        wanted = (agreement_type or CLOUD_AGREEMENT).lower()
        with self._lock:
            checked = self.check_customer(customer_id)
            if isinstance(checked, Reply):
                return checked
            visible_before = datetime.now(UTC) - timedelta(seconds=self._config.listing_delay_seconds)
            items = [
                a.listed_json()
                for a in self._attestations.get(checked, ())
                if a.created_at <= visible_before and (wanted == "*" or a.agreement_type.lower() == wanted)
            ]
        if not items:
            return agreement_fault(
                404, 600009, "No agreements found for the customer.", error_name="AgreementsNotFound"
            )
        return collection(items)

    def attest(self, customer_id: str, raw_body: bytes, identity: Identity, request_id: str | None) -> Reply:
        """Process an attestation POST once per ``MS-RequestId`` (see the module docstring)."""
        key = request_id.strip().lower() if request_id and request_id.strip() else None
        with self._lock:
            now = time.monotonic()
            if key is not None:
                cached = self._replies.get(key)
                if cached is not None and now - cached[1] < self._config.replay_window_seconds:
                    self._replays += 1
                    reply = cached[0]
                    return replace(reply, headers={**reply.headers, "X-Simulator-Replayed": "true"})
            reply = self._attest(customer_id, raw_body, identity, request_id)
            if key is not None:
                if len(self._replies) >= 4096:
                    window = self._config.replay_window_seconds
                    self._replies = {k: v for k, v in self._replies.items() if now - v[1] < window}
                self._replies[key] = (reply, now)
            return reply

    def _attest(self, customer_id: str, raw_body: bytes, identity: Identity, request_id: str | None) -> Reply:
        checked = self.check_customer(customer_id)
        if isinstance(checked, Reply):
            return checked
        request = parse_attestation_request(raw_body)
        if isinstance(request, Reply):
            return request
        template = self._templates.get(request.template_id.lower())
        if template is None:
            return agreement_fault(
                400,
                3000,
                f"Invalid property 'templateId': '{request.template_id}' is not an agreement template.",
                error_name="InvalidProperty",
                parameters={"property": "templateId"},
            )
        if template.retired:
            return agreement_fault(
                400,
                600002,
                f"Microsoft Cloud Agreement Template ID '{request.template_id}' is no longer supported.",
                error_name="TemplateNotSupported",
            )
        now = datetime.now(UTC)
        if request.date_agreed > now + timedelta(seconds=self._config.future_date_tolerance_seconds):
            return agreement_fault(
                400,
                600002,
                "Date of agreement cannot be greater than the current date.",
                error_name="InvalidDateAgreed",
            )
        raw = self._raw_records.setdefault(checked, set())
        raw.add(request_id.strip().lower() if request_id and request_id.strip() else f"no-request-id-{len(raw)}")
        existing = self._attestations.setdefault(checked, [])
        if any(a.contact.same_as(request.contact) for a in existing):
            return agreement_fault(
                400,
                600061,
                "A partner confirmed agreement already exists with the same details for the customer.",
                error_name="PartnerConfirmedAgreementAlreadyExists",
            )
        attestation = Attestation(
            customer_id=checked,
            contact=request.contact,
            template_id=template.template_id,
            agreement_type=template.agreement_type,
            agreement_link=template.agreement_link,
            date_agreed=request.date_agreed,
            date_agreed_text=request.date_agreed_text,
            user_id=identity.caller_id,
            created_at=now,
            request_id=request_id,
        )
        existing.append(attestation)
        return json_reply(201, attestation.created_json())


def _canonical(customer_id: str) -> str:
    return parse_guid(customer_id) or customer_id.lower()
