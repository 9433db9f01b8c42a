"""The error tree: parsing Partner Center's three error body shapes and classifying each status and code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import httpx
import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from shared.attestation.errors import (
    AlreadyAttested,
    AuthError,
    ConnectionFailed,
    FutureDate,
    InvalidRequest,
    NoRelationship,
    PartnerCenterError,
    PermanentError,
    RequestIds,
    RetiredTemplate,
    ServerError,
    Throttled,
    TransientError,
    UnknownCustomer,
    Unreachable,
)
from shared.partner_center.responses import (
    classify_response,
    parse_error_body,
    parse_retry_after,
    success_document,
    translate_transport_error,
)

IDS = RequestIds(request_id="req-1", correlation_id="corr-1", ms_cv="cv-1")
FUTURE_DATE_TEXT = "Date of agreement cannot be greater than the current date."
RETIRED_TEXT = "Microsoft Cloud Agreement Template ID '0c9b5c3f-0a1e-4f6c-9f55-3a3f4c7d0a11' is no longer supported."


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers)


def _fault(code: int | str, description: str) -> bytes:
    return _json({"code": code, "description": description, "data": [], "source": "PartnerFD"})


# --- parse_error_body ---------------------------------------------------------------------------------------


def test_classic_fault_with_numeric_code() -> None:
    """Shape 1 with a numeric code gives the code as text and the description."""
    body = _json({"code": 1002, "description": "Authorization Failed", "data": [], "source": "PartnerFD"})

    assert parse_error_body(body) == ("1002", "Authorization Failed", "", None)


def test_classic_fault_with_string_code() -> None:
    """Shape 1 with the code as a string parses the same as a number."""
    body = _json({"code": "1002", "description": "Authorization Failed", "data": [], "source": "PartnerFD"})

    assert parse_error_body(body) == ("1002", "Authorization Failed", "", None)


def test_classic_fault_without_source_and_data() -> None:
    """Shape 1 without the optional source and data still parses."""
    assert parse_error_body(_json({"code": 3000, "description": "Invalid property"})) == (
        "3000",
        "Invalid property",
        "",
        None,
    )


def test_agreement_service_shape() -> None:
    """Shape 2 gives code, description, errorName and isRetryable."""
    body = _json(
        {
            "code": 600061,
            "message": "A partner confirmed agreement already exists.",
            "description": "Partner confirmed agreement already exists for the customer.",
            "errorName": "PartnerConfirmedAgreementAlreadyExists",
            "isRetryable": False,
            "parameters": {},
            "errorMessageExtended": "InternalErrorCode=600061",
        }
    )

    assert parse_error_body(body) == (
        "600061",
        "Partner confirmed agreement already exists for the customer.",
        "PartnerConfirmedAgreementAlreadyExists",
        False,
    )


def test_agreement_service_shape_falls_back_to_message() -> None:
    """Shape 2 without a description uses the message."""
    body = _json({"code": "600002", "message": FUTURE_DATE_TEXT, "isRetryable": True})

    assert parse_error_body(body) == ("600002", FUTURE_DATE_TEXT, "", True)


def test_throttling_gateway_shape() -> None:
    """Shape 3 (statusCode + message) gives the status code as the code and the message."""
    body = _json({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})

    assert parse_error_body(body) == ("429", "Rate limit is exceeded. Try again in 57 seconds.", "", None)


@pytest.mark.parametrize("body", [b"", b"   \r\n\t "])
def test_empty_body(body: bytes) -> None:
    """An empty or blank body parses to nothing, without raising."""
    assert parse_error_body(body) == ("", "", "", None)


def test_html_body_becomes_a_single_line_description() -> None:
    """A proxy's HTML page becomes its text on one line, with no code."""
    body = b"<html>\n  <head><title>502 Bad Gateway</title></head>\n  <body>nginx</body>\n</html>\n"

    code, description, name, retryable = parse_error_body(body)

    assert (code, name, retryable) == ("", "", None)
    assert "502 Bad Gateway" in description
    assert "\n" not in description


