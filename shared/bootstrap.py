"""One place that wires a process: settings → HTTP client → tokens → Partner Center client → metadata
cache → ledger → the flows (``ATTESTATION_FLOWS``) → the router. Hosts (the function app, the worker, the
commands) call ``open_services`` once and reuse what it returns; tests pass their own settings, HTTP client or
fakes instead.

The enhanced attestation is app-only: in ``app_user`` mode it gets a client-credentials provider of its own
over the same app credential, and a Partner Center client of its own that shares the legacy client's
adaptive limiter (Partner Center throttles per partner, whichever flow calls). Its notifications go to
``NOTIFICATIONS_QUEUE_NAME`` through a sender opened on first use.

Nothing here runs at import time.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import httpx

from shared.attestation.enhanced_flow import EnhancedFlow
from shared.attestation.flow_state import FlowTiming
from shared.attestation.ledger import AttestationJournal, Ledger
from shared.attestation.metadata import MetadataSource
from shared.attestation.notifications import Notifier
from shared.attestation.router import ENHANCED, LEGACY, EventRouter
from shared.attestation.use_case import Attestor
from shared.ledger import open_ledger
from shared.metadata_cache import CachedMetadataSource, open_metadata_store
from shared.metadata_cache.pause_store import SharedPauseMarker, open_pause_store
from shared.partner_center.acceptance import PartnerCenterAcceptance
from shared.partner_center.agreement_attestation import AgreementPostAttestation
from shared.partner_center.auth import ClientCredentialsProvider, RefreshTokenProvider, TokenProvider
from shared.partner_center.client import PartnerCenterClient, new_http_client
from shared.partner_center.enhanced_api import EnhancedApiConfigError, load_enhanced_api_settings
from shared.partner_center.enhanced_attestation import EnhancedAttestationApi, EnhancedPartnerCenterAttestation
from shared.partner_center.retry import RetryPolicy
from shared.partner_center.secrets import SecretSource, open_secret_sources
from shared.partner_center.throttle import AdaptiveLimiter, LimiterPolicy
from shared.servicebus.settlement import RedeliveryPolicy
from shared.settings import AuthMode, ClientCredentialType, MissingSettingError, Settings


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a host needs, built once per process."""

    settings: Settings
    http: httpx.AsyncClient
    tokens: TokenProvider
    partner_center: PartnerCenterClient
    metadata: CachedMetadataSource
    attestor: Attestor  # the legacy flow (contract v1), also when ATTESTATION_FLOWS leaves it out
    router: EventRouter  # what hosts hand every message body to: the flows this deployment runs
    enhanced: EnhancedFlow | None  # the enhanced attestation (contract v2), when enabled
    journal: AttestationJournal
    acceptance: PartnerCenterAcceptance  # Partner Center's view of a customer (the pre-check, reconcile)
    redelivery: RedeliveryPolicy
    rng: random.Random


def build_token_provider(
    settings: Settings, http: httpx.AsyncClient, refresh: SecretSource | None, credential: SecretSource | None
) -> TokenProvider:
    """The provider the settings ask for; ``credential`` is a client secret or a certificate PEM."""
    by_certificate = settings.client_credential_type is ClientCredentialType.CERTIFICATE
    secret, certificate = (None, credential) if by_certificate else (credential, None)
    if settings.auth_mode is AuthMode.APP_ONLY:
        if credential is None:
            raise MissingSettingError(
                "app_only mode needs the app's credential: set KEY_VAULT_URL, or PARTNER_CENTER_CLIENT_SECRET "
                "(secret) or PARTNER_CENTER_CLIENT_CERTIFICATE_PATH (certificate)"
            )
        return ClientCredentialsProvider(
            http,
            token_url=settings.token_url,
            client_id=settings.client_id,
            scope=settings.scope,
            client_secret=secret,
            certificate=certificate,
        )
    if refresh is None:
        raise MissingSettingError(
            "app_user mode needs a refresh token: set KEY_VAULT_URL or PARTNER_CENTER_REFRESH_TOKEN"
        )
    return RefreshTokenProvider(
        http,
        token_url=settings.token_url,
        client_id=settings.client_id,
        scope=settings.scope,
        refresh_token=refresh,
        client_secret=secret,
        certificate=certificate,
    )


