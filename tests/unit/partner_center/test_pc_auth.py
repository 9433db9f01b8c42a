"""Token providers: the grants' forms, caching, single flight, rotation and token-endpoint errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from urllib.parse import parse_qs

import httpx
import pytest

from shared.attestation.errors import AuthError, ConnectionFailed, ConsentRequired, ServerError, TransientError
from shared.partner_center.auth import ClientCredentialsProvider, RefreshTokenProvider
from shared.partner_center.secrets import InMemorySecret

TOKEN_URL = "https://login.example/partner-tenant/oauth2/v2.0/token"
SCOPE = "https://api.partnercenter.microsoft.com/.default"
REFRESH_TOKEN = "0.ARoA-initial-refresh-token-secret"

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSecret:
    """A SecretSource that records every write; it can be told to fail writes."""

    def __init__(self, value: str, *, fail_writes: bool = False) -> None:
        self.value = value
        self.fail_writes = fail_writes
        self.reads = 0
        self.writes: list[str] = []

    async def read(self) -> str:
        self.reads += 1
        return self.value

    async def write(self, value: str) -> None:
        self.writes.append(value)
        if self.fail_writes:
            raise RuntimeError("Key Vault is read-only here")
        self.value = value


class TokenEndpoint:
    """A stand-in for Entra's token endpoint that records each form it receives."""

    def __init__(self, *, rotate: bool = True, expires_in: int = 3600) -> None:
        self.forms: list[dict[str, str]] = []
        self.rotate = rotate
        self.expires_in = expires_in
        self.answer: Callable[[int], httpx.Response] | None = None  # overrides the success answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert str(request.url) == TOKEN_URL
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        self.forms.append(form)
        number = len(self.forms)
        for _ in range(3):  # let concurrent callers pile up while the exchange is "in flight"
            await asyncio.sleep(0)
        if self.answer is not None:
            return self.answer(number)
        doc: dict[str, object] = {
            "token_type": "Bearer",
            "access_token": f"access-{number}",
            "expires_in": self.expires_in,
        }
        if self.rotate:
            doc["refresh_token"] = f"rotated-{number}"
        return httpx.Response(200, json=doc)


def _http(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _refresh_provider(
    http: httpx.AsyncClient,
    secret: RecordingSecret,
    *,
    client_secret: RecordingSecret | None = None,
    clock: FakeClock | None = None,
) -> RefreshTokenProvider:
    return RefreshTokenProvider(
        http,
        token_url=TOKEN_URL,
        client_id="app-id",
        scope=SCOPE,
        refresh_token=secret,
        client_secret=client_secret,
        clock=clock or FakeClock(),
    )


def _entra_error(status: int, error: str, description: str) -> Callable[[int], httpx.Response]:
    body = {"error": error, "error_description": description, "error_codes": [0], "trace_id": "t"}
    return lambda _number: httpx.Response(status, json=body)


async def test_refresh_token_grant_form() -> None:
    """The refresh-token grant posts grant_type, client_id, refresh_token, scope and the client secret."""
    endpoint = TokenEndpoint()
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN), client_secret=RecordingSecret("s3cret"))

        assert await provider.get_token() == "access-1"

    assert endpoint.forms == [
        {
            "grant_type": "refresh_token",
            "client_id": "app-id",
            "refresh_token": REFRESH_TOKEN,
            "scope": SCOPE,
            "client_secret": "s3cret",
        }
    ]


async def test_refresh_token_grant_without_client_secret() -> None:
    """Without a client secret (certificate or public client) the form carries none."""
    endpoint = TokenEndpoint()
    async with _http(endpoint) as http:
        await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    assert "client_secret" not in endpoint.forms[0]