@pytest.mark.parametrize("body", [b"[1, 2, 3]", b'"just a string"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object(body: bytes) -> None:
    """JSON that is not an object is reported as text, without a code, without raising."""
    code, description, name, retryable = parse_error_body(body)

    assert (code, name, retryable) == ("", "", None)
    assert description == body.decode()


def test_invalid_utf8_does_not_raise() -> None:
    """Bytes that are not UTF-8 still give a description."""
    code, description, _, _ = parse_error_body(b"\xff\xfe bad \xc3")

    assert code == ""
    assert "bad" in description


def test_null_code_and_non_boolean_retryable() -> None:
    """A null code gives no code; an isRetryable that is not a boolean is ignored."""
    assert parse_error_body(_json({"code": None, "description": "x", "isRetryable": "yes"})) == ("", "x", "", None)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>" + b"<p>proxy error page</p>" * 5000 + b"</html>",
        _json({"code": 3000, "description": "d" * 100_000}),
        b"[" + b"1," * 50_000 + b"1]",
    ],
    ids=["html", "json-description", "json-array"],
)
def test_huge_bodies_are_truncated(body: bytes) -> None:
    """A huge body never yields a description longer than 500 characters, marked as cut."""
    _, description, _, _ = parse_error_body(body)

    assert len(description) == 500
    assert description.endswith("…")


