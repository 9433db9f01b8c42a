"""Every app setting the code reads, in one list, and the frozen ``Settings`` built from them.

The same names appear in three places that must agree: this module, ``local.settings.json.example``
and the Bicep app settings under ``infra/``. Tests compare the three sets.

Settings are read once, in ``Settings.from_environment()``, on first use — never at import time, so a
missing setting cannot stop every function in the app from loading. A missing required setting fails
with its name in the message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ClientCredentialType(StrEnum):
    """What authenticates the app at the token endpoint."""

    SECRET = "secret"  # noqa: S105 — the name of a choice, not a password
    CERTIFICATE = "certificate"


class AuthMode(StrEnum):
    """How the app obtains Partner Center access tokens."""

    APP_USER = "app_user"  # Secure Application Model: a consented refresh token, exchanged per hour
    APP_ONLY = "app_only"  # client credentials: the newer attestation endpoints accept only these


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One app setting: its name, its default (None = no default) and what it is for."""

    name: str
    description: str
    default: str | None = None
    secret: bool = False
    host_only: bool = False  # read by the Functions host or a binding expression, not by Python code
    local_only: bool = False  # for local runs only; never set in Azure (infra/ leaves it out)


SETTINGS: tuple[SettingSpec, ...] = (
    # Functions host and bindings.
    SettingSpec("FUNCTIONS_WORKER_RUNTIME", "Functions language worker", "python", host_only=True),
    SettingSpec(
        "AzureWebJobsStorage__accountName",
        "Storage account the Functions host uses for its own state (identity-based)",
        host_only=True,
    ),
    SettingSpec(
        "ServiceBusConnection__fullyQualifiedNamespace",
        "Service Bus namespace host name, e.g. contoso.servicebus.windows.net (identity-based connection)",
    ),
    SettingSpec(
        "ServiceBusConnection",
        "Service Bus connection string, for the local emulator only (Azure uses the namespace + identity)",
        "",
        secret=True,
        local_only=True,
    ),
    SettingSpec("SERVICEBUS_QUEUE_NAME", "Queue the CRM publishes 'customer signed MCA' events to", "mca-events"),
    SettingSpec(
        "METADATA_REFRESH_SCHEDULE",
        "NCRONTAB schedule of the agreement-metadata refresh timer",
        "0 0 */6 * * *",
    ),
    SettingSpec(
        "RECONCILE_SCHEDULE",
        "NCRONTAB schedule of the reconciliation timer (the whole ledger against Partner Center; daily at 05:00 UTC)",
        "0 0 5 * * *",
    ),
    # Partner Center.
    SettingSpec("PARTNER_CENTER_BASE_URL", "Partner Center REST API root", "https://api.partnercenter.microsoft.com"),
    SettingSpec("PARTNER_CENTER_APPLICATION_NAME", "Sent as MS-PartnerCenter-Application", "mca-attest"),
    SettingSpec("PARTNER_CENTER_AUTH_MODE", "app_user (refresh token) or app_only (client credentials)", "app_user"),
    SettingSpec("PARTNER_TENANT_ID", "The partner's Entra tenant id"),
    SettingSpec("PARTNER_CENTER_CLIENT_ID", "Application (client) id of the partner's Entra web app"),
    SettingSpec(
        "PARTNER_CENTER_TOKEN_URL",
        "Entra token endpoint; empty = https://login.microsoftonline.com/{PARTNER_TENANT_ID}/oauth2/v2.0/token",
        "",
    ),
    SettingSpec("PARTNER_CENTER_SCOPE", "Token scope", "https://api.partnercenter.microsoft.com/.default"),
    SettingSpec("KEY_VAULT_URL", "Key Vault holding the refresh token and client secret; empty = use env", ""),
    SettingSpec(
        "KEY_VAULT_REFRESH_TOKEN_SECRET_NAME", "Key Vault secret with the refresh token", "partner-center-refresh-token"
    ),
    SettingSpec(
        "KEY_VAULT_CLIENT_SECRET_NAME",
        "Key Vault secret with the app's credential: its client secret, or its certificate as PEM (key + cert)",
        "partner-center-client-secret",
    ),
    SettingSpec(
        "PARTNER_CENTER_CLIENT_CREDENTIAL_TYPE",
        "How the app proves itself to Entra: certificate (a signed assertion; preferred) or secret",
        "secret",
    ),
    SettingSpec(
        "KEY_VAULT_WRITE_BACK_REFRESH_TOKEN",
        "true = store rotated refresh tokens in Key Vault (needs Key Vault Secrets Officer on that secret)",
        "false",
    ),
    SettingSpec(
        "PARTNER_CENTER_CLIENT_SECRET",
        "Client secret for local runs only (production: Key Vault)",
        "",
        secret=True,
        local_only=True,
    ),
    SettingSpec(
        "PARTNER_CENTER_CLIENT_CERTIFICATE_PATH",
        "PEM file with the app's private key and certificate, for local runs only (production: Key Vault)",
        "",
        local_only=True,
    ),
    SettingSpec(
        "PARTNER_CENTER_REFRESH_TOKEN",
        "Refresh token for local runs only (production: Key Vault)",
        "",
        secret=True,
        local_only=True,
    ),
    SettingSpec(
        "PARTNER_CENTER_ADAPTIVE_CONCURRENCY",
        "true = pace Partner Center calls adaptively (AIMD on 429) and share pauses between instances; "
        "false = no limiter (each call retries 429s on its own)",
        "true",
    ),
    SettingSpec(
        "PARTNER_CENTER_MAX_CONCURRENCY",
        "Most Partner Center calls in flight per process (the adaptive limiter's upper bound)",
        "32",
    ),
    SettingSpec(
        "PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS",
        "Throttling pauses a call waits out in total; a longer pause schedules the message for its end",
        "60",
    ),
    # Attestation policy.
    SettingSpec(
        "AGREEMENT_TYPES",
        "Comma-separated agreement types whose metadata the timer refreshes",
        "MicrosoftCustomerAgreement",
    ),
    SettingSpec("ATTEST_IN_CALL_ATTEMPTS", "HTTP attempts per transient failure inside one delivery", "3"),
    SettingSpec(
        "ATTEST_RETRY_BUDGET",
        "Scheduled redeliveries before dead-lettering (RetriesExhausted, or PartnerCenterUnreachable)",
        "8",
    ),
    SettingSpec("ATTEST_RETRY_BASE_SECONDS", "First scheduled-retry delay; doubles per attempt, with jitter", "30"),
    SettingSpec("ATTEST_RETRY_MAX_SECONDS", "Upper bound of one scheduled-retry delay", "3600"),
    # Enhanced attestation (docs/enhanced-attestation.md).
    SettingSpec(
        "ATTESTATION_FLOWS",
        "Comma-separated contracts this deployment processes: legacy = contract v1 (POST agreements, app+user), "
        "enhanced = contract v2 (enhanced attestation, app-only); an event of a disabled flow is dead-lettered",
        "legacy,enhanced",
    ),
    SettingSpec(
        "ENHANCED_API_CONFIG_PATH",
        "JSON file correcting the enhanced API's assumed details (keys in docs/enhanced-attestation.md); "
        "empty = the built-in defaults of shared/partner_center/enhanced_api.py",
        "",
    ),
    SettingSpec(
        "NOTIFICATIONS_QUEUE_NAME",
        "Outbound queue where the app tells the CRM an enhanced attestation's acceptance link and every terminal state",
        "mca-notifications",
    ),
    SettingSpec(
        "ENHANCED_FIRST_CHECK_SECONDS",
        "First wait before checking an enhanced attestation's status; the interval grows up to the maximum",
        "900",
    ),
    SettingSpec(
        "ENHANCED_MAX_CHECK_SECONDS",
        "Longest wait between two status checks of an enhanced attestation (at least the first wait)",
        "21600",
    ),
    SettingSpec(
        "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS",
        "Time the customer has to accept (30 days); after it the event is dead-lettered AcceptanceTimedOut",
        "2592000",
    ),
    # Metadata cache.
    SettingSpec(
        "METADATA_CACHE_ACCOUNT_URL",
        "Blob endpoint of the metadata cache, e.g. https://acct.blob.core.windows.net; empty = file cache",
        "",
    ),
    SettingSpec("METADATA_CACHE_CONTAINER", "Blob container of the metadata cache", "agreement-metadata"),
    SettingSpec(
        "METADATA_CACHE_DIR",
        "Folder of the file-backed metadata cache (local runs)",
        ".cache/metadata",
        local_only=True,
    ),
    SettingSpec("METADATA_CACHE_TTL_SECONDS", "Age after which cached metadata is refetched", "21600"),
    # Attestation ledger (docs/ledger.md).
    SettingSpec(
        "LEDGER_ACCOUNT_URL",
        "Table endpoint of the ledger, e.g. https://acct.table.core.windows.net (identity-based); empty = SQLite file",
        "",
    ),
    SettingSpec("LEDGER_TABLE", "Table of the ledger: one entity per event, partitioned by customer", "attestations"),
    SettingSpec(
        "LEDGER_CONNECTION_STRING",
        "Storage connection string of the ledger, for Azurite only (Azure uses the account URL + identity)",
        "",
        secret=True,
        local_only=True,
    ),
    SettingSpec(
        "LEDGER_PATH",
        "SQLite file of the ledger (local runs, the bulk command)",
        ".cache/ledger.sqlite3",
        local_only=True,
    ),
    SettingSpec(
        "LEDGER_CONTACT_HASH_KEY",
        "Key of the contact's HMAC-SHA256 in the ledger (a Key Vault reference in Azure); empty = keep no contact hash",
        "",
        secret=True,
    ),
    SettingSpec(
        "ATTEST_PRECHECK",
        "true = before attesting, read the customer's direct-signed status and MCA agreements; skip if accepted",
        "true",
    ),
    # Daily reconciliation reports (docs/ledger.md).
    SettingSpec(
        "RECONCILE_REPORT_ACCOUNT_URL",
        "Blob endpoint for the reconciliation reports (identity-based); empty = the folder RECONCILE_REPORT_DIR",
        "",
    ),
    SettingSpec("RECONCILE_REPORT_CONTAINER", "Blob container of the reconciliation reports", "reconciliation-reports"),
    SettingSpec(
        "RECONCILE_REPORT_DIR",
        "Folder of the reconciliation reports (local runs)",
        "reports/reconciliation",
        local_only=True,
    ),
    SettingSpec(
        "RECONCILE_CONCURRENCY",
        "Customers the reconciliation timer reads from Partner Center at once (the reads share its throttling)",
        "8",
    ),
    # Telemetry.
    SettingSpec("APPLICATIONINSIGHTS_CONNECTION_STRING", "Application Insights; empty = no export", "", secret=True),
)

