"""Certificate credentials for the Entra token endpoint: a signed JWT client assertion (RFC 7523).

Microsoft prefers a certificate over a client secret for the app that calls Partner Center. The app
proves it holds the certificate's private key by signing a short-lived JWT (``RS256``) whose header names
the certificate by its SHA-1 thumbprint (``x5t``) and whose claims say who it is (``iss`` = ``sub`` =
client id), for which endpoint (``aud`` = the token URL), and when it expires.

The PEM holds the private key and the certificate, as Key Vault exports a certificate's secret
(``application/x-pem-file``) and as ``openssl`` writes them.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 600  # Entra accepts up to 10 minutes; a fresh one is signed per exchange


class CertificateError(ValueError):
    """The PEM does not hold an RSA private key and a certificate."""


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """A private key and its certificate, read from PEM."""

    private_key: RSAPrivateKey
    thumbprint_sha1: str  # base64url, as the x5t header carries it

    def __repr__(self) -> str:  # never show key material
        return f"SigningCertificate(x5t={self.thumbprint_sha1!r})"

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningCertificate:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise CertificateError(
                "the certificate PEM must hold an unencrypted private key and a certificate"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise CertificateError("the certificate's key must be RSA (Entra signs and verifies RS256)")
        der = certificate.public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha1(der, usedforsecurity=False).digest()  # x5t is defined as the SHA-1 thumbprint
        return cls(key, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def client_assertion(
    certificate: SigningCertificate, *, client_id: str, token_url: str, now: float | None = None
) -> str:
    """A signed assertion for one token request."""
    issued = int(time.time() if now is None else now)
    claims = {
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": issued,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, certificate.private_key, algorithm="RS256", headers={"x5t": certificate.thumbprint_sha1})