# --- parse_retry_after ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("57", 57.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (" 30 ", 30.0),
        ("86400", 86400.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("-3", None),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("86401", None),
        ("1735689600", None),
        ("1e12", None),
        ("1e400", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    """Retry-After in seconds is read; missing, unparseable, negative, non-finite or over a day gives None."""
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 01 Jan 2026 12:01:30 GMT", 90.0),
        ("Thursday, 01-Jan-26 12:00:45 GMT", 45.0),  # RFC 850, obsolete but allowed
        ("Thu Jan  1 12:00:10 2026", 10.0),  # asctime, obsolete but allowed
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),  # already passed: retry now
        ("Fri, 02 Jan 2026 12:00:00 GMT", 86400.0),
        ("Fri, 02 Jan 2026 12:00:01 GMT", None),  # more than a day away: absurd
        ("Thu, 01 Jan 2081 12:00:00 GMT", None),
        ("Thu, 32 Jan 2026 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after_http_date(value: str, expected: float | None) -> None:
    """Retry-After as an HTTP-date is the time from now until that date; a past date is 0, beyond a day None."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    assert parse_retry_after(value, now=now) == expected


# --- classify_response -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # 600061: already attested, whatever the status
        (400, _fault(600061, "exists"), AlreadyAttested),
        (409, _fault("600061", "exists"), AlreadyAttested),
        (500, _fault(600061, "exists"), AlreadyAttested),
        (401, _json({"code": 600061, "errorName": "PartnerConfirmedAgreementAlreadyExists"}), AlreadyAttested),
        # transient
        (500, _fault(800003, "Unexpected service error"), ServerError),
        (502, b"", ServerError),
        (503, b"<html>Service Unavailable</html>", ServerError),
        (504, b"", ServerError),
        (408, b"", ServerError),
        (400, _json({"code": 800003, "description": "try again", "isRetryable": True}), ServerError),
        # authentication
        (401, _fault(400, "Access denied"), AuthError),
        (401, _fault(800001, "Partner Token missing"), AuthError),
        (401, _fault(1002, "Authorization Failed"), AuthError),
        (401, _fault(10001, "MFA required"), AuthError),
        (401, _fault(900420, "Invalid Token"), AuthError),
        # relationship
        (403, _fault(20002, "no commerce relationship"), NoRelationship),
        # unknown customer: all three forms
        (404, _fault(1000, "Not found"), UnknownCustomer),
        (404, _fault(60003, "Tenant not found"), UnknownCustomer),
        (400, _fault(900118, "Invalid Customer Id"), UnknownCustomer),
        # not one of Partner Center's error shapes: a gateway, a proxy or a wrong base URL answered
        (404, b"", Unreachable),
        (404, b"<html><body>404 Not Found</body></html>", Unreachable),
        (404, _json({"message": "Resource not found"}), Unreachable),
        (404, b"[]", Unreachable),
        (401, b"", Unreachable),
        (401, b"<html>Sign in to continue</html>", Unreachable),
        (403, b"", Unreachable),
        (403, b"<html>403 Forbidden (proxy)</html>", Unreachable),
        (301, b"", Unreachable),
        (307, b"<html>Moved</html>", Unreachable),
        # 600002: by status and description, not code alone
        (400, _fault(600002, FUTURE_DATE_TEXT), FutureDate),
        (400, _fault("600002", "The request could not be validated."), InvalidRequest),
        (400, _fault(600002, "Invalid update of the customer profile."), InvalidRequest),
        (400, _fault(600002, "Candidate entity not found."), InvalidRequest),
        # retired template
        (400, _fault(400, RETIRED_TEXT), RetiredTemplate),
        # anything else
        (400, _fault(3000, "Invalid property"), InvalidRequest),
        (400, _fault(800002, "Invalid request input"), InvalidRequest),
        (400, b"", InvalidRequest),
        (409, b"", InvalidRequest),
        (422, b"not json at all", InvalidRequest),
    ],
)
def test_classification(status: int, body: bytes, expected: type[PartnerCenterError]) -> None:
    """Each status/code from the reference table lands on its class in the tree."""
    error = classify_response(_response(status, body), IDS)

    assert type(error) is expected
    assert error.status == status
    assert error.ids == IDS


def test_throttled_carries_retry_after() -> None:
    """429 with Retry-After is Throttled with retry_after in seconds, from the gateway body."""
    body = _json({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})

    error = classify_response(_response(429, body, {"Retry-After": "57"}), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after == 57.0
    assert error.code == "429"
    assert error.description == "Rate limit is exceeded. Try again in 57 seconds."


def test_throttled_without_retry_after() -> None:
    """429 without Retry-After is still Throttled, with no retry_after."""
    error = classify_response(_response(429), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after is None


def test_transient_and_permanent_branches() -> None:
    """Throttled, ServerError and ConnectionFailed are transient; the client-error classes are permanent."""
    for transient in (Throttled, ServerError, ConnectionFailed, Unreachable):
        assert issubclass(transient, TransientError)
    for permanent in (FutureDate, RetiredTemplate, UnknownCustomer, NoRelationship, InvalidRequest):
        assert issubclass(permanent, PermanentError)
        assert not issubclass(permanent, TransientError)
    assert not issubclass(AlreadyAttested, (TransientError, PermanentError))
    assert not issubclass(AuthError, (TransientError, PermanentError))


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_error_carries_retry_after(status: int) -> None:
    """Retry-After on a 5xx (or 408) is honoured like on a 429: the ServerError carries it."""
    error = classify_response(_response(status, headers={"Retry-After": "30"}), IDS)

    assert isinstance(error, ServerError)
    assert error.retry_after == 30.0


def test_server_error_without_retry_after() -> None:
    """A 5xx without Retry-After carries no retry_after."""
    error = classify_response(_response(503), IDS)

    assert isinstance(error, ServerError)
    assert error.retry_after is None


def test_retry_after_as_http_date_is_honoured() -> None:
    """A 429 whose Retry-After is an HTTP-date two minutes ahead waits about two minutes."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)

    error = classify_response(_response(429, headers={"Retry-After": when}), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after is not None
    assert 115 <= error.retry_after <= 120


@pytest.mark.parametrize("header", [None, "", "soon", "1735689600"])
def test_throttled_body_hint_is_used_when_header_is_missing_or_unusable(header: str | None) -> None:
    """A 429 without a usable Retry-After waits the N seconds its body names ("Try again in N seconds")."""
    body = _json({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})
    headers = {} if header is None else {"Retry-After": header}

    error = classify_response(_response(429, body, headers), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after == 57.0


def test_header_wins_over_body_hint() -> None:
    """A usable Retry-After header is preferred to the body's "Try again in N seconds"."""
    body = _json({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})

    error = classify_response(_response(429, body, {"Retry-After": "3"}), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("seconds", ["1735689600", "100000"])
def test_absurd_body_hint_is_ignored(seconds: str) -> None:
    """A body hint beyond the ceiling is treated as absent, like the header."""
    body = _json({"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {seconds} seconds."})

    error = classify_response(_response(429, body), IDS)

    assert isinstance(error, Throttled)
    assert error.retry_after is None


def test_permanent_errors_have_no_retry_after() -> None:
    """A permanent answer carries no retry_after, whatever its headers."""
    error = classify_response(_response(400, _fault(3000, "Invalid property"), {"Retry-After": "30"}), IDS)

    assert isinstance(error, PermanentError)
    assert getattr(error, "retry_after", None) is None


def test_empty_body_description_falls_back_to_reason_phrase() -> None:
    """With no body, the description is the HTTP reason phrase."""
    assert classify_response(_response(503), IDS).description == "Service Unavailable"


def test_unknown_status_without_reason_phrase() -> None:
    """A status with no reason phrase and no body is described by its number."""
    assert classify_response(_response(499), IDS).description == "HTTP 499"


def test_every_error_carries_status_code_description_and_ids() -> None:
    """An error carries status, code, errorName, description and request ids."""
    body = _json({"code": 600061, "description": "exists", "errorName": "PartnerConfirmedAgreementAlreadyExists"})

    error = classify_response(_response(400, body), IDS)

    assert (error.status, error.code, error.error_name, error.description) == (
        400,
        "600061",
        "PartnerConfirmedAgreementAlreadyExists",
        "exists",
    )
    assert error.ids == IDS


def test_summary_names_status_code_description_and_ids() -> None:
    """summary() (and str()) names the status, code, error name, description, MS-RequestId and MS-CV."""
    error = classify_response(_response(403, _fault(20002, "no commerce relationship")), IDS)

    summary = error.summary()

    for part in ("HTTP 403", "code 20002", "no commerce relationship", "MS-RequestId req-1", "MS-CV cv-1"):
        assert part in summary
    assert str(error) == summary


def test_summary_without_response() -> None:
    """An error without a response says so, and still names the request id."""
    error = ConnectionFailed("ConnectTimeout", ids=RequestIds(request_id="req-9"))

    assert error.summary() == "no response: ConnectTimeout (MS-RequestId req-9)"


def test_translate_transport_error_keeps_ids_and_message() -> None:
    """A transport error becomes ConnectionFailed with the request ids and the exception's name and text."""
    error = translate_transport_error(httpx.ConnectError("connection refused"), IDS)

    assert isinstance(error, ConnectionFailed)
    assert error.status is None
    assert error.ids == IDS
    assert error.description == "ConnectError: connection refused"


def test_translate_transport_error_without_message() -> None:
    """A transport error with no text is described by its type name."""
    assert translate_transport_error(httpx.ReadTimeout(""), IDS).description == "ReadTimeout"


def test_translate_transport_error_gives_one_short_line() -> None:
    """aiohttp's multi-line parser errors become one line of at most 500 characters."""
    exc = aiohttp.ClientResponseError(
        aiohttp.RequestInfo(yarl.URL("http://127.0.0.1/x"), "POST", CIMultiDictProxy(CIMultiDict()), yarl.URL("/x")),
        (),
        status=400,
        message="Bad status line:\n  Invalid status code:\n\n  " + "b'HTTP/1.1 two hundred OK'" * 50,
    )

    error = translate_transport_error(exc, IDS)

    assert error.description.startswith("ClientResponseError: 400, message=")
    assert "\n" not in error.description
    assert len(error.description) <= 500


def test_unreachable_says_what_answered() -> None:
    """A non-Partner-Center 404 keeps the gateway's text and says it is not Partner Center's error format."""
    error = classify_response(_response(404, b"<html><title>404 Not Found</title></html>"), IDS)

    assert isinstance(error, Unreachable)
    assert "404 Not Found" in error.description
    assert "not a Partner Center error" in error.description


# --- success_document ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, _json({"templateId": "t", "userId": "u"}), {"templateId": "t", "userId": "u"}),
        (200, b"{}", {}),
        (201, b"", None),
        (201, b"<html>Created</html>", None),
        (201, b"[]", None),
        (200, b"null", None),
        (200, b"\xff\xfe\x00", None),
        (200, b"[" * 100_000, None),
        (202, b"{}", None),
        (204, b"", None),
        (404, b"{}", None),
    ],
)
def test_success_document(status: int, body: bytes, expected: dict[str, str] | None) -> None:
    """Only a 200/201 carrying a JSON object is a Partner Center success; anything else gives None."""
    assert success_document(_response(status, body)) == expected


@pytest.mark.parametrize("body", [b"", b"<html>Created</html>", b"[]"])
def test_success_without_its_json_object_is_unreachable(body: bytes) -> None:
    """A 2xx without Partner Center's JSON object classifies as Unreachable (transient), not as success."""
    error = classify_response(_response(201, body), IDS)

    assert isinstance(error, Unreachable)
    assert error.status == 201


def test_absurdly_nested_error_body_does_not_raise() -> None:
    """A deeply nested JSON error body is described as text; RecursionError does not escape."""
    error = classify_response(_response(500, b"[" * 100_000), IDS)

    assert isinstance(error, ServerError)
    assert len(error.description) == 500
