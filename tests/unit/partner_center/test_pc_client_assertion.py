"""Certificate credentials: the signed client assertion and the token request that carries it."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.partner_center.certificates import assertion_problem, self_signed_certificate
from shared.attestation.errors import AuthError
from shared.partner_center.auth import ClientCredentialsProvider
from shared.partner_center.client_assertion import (
    ASSERTION_TYPE,
    CertificateError,
    SigningCertificate,
    client_assertion,
)
from shared.partner_center.secrets import InMemorySecret

TOKEN_URL = "https://login.example/tenant/oauth2/v2.0/token"
CLIENT = "00000000-0000-0000-0000-00000000c11e"
CERT = self_signed_certificate()


def test_assertion_is_signed_by_the_certificate_and_names_the_app_and_endpoint() -> None:
    """The JWT verifies with the certificate's public key; iss = sub = client id; aud = the token URL."""
    assertion = client_assertion(
        SigningCertificate.from_pem(CERT.credential_pem), client_id=CLIENT, token_url=TOKEN_URL
    )
    public_key = x509.load_pem_x509_certificate(CERT.certificate_pem.encode()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=TOKEN_URL)
    assert (claims["iss"], claims["sub"]) == (CLIENT, CLIENT)
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert (
        assertion_problem(assertion, client_id=CLIENT, certificate_pem=CERT.certificate_pem, endpoint=TOKEN_URL) is None
    )


def test_assertion_from_another_certificate_is_refused_by_thumbprint() -> None:
    """A key that is not the registered certificate's is named as such (x5t does not match)."""
    other = SigningCertificate.from_pem(self_signed_certificate().credential_pem)
    assertion = client_assertion(other, client_id=CLIENT, token_url=TOKEN_URL)
    problem = assertion_problem(assertion, client_id=CLIENT, certificate_pem=CERT.certificate_pem, endpoint=TOKEN_URL)
    assert problem is not None
    assert "not registered" in problem


@pytest.mark.parametrize(
    "pem", ["", "not a pem", CERT.certificate_pem], ids=["empty", "garbage", "certificate-without-key"]
)
def test_pem_without_key_and_certificate_is_a_certificate_error(pem: str) -> None:
    """A PEM that lacks the private key or the certificate is refused with a clear reason."""
    with pytest.raises(CertificateError, match="private key and a certificate"):
        SigningCertificate.from_pem(pem)


def test_repr_of_a_signing_certificate_shows_no_key_material() -> None:
    """Only the thumbprint appears in repr."""
    text = repr(SigningCertificate.from_pem(CERT.credential_pem))
    assert "PRIVATE" not in text
    assert "x5t=" in text


async def test_app_only_token_request_carries_the_assertion_not_a_secret() -> None:
    """client_credentials with a certificate sends client_assertion(_type) and no client_secret."""
    seen: list[dict[str, str]] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(200, json={"access_token": "at", "expires_in": 3600})

    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)) as http:
        provider = ClientCredentialsProvider(
            http, token_url=TOKEN_URL, client_id=CLIENT, scope="s", certificate=InMemorySecret(CERT.credential_pem)
        )
        assert await provider.get_token() == "at"
    (form,) = seen
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert "client_secret" not in form
    assert (
        assertion_problem(
            form["client_assertion"], client_id=CLIENT, certificate_pem=CERT.certificate_pem, endpoint=TOKEN_URL
        )
        is None
    )


async def test_unusable_certificate_becomes_an_auth_error() -> None:
    """A broken PEM in the credential store is an operator problem: AuthError, before any request."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(500))) as http:
        provider = ClientCredentialsProvider(
            http, token_url=TOKEN_URL, client_id=CLIENT, scope="s", certificate=InMemorySecret("garbage")
        )
        with pytest.raises(AuthError, match="credential cannot be used"):
            await provider.get_token()


def test_exactly_one_credential_is_required_for_app_only() -> None:
    """Neither or both of secret and certificate is a programming error, said at construction."""
    with pytest.raises(ValueError, match="exactly one"):
        ClientCredentialsProvider(httpx.AsyncClient(), token_url=TOKEN_URL, client_id=CLIENT, scope="s")
