"""The optional SAS key check: is a ``SharedAccessSignature`` token signed with the configured key?

Off by default, like Microsoft's emulator (which accepts its one fixed key without checking). When on,
``$cbs`` put-token and the management port accept only tokens that carry the configured key name, an
HMAC-SHA256 signature by the configured key over ``quote_plus(sr) + "\\n" + se`` (how the SDK signs),
and an expiry in the future. Anything else is refused as Service Bus refuses it (401), so a project can
test that a wrong key fails.
"""

from __future__ import annotations

import hmac
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256
from urllib.parse import parse_qs, quote_plus

_PREFIX = "SharedAccessSignature "


@dataclass(frozen=True, slots=True)
class SasKeyCheck:
    """Accepts tokens signed with ``key`` under ``key_name``; ``now`` (seconds) is the clock for expiry."""

    key_name: str
    key: str
    now: Callable[[], float] = field(default=time.time)

    def accepts(self, token: str | None, _resource: str = "") -> bool:
        if not token or not token.startswith(_PREFIX):
            return False
        fields = {name: values[0] for name, values in parse_qs(token[len(_PREFIX) :]).items()}
        resource, signature, expiry = fields.get("sr"), fields.get("sig"), fields.get("se")
        if resource is None or signature is None or expiry is None or not expiry.isdigit():
            return False
        if fields.get("skn") != self.key_name or int(expiry) <= self.now():
            return False
        expected = hmac.new(self.key.encode(), f"{quote_plus(resource)}\n{expiry}".encode(), sha256).digest()
        return hmac.compare_digest(b64encode(expected).decode(), signature)