async def test_token_cached_until_five_minutes_before_expiry() -> None:
    """A token is reused until 5 minutes before it expires, then exchanged anew."""
    endpoint = TokenEndpoint(expires_in=3600)
    clock = FakeClock()
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN), clock=clock)

        assert await provider.get_token() == "access-1"
        clock.now += 3600 - 300 - 1
        assert await provider.get_token() == "access-1"
        clock.now += 1
        assert await provider.get_token() == "access-2"

    assert provider.exchanges == 2
    assert len(endpoint.forms) == 2


async def test_concurrent_callers_share_one_exchange() -> None:
    """50 concurrent get_token() calls cause exactly one token exchange."""
    endpoint = TokenEndpoint()
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN))

        tokens = await asyncio.gather(*(provider.get_token() for _ in range(50)))

    assert set(tokens) == {"access-1"}
    assert len(endpoint.forms) == 1
    assert provider.exchanges == 1


async def test_rotated_refresh_token_is_used_and_stored() -> None:
    """The rotated refresh token is sent on the next exchange and handed to the secret source."""
    endpoint = TokenEndpoint()
    secret = RecordingSecret(REFRESH_TOKEN)
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, secret)

        first = await provider.get_token()
        provider.invalidate(first)
        await provider.get_token()

    assert [form["refresh_token"] for form in endpoint.forms] == [REFRESH_TOKEN, "rotated-1"]
    assert secret.writes == ["rotated-1", "rotated-2"]
    assert secret.reads == 1


async def test_unchanged_refresh_token_is_not_written_back() -> None:
    """An exchange that returns no new refresh token writes nothing."""
    endpoint = TokenEndpoint(rotate=False)
    secret = RecordingSecret(REFRESH_TOKEN)
    async with _http(endpoint) as http:
        await _refresh_provider(http, secret).get_token()

    assert secret.writes == []


async def test_write_back_failure_is_tolerated(caplog: pytest.LogCaptureFixture) -> None:
    """A failing write-back still yields the token, keeps the rotated value in memory, and logs no secret."""
    caplog.set_level(logging.WARNING, logger="shared.partner_center.auth")
    endpoint = TokenEndpoint()
    secret = RecordingSecret(REFRESH_TOKEN, fail_writes=True)
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, secret)

        first = await provider.get_token()
        provider.invalidate(first)
        second = await provider.get_token()

    assert (first, second) == ("access-1", "access-2")
    assert endpoint.forms[1]["refresh_token"] == "rotated-1"
    assert secret.writes == ["rotated-1", "rotated-2"]
    assert [r.__dict__.get("event") for r in caplog.records] == ["auth.refresh_token_write_failed"] * 2
    assert "rotated-" not in caplog.text
    assert REFRESH_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("error", "description"),
    [
        ("invalid_grant", "AADSTS70000: The provided grant is invalid or malformed."),
        ("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: x"),
        ("interaction_required", "AADSTS700082: The refresh token has expired due to inactivity."),
    ],
)
async def test_refused_refresh_token_requires_consent(error: str, description: str) -> None:
    """invalid_grant or AADSTS700082 → ConsentRequired saying to redo the consent, without the token."""
    endpoint = TokenEndpoint()
    endpoint.answer = _entra_error(400, error, description)
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN))

        with pytest.raises(ConsentRequired) as caught:
            await provider.get_token()

    message = str(caught.value)
    assert "redo the Partner Center consent" in message
    assert description.splitlines()[0] in message
    for text in (message, caught.value.summary(), repr(caught.value), repr(caught.value.args)):
        assert REFRESH_TOKEN not in text
    assert not isinstance(caught.value, TransientError)


async def test_consent_required_is_not_retried_by_the_provider() -> None:
    """A refused refresh token causes one exchange per get_token, never a loop."""
    endpoint = TokenEndpoint()
    endpoint.answer = _entra_error(400, "invalid_grant", "AADSTS70000")
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN))
        with pytest.raises(ConsentRequired):
            await provider.get_token()

    assert len(endpoint.forms) == 1


