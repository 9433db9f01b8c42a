"""Certificates for the simulated Entra: verify client assertions, and mint throw-away certificates.

An app registered with a certificate proves itself with a JWT signed by the certificate's key (RFC 7523).
The simulator checks what Entra checks: the signature (RS256) against the registered certificate, that
the ``x5t`` header names that certificate, ``iss`` = ``sub`` = the client id, ``aud`` = the token
endpoint, and the time window.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class ThrowawayCertificate:
    """A self-signed certificate: ``credential_pem`` (key + certificate) for the app, ``certificate_pem``
    (public part only) to register with the simulator."""

    credential_pem: str
    certificate_pem: str


def self_signed_certificate(common_name: str = "mca-attest local app") -> ThrowawayCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return ThrowawayCertificate(credential_pem=key_pem + certificate_pem, certificate_pem=certificate_pem)


def _thumbprint(certificate: x509.Certificate) -> str:
    digest = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def assertion_problem(assertion: str, *, client_id: str, certificate_pem: str, endpoint: str) -> str | None:
    """Why Entra would refuse ``assertion`` (a message), or None when it is valid."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return "The client assertion is not a well-formed JWT."
    if header.get("x5t") != _thumbprint(certificate):
        return "The certificate with identifier used to sign the client assertion is not registered on application."
    try:
        claims = jwt.decode(
            assertion,
            certificate.public_key(),  # type: ignore[arg-type]  # PyJWT types keys narrower than the RSA public key it accepts
            algorithms=["RS256"],
            audience=endpoint,
            options={"require": ["aud", "iss", "sub", "exp", "jti"]},
            leeway=60,
        )
    except jwt.ExpiredSignatureError:
        return "The provided client assertion is expired."
    except jwt.InvalidAudienceError:
        return "The audience claim in the client assertion is not the token endpoint."
    except jwt.PyJWTError:
        return "Client assertion failed signature validation."
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "The client assertion's iss and sub must both be the client id."
    return None
