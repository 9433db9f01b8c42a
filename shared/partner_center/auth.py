"""Partner Center access tokens: one seam (``TokenProvider``), two grants.

- ``RefreshTokenProvider`` — app + user, the Secure Application Model: a refresh token produced once by
  an admin's consent is exchanged at the Entra token endpoint for an access token. Entra rotates the
  refresh token on every exchange; the new one is kept in memory and handed to the refresh-token
  ``SecretSource`` (which may write it back to Key Vault). ``invalid_grant`` / ``AADSTS700082`` means
  the consent must be redone: ``ConsentRequired``, never retried.
- ``ClientCredentialsProvider`` — app-only, which Partner Center's newer attestation endpoints require.

Either grant authenticates the app with a certificate (a signed client assertion, preferred; see
``client_assertion.py``) or a client secret.

Both cache the access token until shortly before it expires, and let concurrent callers share a single
exchange (one refresh in flight, behind an ``asyncio.Lock``). The client calls ``invalidate`` on a 401
and asks once more.

Why not MSAL: MSAL for Python is synchronous (``requests``), so each exchange would block the event loop
or need a thread, and it cannot share the app's pooled ``httpx.AsyncClient``; its refresh-token redemption
(``acquire_token_by_refresh_token``) is documented for migration only, and it hides the rotated refresh
token in its own cache where a Key Vault write-back hook cannot see it. A form POST to the token
endpoint is small, async, and testable against the local simulator over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from shared.attestation.errors import (
    AuthError,
    ConnectionFailed,
    ConsentRequired,
    PartnerCenterError,
    RequestIds,
    ServerError,
)
from shared.partner_center.client_assertion import (
    ASSERTION_TYPE,
    CertificateError,
    SigningCertificate,
    client_assertion,
)
from shared.partner_center.responses import HTTP_STACK_ERRORS, translate_transport_error
from shared.partner_center.secrets import SecretSource

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300.0  # renew five minutes early so no request leaves with a token about to expire


class TokenProvider(Protocol):
    """Gives bearer tokens for Partner Center."""

    async def get_token(self) -> str:
        """A token valid for at least a few minutes."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (Partner Center refused it); the next ``get_token`` exchanges anew."""
        ...


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float  # on the provider's monotonic clock


class _OAuthTokenProvider:
    """Shared mechanics: cache, single flight, the token endpoint call and its error translation."""

    grant_name = "oauth"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        scope: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._scope = scope
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self._signing_certificate: SigningCertificate | None = None
        self.exchanges = 0  # how many times the token endpoint was called (tests and benchmarks read it)

    def _fresh(self) -> _Token | None:
        token = self._token
        if token is not None and token.expires_at - REFRESH_MARGIN_SECONDS > self._clock():
            return token
        return None

    async def get_token(self) -> str:
        token = self._fresh()
        if token is not None:
            return token.value
        async with self._lock:
            token = self._fresh()  # another caller may have refreshed while we waited
            if token is None:
                token = await self._exchange()
                self._token = token
            return token.value

    def invalidate(self, token: str) -> None:
        if self._token is not None and self._token.value == token:
            self._token = None

    async def _form(self) -> dict[str, str]:
        raise NotImplementedError

    async def _credentials_form(self) -> dict[str, str]:
        """The token request's form; secrets that cannot be read become errors of the tree."""
        from azure.core.exceptions import AzureError

        try:
            return await self._form()
        except (CertificateError, LookupError) as exc:  # a bad or empty credential: an operator must fix it
            raise AuthError(f"the app's credential cannot be used: {exc}") from exc
        except AzureError as exc:  # Key Vault unreachable or throttling: try again later
            raise ConnectionFailed(f"credential store unavailable: {type(exc).__name__}") from exc

    async def _client_authentication(
        self, client_secret: SecretSource | None, certificate: SecretSource | None
    ) -> dict[str, str]:
        """The form fields that authenticate the app: a signed assertion, a secret, or nothing (public)."""
        if certificate is not None:
            if self._signing_certificate is None:
                self._signing_certificate = SigningCertificate.from_pem(await certificate.read())
            assertion = client_assertion(
                self._signing_certificate, client_id=self._client_id, token_url=self._token_url
            )
            return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
        if client_secret is not None:
            return {"client_secret": await client_secret.read()}
        return {}

    async def _accept(self, doc: dict[str, Any]) -> None:
        """Hook for grant-specific handling of a successful answer (refresh-token rotation)."""

    async def _exchange(self) -> _Token:
        self.exchanges += 1
        started = self._clock()
        form = await self._credentials_form()
        try:
            response = await self._http.post(self._token_url, data=form)
        except HTTP_STACK_ERRORS as exc:  # the same stack as Partner Center's calls: the same translation
            raise translate_transport_error(exc, _NO_IDS) from exc
        if response.status_code != 200:
            raise _token_error(response)
        doc = _token_answer(response)
        await self._accept(doc)
        lifetime = float(doc.get("expires_in", 3600))
        log.info(
            "token acquired",
            extra={"event": "auth.token_acquired", "grant": self.grant_name, "expires_in": lifetime},
        )
        return _Token(value=str(doc["access_token"]), expires_at=started + lifetime)