async def test_invalid_client_is_auth_error() -> None:
    """401 invalid_client (a wrong secret) is an AuthError, not a consent problem."""
    endpoint = TokenEndpoint()
    endpoint.answer = _entra_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    async with _http(endpoint) as http:
        with pytest.raises(AuthError) as caught:
            await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    assert type(caught.value) is AuthError
    assert caught.value.status == 401
    assert caught.value.code == "invalid_client"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_token_endpoint_outage_is_transient(status: int) -> None:
    """A 5xx (or 429) from the token endpoint is a transient ServerError."""
    endpoint = TokenEndpoint()
    endpoint.answer = lambda _number: httpx.Response(status, text="<html>down</html>")
    async with _http(endpoint) as http:
        with pytest.raises(ServerError) as caught:
            await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    assert caught.value.status == status


@pytest.mark.parametrize("body", [b"<html>captive portal</html>", b"[]", b'{"token_type": "Bearer"}'])
async def test_success_without_an_access_token_is_translated(body: bytes) -> None:
    """A 200 that carries no access token is a transient ServerError, not a foreign exception."""
    endpoint = TokenEndpoint()
    endpoint.answer = lambda _number: httpx.Response(200, content=body)
    async with _http(endpoint) as http:
        with pytest.raises(ServerError):
            await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()


async def test_transport_error_is_connection_failed() -> None:
    """A refused connection to the token endpoint becomes ConnectionFailed, chained to httpx's error."""

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with _http(refuse) as http:
        with pytest.raises(ConnectionFailed) as caught:
            await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_http_stack_errors_at_the_token_endpoint_are_connection_failed() -> None:
    """A token answer httpx cannot decode (gzip header, plain body) is ConnectionFailed, not a foreign exception."""

    async def undecodable(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("Error -3 while decompressing data: incorrect header check", request=request)

    async with _http(undecodable) as http:
        with pytest.raises(ConnectionFailed) as caught:
            await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    assert isinstance(caught.value.__cause__, httpx.DecodingError)


async def test_client_credentials_grant_form() -> None:
    """The app-only grant posts grant_type, client_id, client_secret and scope, and no refresh token."""
    endpoint = TokenEndpoint(rotate=False)
    async with _http(endpoint) as http:
        provider = ClientCredentialsProvider(
            http, token_url=TOKEN_URL, client_id="app-id", scope=SCOPE, client_secret=InMemorySecret("s3cret")
        )

        assert await provider.get_token() == "access-1"
        assert await provider.get_token() == "access-1"

    assert endpoint.forms == [
        {"grant_type": "client_credentials", "client_id": "app-id", "client_secret": "s3cret", "scope": SCOPE}
    ]


async def test_invalidate_only_the_matching_token() -> None:
    """invalidate() of another token keeps the cache; of the current one forces a new exchange."""
    endpoint = TokenEndpoint()
    async with _http(endpoint) as http:
        provider = _refresh_provider(http, RecordingSecret(REFRESH_TOKEN))
        first = await provider.get_token()

        provider.invalidate("some-older-token")
        assert await provider.get_token() == first
        provider.invalidate(first)
        assert await provider.get_token() == "access-2"

    assert provider.exchanges == 2


async def test_token_acquired_log_has_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """The token-acquired log names the grant and lifetime, never the access or refresh token."""
    caplog.set_level(logging.INFO, logger="shared.partner_center.auth")
    async with _http(TokenEndpoint()) as http:
        await _refresh_provider(http, RecordingSecret(REFRESH_TOKEN)).get_token()

    [record] = caplog.records
    assert record.__dict__["event"] == "auth.token_acquired"
    assert record.__dict__["grant"] == "refresh_token"
    dumped = caplog.text + json.dumps({k: str(v) for k, v in record.__dict__.items()})
    for secret in ("access-1", "rotated-1", REFRESH_TOKEN):
        assert secret not in dumped


def test_in_memory_secret_repr_is_redacted() -> None:
    """InMemorySecret never shows its value in repr."""
    assert "s3cret" not in repr(InMemorySecret("s3cret"))