SETTING_NAMES: frozenset[str] = frozenset(spec.name for spec in SETTINGS)

# The values ATTESTATION_FLOWS may list: legacy = contract v1, enhanced = contract v2.
ATTESTATION_FLOW_NAMES: tuple[str, ...] = ("legacy", "enhanced")


class MissingSettingError(RuntimeError):
    """A required setting is absent or its value is invalid; the message names it."""


def setting_default(name: str) -> str:
    """The default of a setting that has one (commands show it in their help)."""
    default = next(s.default for s in SETTINGS if s.name == name)
    if default is None:
        raise KeyError(f"{name} has no default")
    return default


def _get(env: Mapping[str, str], name: str) -> str:
    if name not in SETTING_NAMES:  # a typo here would silently read nothing
        raise KeyError(f"{name} is not declared in shared.settings.SETTINGS")
    spec = next(s for s in SETTINGS if s.name == name)
    value = env.get(name, spec.default)
    if value is None:
        raise MissingSettingError(f"required app setting {name} is not set ({spec.description})")
    return value


def _get_int(env: Mapping[str, str], name: str) -> int:
    raw = _get(env, name)
    try:
        return int(raw)
    except ValueError:
        raise MissingSettingError(f"app setting {name} must be a whole number, got {raw!r}") from None


def _get_positive_seconds(env: Mapping[str, str], name: str) -> float:
    raw = _get(env, name)
    try:
        seconds = float(raw)
    except ValueError:
        raise MissingSettingError(f"app setting {name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise MissingSettingError(f"app setting {name} must be a positive, finite number of seconds, got {raw!r}")
    return seconds


def _get_attestation_flows(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _get(env, name)
    flows: list[str] = []
    for item in raw.split(","):
        flow = item.strip().lower()
        if not flow:
            continue
        if flow not in ATTESTATION_FLOW_NAMES:
            raise MissingSettingError(
                f"app setting {name} names an unknown flow {flow!r}: each must be one of "
                f"{list(ATTESTATION_FLOW_NAMES)}, got {raw!r}"
            )
        if flow not in flows:
            flows.append(flow)
    if not flows:
        raise MissingSettingError(
            f"app setting {name} must name at least one flow out of {list(ATTESTATION_FLOW_NAMES)}, got {raw!r}"
        )
    return tuple(flows)


def _choice[E: StrEnum](env: Mapping[str, str], name: str, choices: type[E]) -> E:
    raw = _get(env, name)
    try:
        return choices(raw.strip().lower())
    except ValueError:
        raise MissingSettingError(
            f"app setting {name} must be one of {[c.value for c in choices]}, got {raw!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Settings:
    """The configuration of one process, read from the environment in one place."""

    partner_center_base_url: str
    application_name: str
    auth_mode: AuthMode
    partner_tenant_id: str
    client_id: str
    token_url: str
    scope: str
    key_vault_url: str
    refresh_token_secret_name: str
    client_secret_secret_name: str
    write_back_refresh_token: bool
    client_secret: str
    client_credential_type: ClientCredentialType
    client_certificate_path: str
    refresh_token: str
    agreement_types: tuple[str, ...]
    adaptive_concurrency: bool
    max_concurrency: int
    max_pause_wait_seconds: float
    in_call_attempts: int
    retry_budget: int
    retry_base_seconds: float
    retry_max_seconds: float
    queue_name: str
    metadata_cache_account_url: str
    metadata_cache_container: str
    metadata_cache_dir: str
    metadata_cache_ttl_seconds: float
    appinsights_connection_string: str
    ledger_account_url: str = ""
    ledger_table: str = "attestations"
    ledger_connection_string: str = ""
    ledger_path: str = ".cache/ledger.sqlite3"
    ledger_contact_hash_key: str = ""
    precheck: bool = True
    reconcile_report_account_url: str = ""
    reconcile_report_container: str = "reconciliation-reports"
    reconcile_report_dir: str = "reports/reconciliation"
    reconcile_concurrency: int = 8
    attestation_flows: tuple[str, ...] = ATTESTATION_FLOW_NAMES
    enhanced_api_config_path: str = ""
    notifications_queue_name: str = "mca-notifications"
    enhanced_first_check_seconds: float = 900.0
    enhanced_max_check_seconds: float = 21600.0
    enhanced_acceptance_deadline_seconds: float = 2592000.0  # 30 days

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        tenant = _get(env, "PARTNER_TENANT_ID")
        mode = _choice(env, "PARTNER_CENTER_AUTH_MODE", AuthMode)
        token_url = _get(env, "PARTNER_CENTER_TOKEN_URL") or (
            f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
        )
        first_check = _get_positive_seconds(env, "ENHANCED_FIRST_CHECK_SECONDS")
        max_check = _get_positive_seconds(env, "ENHANCED_MAX_CHECK_SECONDS")
        if first_check > max_check:
            raise MissingSettingError(
                f"app setting ENHANCED_FIRST_CHECK_SECONDS ({first_check:g}) must not exceed "
                f"ENHANCED_MAX_CHECK_SECONDS ({max_check:g})"
            )
        return cls(
            partner_center_base_url=_get(env, "PARTNER_CENTER_BASE_URL").rstrip("/"),
            application_name=_get(env, "PARTNER_CENTER_APPLICATION_NAME"),
            auth_mode=mode,
            partner_tenant_id=tenant,
            client_id=_get(env, "PARTNER_CENTER_CLIENT_ID"),
            token_url=token_url,
            scope=_get(env, "PARTNER_CENTER_SCOPE"),
            key_vault_url=_get(env, "KEY_VAULT_URL"),
            refresh_token_secret_name=_get(env, "KEY_VAULT_REFRESH_TOKEN_SECRET_NAME"),
            client_secret_secret_name=_get(env, "KEY_VAULT_CLIENT_SECRET_NAME"),
            write_back_refresh_token=_get(env, "KEY_VAULT_WRITE_BACK_REFRESH_TOKEN").strip().lower() == "true",
            client_secret=_get(env, "PARTNER_CENTER_CLIENT_SECRET"),
            client_credential_type=_choice(env, "PARTNER_CENTER_CLIENT_CREDENTIAL_TYPE", ClientCredentialType),
            client_certificate_path=_get(env, "PARTNER_CENTER_CLIENT_CERTIFICATE_PATH"),
            refresh_token=_get(env, "PARTNER_CENTER_REFRESH_TOKEN"),
            agreement_types=tuple(t.strip() for t in _get(env, "AGREEMENT_TYPES").split(",") if t.strip()),
            adaptive_concurrency=_get(env, "PARTNER_CENTER_ADAPTIVE_CONCURRENCY").strip().lower() == "true",
            max_concurrency=_get_int(env, "PARTNER_CENTER_MAX_CONCURRENCY"),
            max_pause_wait_seconds=float(_get_int(env, "PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS")),
            in_call_attempts=_get_int(env, "ATTEST_IN_CALL_ATTEMPTS"),
            retry_budget=_get_int(env, "ATTEST_RETRY_BUDGET"),
            retry_base_seconds=float(_get_int(env, "ATTEST_RETRY_BASE_SECONDS")),
            retry_max_seconds=float(_get_int(env, "ATTEST_RETRY_MAX_SECONDS")),
            queue_name=_get(env, "SERVICEBUS_QUEUE_NAME"),
            metadata_cache_account_url=_get(env, "METADATA_CACHE_ACCOUNT_URL"),
            metadata_cache_container=_get(env, "METADATA_CACHE_CONTAINER"),
            metadata_cache_dir=_get(env, "METADATA_CACHE_DIR"),
            metadata_cache_ttl_seconds=float(_get_int(env, "METADATA_CACHE_TTL_SECONDS")),
            appinsights_connection_string=_get(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
            ledger_account_url=_get(env, "LEDGER_ACCOUNT_URL").rstrip("/"),
            ledger_table=_get(env, "LEDGER_TABLE"),
            ledger_connection_string=_get(env, "LEDGER_CONNECTION_STRING"),
            ledger_path=_get(env, "LEDGER_PATH"),
            ledger_contact_hash_key=_get(env, "LEDGER_CONTACT_HASH_KEY"),
            precheck=_get(env, "ATTEST_PRECHECK").strip().lower() == "true",
            reconcile_report_account_url=_get(env, "RECONCILE_REPORT_ACCOUNT_URL").rstrip("/"),
            reconcile_report_container=_get(env, "RECONCILE_REPORT_CONTAINER"),
            reconcile_report_dir=_get(env, "RECONCILE_REPORT_DIR"),
            reconcile_concurrency=_get_int(env, "RECONCILE_CONCURRENCY"),
            attestation_flows=_get_attestation_flows(env, "ATTESTATION_FLOWS"),
            enhanced_api_config_path=_get(env, "ENHANCED_API_CONFIG_PATH"),
            notifications_queue_name=_get(env, "NOTIFICATIONS_QUEUE_NAME"),
            enhanced_first_check_seconds=first_check,
            enhanced_max_check_seconds=max_check,
            enhanced_acceptance_deadline_seconds=_get_positive_seconds(env, "ENHANCED_ACCEPTANCE_DEADLINE_SECONDS"),
        )
