"""The probe's masking: names, email, phone, company, bearer tokens, client secrets and links out; shape kept."""

from __future__ import annotations

import json

from shared.partner_center.probe_mask import MASK, Masker, mask_link
from tests.builders import COMPANY, EMAIL, FIRST, LAST, PHONE

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl"
SECRET = "s3cr3t~Value.With-Chars"
LINK = "https://accept.example.net/mca/7c415765?token=abc"


def _masker() -> Masker:
    return Masker(values=(FIRST, LAST, EMAIL, PHONE, COMPANY), keys=("mail",), link_keys=("link",), links=(LINK,))


def test_personal_fields_are_masked_at_any_depth_and_the_shape_is_kept() -> None:
    doc = {
        "signatoryFirstName": FIRST,
        "signatoryLastName": LAST,
        "signatoryEmail": EMAIL,
        "signatoryPhoneNumber": PHONE,
        "companyName": COMPANY,
        "mail": "other@example.org",  # a configured field name
        "primaryContact": {"firstName": FIRST, "lastName": LAST, "email": EMAIL, "phoneNumber": 5550147},
        "country": "DE",
        "count": 3,
        "items": [{"EMAIL": EMAIL}],
    }

    masked = _masker().json(doc)

    assert masked == {
        "signatoryFirstName": MASK,
        "signatoryLastName": MASK,
        "signatoryEmail": MASK,
        "signatoryPhoneNumber": MASK,
        "companyName": MASK,
        "mail": MASK,
        "primaryContact": {"firstName": MASK, "lastName": MASK, "email": MASK, "phoneNumber": MASK},
        "country": "DE",
        "count": 3,
        "items": [{"EMAIL": MASK}],
    }


def test_free_text_loses_known_values_emails_tokens_and_secrets() -> None:
    text = (
        f"Contact {FIRST} {LAST.upper()} <{EMAIL}> at {PHONE} for {COMPANY}; also bob@contoso.example; "
        f"Authorization: Bearer {JWT}; token {JWT}; client_secret={SECRET}&refresh_token=rt-123; link {LINK}"
    )

    masked = _masker().text(text)

    for secret in (FIRST, LAST, EMAIL, PHONE, COMPANY, "bob@contoso.example", JWT, SECRET, "rt-123", LINK):
        assert secret.casefold() not in masked.casefold()
    assert "Bearer ***" in masked
    assert "https://accept.example.net/***" in masked


def test_headers_keep_the_auth_scheme_only() -> None:
    headers = [("Authorization", f"Bearer {JWT}"), ("MS-RequestId", "r-1"), ("X-Note", f"for {EMAIL}")]

    assert _masker().headers(headers) == [
        ("Authorization", "Bearer ***"),
        ("MS-RequestId", "r-1"),
        ("X-Note", "for ***"),
    ]


def test_a_token_request_form_masks_the_client_secret_and_assertion() -> None:
    form = f"grant_type=client_credentials&client_id=app-1&client_secret={SECRET}&client_assertion={JWT}"

    masked = _masker().body(form.encode(), "application/x-www-form-urlencoded")

    assert SECRET not in masked
    assert JWT not in masked
    assert "client_id=app-1" in masked
    assert "client_secret=***" in masked
    assert "client_assertion=***" in masked


def test_json_bodies_mask_tokens_and_show_links_by_host() -> None:
    body = json.dumps({"access_token": JWT, "refresh_token": "rt", "link": LINK, "id": "a-1"}).encode()

    masked = json.loads(_masker().body(body, "application/json"))

    assert masked == {
        "access_token": MASK,
        "refresh_token": MASK,
        "link": "https://accept.example.net/***",
        "id": "a-1",
    }


def test_bodies_that_are_not_json_are_scrubbed_as_text() -> None:
    assert _masker().body(f"<html>{EMAIL}</html>".encode(), "text/html") == "<html>***</html>"
    assert _masker().body(b"") == ""


def test_mask_link() -> None:
    assert mask_link(LINK) == "https://accept.example.net/***"
    assert mask_link("not a link") == MASK
    assert mask_link("") == MASK