class RefreshTokenProvider(_OAuthTokenProvider):
    """App + user tokens from a consented, rotating refresh token."""

    grant_name = "refresh_token"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        scope: str,
        refresh_token: SecretSource,
        client_secret: SecretSource | None,
        certificate: SecretSource | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(http, token_url=token_url, client_id=client_id, scope=scope, clock=clock)
        self._refresh_token = refresh_token
        self._client_secret = client_secret
        self._certificate = certificate
        self._current_refresh_token: str | None = None

    async def _form(self) -> dict[str, str]:
        if self._current_refresh_token is None:
            self._current_refresh_token = await self._refresh_token.read()
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "refresh_token": self._current_refresh_token,
            "scope": self._scope,
        }
        form.update(await self._client_authentication(self._client_secret, self._certificate))
        return form

    async def _accept(self, doc: dict[str, Any]) -> None:
        rotated = doc.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._current_refresh_token:
            self._current_refresh_token = rotated
            try:
                await self._refresh_token.write(rotated)
            except Exception as exc:  # noqa: BLE001 — write-back is best effort: the old token stays valid
                log.warning(
                    "rotated refresh token not stored: %s",
                    type(exc).__name__,
                    extra={"event": "auth.refresh_token_write_failed"},
                )


class ClientCredentialsProvider(_OAuthTokenProvider):
    """App-only tokens: client credentials with a certificate (preferred) or a client secret."""

    grant_name = "client_credentials"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        scope: str,
        client_secret: SecretSource | None = None,
        certificate: SecretSource | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (client_secret is None) == (certificate is None):
            raise ValueError("app-only tokens need exactly one of client_secret and certificate")
        super().__init__(http, token_url=token_url, client_id=client_id, scope=scope, clock=clock)
        self._client_secret = client_secret
        self._certificate = certificate

    async def _form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "scope": self._scope,
            **await self._client_authentication(self._client_secret, self._certificate),
        }


_NO_IDS = RequestIds()  # token-endpoint calls carry no Partner Center request ids


def _token_answer(response: httpx.Response) -> dict[str, Any]:
    """A 200 must be a JSON object with an access token; anything else (a proxy's page) is transient."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str) or not doc["access_token"]:
        raise ServerError("token endpoint answered 200 without an access token", status=response.status_code)
    return doc


def _token_error(response: httpx.Response) -> PartnerCenterError:
    """Translate an Entra token-endpoint refusal. Its body never contains the token we sent."""
    try:
        doc = response.json()
    except ValueError:
        doc = {}
    error = str(doc.get("error", "")) if isinstance(doc, dict) else ""
    description = str(doc.get("error_description", "")) if isinstance(doc, dict) else ""
    first_line = description.splitlines()[0] if description else f"HTTP {response.status_code}"
    status = response.status_code
    if error == "invalid_grant" or "AADSTS700082" in description:
        return ConsentRequired(
            "the refresh token was refused (" + first_line + "): an admin agent must redo the Partner Center "
            "consent and store the new refresh token",
            status=status,
            code=error,
        )
    if status >= 500 or status == 429:
        return ServerError(f"token endpoint unavailable: {first_line}", status=status, code=error)
    return AuthError(f"token endpoint refused the app: {error or first_line}", status=status, code=error)
