"""Masking for what ``mca-attest probe enhanced`` prints: personal data and credentials out, the shape kept.

The probe shows raw requests and responses so a partner can see the real wire format; they carry a signatory's
name, email and phone, a company name, bearer tokens, client secrets and the acceptance link (anyone holding it
can accept). ``Masker`` replaces each such value with ``MASK`` while keeping every key and the JSON types around
it, so "which field is there, and is it a string" stays readable:

- by key (case-insensitive, at any depth): the personal and secret keys below, plus the configured names;
- by value: the test customer's own values wherever they appear (an error message quoting the request);
- by pattern in free text: ``Bearer …``, JWT-like strings, email addresses, ``key=value`` credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

MASK = "***"

PERSONAL_KEYS = frozenset(
    key.casefold()
    for key in (
        "firstName",
        "lastName",
        "email",
        "phoneNumber",
        "phone",
        "companyName",
        "signatoryFirstName",
        "signatoryLastName",
        "signatoryEmail",
        "signatoryPhoneNumber",
    )
)
SECRET_KEYS = frozenset(
    key.casefold()
    for key in (
        "Authorization",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "client_assertion",
        "password",
    )
)

_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_EMAIL = re.compile(r"[^@\s\"'<>(),;:]+@[^@\s\"'<>(),;:]+\.[A-Za-z]{2,}")
_CREDENTIAL_PAIR = re.compile(
    r"(?i)\b(client_secret|client_assertion|refresh_token|access_token|id_token|password)=([^&\s\"']+)"
)
_LINK = re.compile(r"https?://[^\s\"'<>]+")


class Masker:
    """Masks JSON documents, header maps, form bodies and free text for printing.

    ``values`` are the test customer's personal values (names, email, phone, company); ``keys`` are extra field
    names to mask (the configured email and phone fields); a string under one of ``link_keys`` (the configured
    link field) and any of ``links`` in free text is shown as its scheme and host only.
    """

    def __init__(
        self,
        values: Iterable[str | None] = (),
        keys: Iterable[str] = (),
        link_keys: Iterable[str] = ("acceptanceLink",),
        links: Iterable[str] = (),
    ) -> None:
        self._values = sorted({v for v in values if v and len(v.strip()) >= 2}, key=len, reverse=True)
        self._keys = PERSONAL_KEYS | SECRET_KEYS | {k.casefold() for k in keys if k}
        self._link_keys = {k.casefold() for k in link_keys if k}
        self._links = {link for link in links if link}

    def masks_key(self, key: str) -> bool:
        return key.casefold() in self._keys

    def json(self, value: Any) -> Any:
        """The document with every masked key's value (whatever its type) replaced; strings elsewhere scrubbed."""
        if isinstance(value, Mapping):
            return {str(k): self._field(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _field(self, key: str, value: Any) -> Any:
        if self.masks_key(key):
            return MASK
        if key.casefold() in self._link_keys:
            return mask_link(value) if isinstance(value, str) else MASK
        return self.json(value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Header pairs: ``Authorization`` keeps its scheme only; every other value is scrubbed as text."""
        masked = []
        for name, value in headers:
            if name.casefold() == "authorization":
                scheme = value.split(" ", 1)[0] if " " in value else ""
                masked.append((name, f"{scheme} {MASK}".strip()))
            else:
                masked.append((name, self.text(value)))
        return masked

    def form(self, body: str) -> str:
        """An ``application/x-www-form-urlencoded`` body (the token request) with masked values."""
        pairs = parse_qsl(body, keep_blank_values=True)
        return urlencode([(k, MASK if self.masks_key(k) else self.text(v)) for k, v in pairs], safe="*/:")

    def text(self, text: str) -> str:
        """Free text: known values, bearer tokens, JWTs, credential pairs, emails and acceptance links masked."""
        for value in self._values:
            text = re.sub(re.escape(value), MASK, text, flags=re.IGNORECASE)
        for link in self._links:
            text = text.replace(link, mask_link(link))
        text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
        text = _JWT.sub(MASK, text)
        text = _CREDENTIAL_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
        return _EMAIL.sub(MASK, text)

    def body(self, raw: bytes, content_type: str = "") -> str:
        """A request or response body for printing: JSON indented, a form re-encoded, else scrubbed text."""
        if not raw:
            return ""
        text = raw.decode("utf-8", errors="replace")
        if "x-www-form-urlencoded" in content_type:
            return self.form(text)
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text[:2000])
        return json.dumps(self.json(document), indent=2, ensure_ascii=False)


def mask_link(link: str) -> str:
    """A link shown as its scheme and host only (an acceptance link lets anyone accept)."""
    if not _LINK.fullmatch(link):
        return MASK
    scheme, _, rest = link.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{MASK}"
