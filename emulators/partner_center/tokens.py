"""The Entra side: client credentials, refresh tokens (rotating, never revoked by rotation) and the
opaque access tokens Partner Center checks.

Access tokens are random strings recorded with their client, user (None for app-only tokens), partner
tenant, audience and expiry; nothing can be read out of them, as nothing should be by a client.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from emulators.partner_center.bodies import Reply, classic_fault, entra_error, json_reply
from emulators.partner_center.certificates import ASSERTION_TYPE, assertion_problem
from emulators.partner_center.conventions import PARTNER_CENTER_RESOURCE


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling Partner Center."""

    client_id: str
    user_id: str | None
    tenant: str

    @property
    def caller_id(self) -> str:
        """``userId`` of what this caller creates: the user, or the app for app-only tokens."""
        return self.user_id or self.client_id


@dataclass(frozen=True, slots=True)
class _AccessToken:
    identity: Identity
    partner_center_audience: bool
    expires_at: float


@dataclass(frozen=True, slots=True)
class _RefreshToken:
    client_id: str
    user_id: str
    revoked: bool = False


def is_partner_center_scope(scope: str) -> bool:
    return any(item.lower().startswith(PARTNER_CENTER_RESOURCE + "/") for item in scope.split())


@dataclass(slots=True)
class TokenStore:
    """Issues and checks tokens; thread-safe."""

    clients: Mapping[str, str]
    initial_refresh_token: str
    user_id: str
    lifetime_seconds: float
    accepted_tenants: frozenset[str] = frozenset()
    """Lower-case tenant ids the token endpoint answers for; empty = any tenant."""
    certificates: Mapping[str, str] = field(default_factory=dict)
    """Client id → registered certificate (PEM) for certificate credentials (client assertions)."""
    requests: int = 0
    _refresh: dict[str, _RefreshToken] = field(init=False, default_factory=dict)
    _access: dict[str, _AccessToken] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._refresh[self.initial_refresh_token] = _RefreshToken(self._first_client(), self.user_id)

    def _first_client(self) -> str:
        return next(iter(self.clients), "")

    # Control.

    def reset_request_count(self) -> None:
        with self._lock:
            self.requests = 0

    def issue_refresh_token(self, client_id: str | None = None) -> str:
        """A new valid refresh token, as a redone consent would give."""
        token = "rt." + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = _RefreshToken(client_id or self._first_client(), self.user_id)
        return token

    def revoke_refresh_tokens(self) -> None:
        """Make every refresh token fail with ``invalid_grant`` (consent must be redone)."""
        with self._lock:
            self._refresh = {t: replace(r, revoked=True) for t, r in self._refresh.items()}

    def expire_access_tokens(self) -> int:
        """Expire every access token issued so far; the number expired."""
        now = time.monotonic()
        with self._lock:
            live = [t for t, a in self._access.items() if a.expires_at > now]
            for token in live:
                self._access[token] = replace(self._access[token], expires_at=now)
        return len(live)

    # The token endpoint.

    def exchange(self, tenant: str, form: Mapping[str, str], endpoint: str = "") -> Reply:
        """Answer ``POST /{tenant}/oauth2/v2.0/token``; ``endpoint`` is its URL (a client assertion's audience)."""
        with self._lock:
            self.requests += 1
        if self.accepted_tenants and tenant.lower() not in self.accepted_tenants:
            return entra_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the"
                " correct tenant ID and are signing into the correct cloud.",
            )
        grant_type = form.get("grant_type", "")
        required = {
            "refresh_token": ("client_id", "refresh_token", "scope"),
            "client_credentials": ("client_id", "scope"),
        }
        if grant_type not in required:
            if not grant_type:
                return _missing("grant_type")
            return entra_error(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
            )
        for name in required[grant_type]:
            if not form.get(name):
                return _missing(name)
        client_id = form["client_id"]
        if client_id not in self.clients:
            return entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        refusal = self._authenticate_client(client_id, form, endpoint)
        if refusal is not None:
            return refusal
        scope = form["scope"]
        audience = is_partner_center_scope(scope)
        if grant_type == "client_credentials":
            access = self._mint(Identity(client_id, None, tenant), audience)
            return json_reply(200, self._token_body(access, scope, refresh=None))
        with self._lock:
            grant = self._refresh.get(form["refresh_token"])
        if grant is None or grant.revoked:
            return entra_error(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was issued on a date and was"
                " inactive for 90.00:00:00.",
            )
        if grant.client_id != client_id:
            return entra_error(
                400,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to a different client.",
            )
        access = self._mint(Identity(client_id, grant.user_id, tenant), audience)
        rotated = self.issue_refresh_token(client_id)
        return json_reply(200, self._token_body(access, scope, refresh=rotated))

    def _authenticate_client(self, client_id: str, form: Mapping[str, str], endpoint: str) -> Reply | None:
        """None when the app proved itself with its registered certificate or secret; else Entra's refusal."""
        assertion = form.get("client_assertion")
        if assertion:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return entra_error(400, "invalid_request", 50027, "client_assertion_type must be jwt-bearer.")
            registered = self.certificates.get(client_id)
            if registered is None:
                return entra_error(401, "invalid_client", 700027, "No certificate is registered on application.")
            problem = assertion_problem(assertion, client_id=client_id, certificate_pem=registered, endpoint=endpoint)
            return None if problem is None else entra_error(401, "invalid_client", 700027, problem)
        secret = form.get("client_secret")
        if not secret:
            return entra_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        if not secrets.compare_digest(secret, self.clients[client_id]):
            return entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client"
                " secret value, not the client secret ID, for a secret added to app"
                f" '{client_id}'.",
            )
        return None

    def _mint(self, identity: Identity, partner_center_audience: bool) -> str:
        token = "at." + secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._access = {t: a for t, a in self._access.items() if a.expires_at > now - 3600}
            self._access[token] = _AccessToken(identity, partner_center_audience, now + self.lifetime_seconds)
        return token

    def _token_body(self, access_token: str, scope: str, refresh: str | None) -> dict[str, object]:
        expires_in = max(0, math.ceil(self.lifetime_seconds))
        body: dict[str, object] = {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    # Partner Center's check.

    def authenticate(self, authorization: str | None) -> Identity | Reply:
        """The caller behind an ``Authorization`` header, or the 401 Partner Center answers."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return classic_fault(401, 800001, "Partner Token missing")
        with self._lock:
            access = self._access.get(token)
        if access is None or access.expires_at <= time.monotonic():
            return classic_fault(401, 1002, "Authorization Failed")
        if not access.partner_center_audience:
            return classic_fault(401, 900420, "Invalid Token")
        return access.identity


def _missing(name: str) -> Reply:
    return entra_error(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )
