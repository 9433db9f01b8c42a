"""What the worker logs back to the host (``RpcLog``) never holds a token, a secret or personal data."""

from __future__ import annotations

import re

import pytest

from emulators.partner_center.conventions import DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN
from emulators.servicebus.server import SHARED_ACCESS_KEY
from tests.builders import fresh_event_doc
from tests.functions_host.running import RunningApp, deliver

pytestmark = pytest.mark.integration

# The simulator's access and rotated refresh tokens: "at." / "rt." + url-safe base64.
ISSUED_TOKEN = re.compile(r"\b(?:at|rt)\.[A-Za-z0-9_-]{20,}")


def test_rpc_logs_hold_no_token_secret_or_personal_data(app: RunningApp) -> None:
    """A run at DEBUG (success, re-authentication, unknown customer, invalid contact, throttling) sends the
    host RpcLog records with no access or refresh token, no secret or key, and no name, email or phone."""
    contacts = [
        {
            "firstName": "Zephyrine",
            "lastName": "Okonkwo-Ruiz",
            "email": "z.okonkwo@fabrikam.example",
            "phoneNumber": "+44 20 7946 0958",
        },
        {"firstName": "Thaddeus", "lastName": "Villanueva", "email": "thaddeus.v@contoso.example"},
    ]
    first_log = len(app.host.logs)
    deliver(app, fresh_event_doc(primaryContact=contacts[0]))
    app.simulator.state.expire_access_tokens()
    deliver(app, fresh_event_doc(primaryContact=contacts[1]))
    deliver(app, fresh_event_doc(primaryContact=contacts[1], customerTenantId="00000404-0000-4000-8000-00000000000a"))
    deliver(app, fresh_event_doc(primaryContact={**contacts[0], "email": "broken"}))
    app.simulator.state.configure_faults(throttle_rate=1.0, retry_after_seconds=30)
    deliver(app, fresh_event_doc(primaryContact=contacts[0]))

    records = app.host.logs[first_log:]
    text = "\n".join(
        f"{log.category} {log.message} {log.exception.message} {log.exception.stack_trace}" for log in records
    )
    assert "attestation attested" in text  # the run did log, through the worker, at every level
    assert "token acquired" in text
    forbidden = [DEFAULT_REFRESH_TOKEN, DEFAULT_CLIENT_SECRET, SHARED_ACCESS_KEY, "broken"]
    forbidden += [value for contact in contacts for value in contact.values()]
    assert [value for value in forbidden if value in text] == []
    assert ISSUED_TOKEN.findall(text) == []