@asynccontextmanager
async def open_services(
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    http: httpx.AsyncClient | None = None,
    tokens: TokenProvider | None = None,
    app_only_tokens: TokenProvider | None = None,
    notifier: Notifier | None = None,
) -> AsyncIterator[Services]:
    """Build the services of one process and close them (HTTP pool, Key Vault, Blob, Service Bus) on exit.

    ``tokens`` stand for the legacy flow's provider, ``app_only_tokens`` for the enhanced flow's (default: a
    client-credentials provider from the settings, or ``tokens`` when those were given); ``notifier`` for the
    notifications queue."""
    settings = settings or Settings.from_environment()
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(new_http_client())
        enhanced_enabled = ENHANCED in settings.attestation_flows and not dry_run
        if tokens is None:
            refresh, credential = await open_secret_sources(settings, stack)
            tokens = build_token_provider(settings, http, refresh, credential)
            if enhanced_enabled and app_only_tokens is None and settings.auth_mode is not AuthMode.APP_ONLY:
                app_only_tokens = _app_only_tokens(settings, http, credential)
        limiter = None
        if settings.adaptive_concurrency:
            pause_store = await stack.enter_async_context(open_pause_store(settings))
            policy = LimiterPolicy(
                max_concurrency=settings.max_concurrency, max_pause_wait=settings.max_pause_wait_seconds
            )
            limiter = AdaptiveLimiter(policy, shared=SharedPauseMarker(pause_store))

        def client_with(provider: TokenProvider) -> PartnerCenterClient:
            return PartnerCenterClient(
                http,
                base_url=settings.partner_center_base_url,
                tokens=provider,
                application_name=settings.application_name,
                retry=RetryPolicy(attempts=settings.in_call_attempts),
                limiter=limiter,
            )

        partner_center = client_with(tokens)
        store = await stack.enter_async_context(open_metadata_store(settings))
        metadata = CachedMetadataSource(
            store, partner_center.get_agreement_metadata, ttl_seconds=settings.metadata_cache_ttl_seconds
        )
        ledger = await stack.enter_async_context(open_ledger(settings))
        contact_key = settings.ledger_contact_hash_key.encode("utf-8")
        journal = AttestationJournal(ledger, contact_key=contact_key)
        acceptance = PartnerCenterAcceptance(partner_center, contact_key=contact_key)
        precheck = acceptance if settings.precheck else None
        attestor = Attestor(
            AgreementPostAttestation(partner_center), metadata, dry_run=dry_run, journal=journal, precheck=precheck
        )
        enhanced = None
        if enhanced_enabled:
            enhanced = _enhanced_flow(
                settings,
                client_with(app_only_tokens or tokens),
                ledger,
                metadata,
                notifier or _queue_notifier(settings, stack),
                precheck=precheck,
                contact_key=contact_key,
            )
        yield Services(
            settings=settings,
            http=http,
            tokens=tokens,
            partner_center=partner_center,
            metadata=metadata,
            attestor=attestor,
            router=EventRouter(
                attestor if LEGACY in settings.attestation_flows else None,
                enhanced,
                dry_run=dry_run and ENHANCED in settings.attestation_flows,
            ),
            enhanced=enhanced,
            acceptance=acceptance,
            journal=journal,
            redelivery=RedeliveryPolicy(
                budget=settings.retry_budget,
                base_seconds=settings.retry_base_seconds,
                max_seconds=settings.retry_max_seconds,
            ),
            rng=random.Random(),
        )


def _app_only_tokens(settings: Settings, http: httpx.AsyncClient, credential: SecretSource | None) -> TokenProvider:
    """The enhanced flow's client-credentials provider beside an app+user one: the same app, its own grant."""
    try:
        return build_token_provider(replace(settings, auth_mode=AuthMode.APP_ONLY), http, None, credential)
    except MissingSettingError as exc:
        raise MissingSettingError(
            f"the enhanced attestation (ATTESTATION_FLOWS has enhanced) is app-only and {exc}; "
            "or set ATTESTATION_FLOWS=legacy"
        ) from exc


def _enhanced_flow(
    settings: Settings,
    client: PartnerCenterClient,
    ledger: Ledger,
    metadata: MetadataSource,
    notifier: Notifier,
    *,
    precheck: PartnerCenterAcceptance | None,
    contact_key: bytes,
) -> EnhancedFlow:
    try:
        api_settings = load_enhanced_api_settings(settings.enhanced_api_config_path)
    except EnhancedApiConfigError as exc:
        raise MissingSettingError(f"ENHANCED_API_CONFIG_PATH: {exc}") from exc
    return EnhancedFlow(
        EnhancedPartnerCenterAttestation(EnhancedAttestationApi(client, api_settings)),
        ledger,
        notifier,
        metadata,
        timing=FlowTiming(
            first_check_seconds=settings.enhanced_first_check_seconds,
            max_check_seconds=settings.enhanced_max_check_seconds,
            deadline_seconds=settings.enhanced_acceptance_deadline_seconds,
        ),
        precheck=precheck,
        contact_key=contact_key,
    )


def _queue_notifier(settings: Settings, stack: AsyncExitStack) -> Notifier:
    """Notifications to ``NOTIFICATIONS_QUEUE_NAME`` through a sender opened on first use, closed with ``stack``."""
    from shared.servicebus.connection import open_client_from_environment
    from shared.servicebus.notifications import MessageSender, ServiceBusNotifier

    async def open_sender() -> MessageSender:
        client = await stack.enter_async_context(open_client_from_environment())
        return await stack.enter_async_context(client.get_queue_sender(settings.notifications_queue_name))

    return ServiceBusNotifier(open_sender)
