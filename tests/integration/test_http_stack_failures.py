"""The production HTTP client against a raw TCP server that answers badly: every failure is ConnectionFailed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from shared.attestation.errors import ConnectionFailed
from shared.attestation.metadata import MCA
from shared.partner_center.agreement_request import AgreementRequest
from shared.partner_center.client import PartnerCenterClient, new_http_client
from shared.partner_center.retry import RetryPolicy
from tests.builders import FakeTokens, RecordingSleep

pytestmark = pytest.mark.integration

TENANT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
REQUEST = AgreementRequest(
    customer_tenant_id=TENANT,
    first_name="Zephyrine",
    last_name="Quillfeather",
    email="zephyrine.quillfeather@contoso.example.com",
    phone_number="+1 555 0147",
    template_id="117a77b0-9360-443b-8795-c6dedc750cf9",
    date_agreed=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
    agreement_type=MCA,
)
AGREEMENT = b'{"templateId": "117a77b0-9360-443b-8795-c6dedc750cf9", "userId": "user-1"}'

# One raw answer per way an HTTP/1.1 answer can be broken. Each is written whole, then the connection closes.
MALFORMED_ANSWERS: dict[str, bytes] = {
    "malformed-status-line": b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n",
    "not-http-at-all": b"\x00\x01\x02\x03 SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "bad-content-length": b"HTTP/1.1 201 Created\r\nContent-Length: lots\r\n\r\n" + AGREEMENT,
    "negative-content-length": b"HTTP/1.1 201 Created\r\nContent-Length: -5\r\n\r\n" + AGREEMENT,
    "two-content-lengths": b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n" + AGREEMENT,
    "header-without-colon": b"HTTP/1.1 201 Created\r\nthis is not a header\r\n\r\n",
    "header-line-too-long": b"HTTP/1.1 201 Created\r\nX-Filler: " + b"a" * 200_000 + b"\r\n\r\n",
    "length-and-chunked": (
        b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ),
    "no-answer": b"",
    # The status line and headers are fine; the failure only shows while reading the body.
    "body-shorter-than-content-length": b"HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n" + AGREEMENT,
    "broken-chunk-size": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunked-body-cut-short": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + AGREEMENT,
    "gzip-header-plain-body": (
        b"HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(AGREEMENT) + AGREEMENT
    ),
    "deflate-header-plain-body": (
        b"HTTP/1.1 201 Created\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(AGREEMENT) + AGREEMENT
    ),
}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value))


def _answering(answer: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up first: nothing to answer
        finally:
            writer.close()

    return handle


def _stalling_body(handle_started: asyncio.Event) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{")
            await writer.drain()
            handle_started.set()
            await reader.read()  # never answers more: waits until the client hangs up
        except ConnectionError:
            pass
        finally:
            writer.close()

    return handle


@asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 running ``handle`` per connection; yields its base URL."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
        server.close()
        await server.wait_closed()


async def _attest(base_url: str, http: httpx.AsyncClient, sleep: RecordingSleep) -> None:
    client = PartnerCenterClient(
        http,
        base_url=base_url,
        tokens=FakeTokens(),
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.1, max_total_delay=1.0),
        sleep=sleep,
        rng=random.Random(1),
    )
    await client.create_customer_agreement(REQUEST, request_id="req-1", correlation_id="corr-1")


@pytest.mark.parametrize("answer", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
async def test_malformed_answer_is_connection_failed(answer: bytes) -> None:
    """Each malformed answer, in the status line, headers or body, is retried then raised as ConnectionFailed."""
    sleep = RecordingSleep()
    async with raw_server(_answering(answer)) as base_url, new_http_client() as http:
        with pytest.raises(ConnectionFailed) as caught:
            await _attest(base_url, http, sleep)

    assert len(sleep.delays) == 1  # transient: retried once within the policy's two attempts
    assert caught.value.status is None
    assert caught.value.ids.request_id == "req-1"
    assert caught.value.__cause__ is not None


async def test_body_that_stops_arriving_is_connection_failed() -> None:
    """A body that stops mid-way until the read timeout is ConnectionFailed, not an escaped timeout."""
    started = asyncio.Event()
    timeout = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
    async with raw_server(_stalling_body(started)) as base_url, new_http_client(timeout=timeout) as http:
        with pytest.raises(ConnectionFailed):
            await _attest(base_url, http, RecordingSleep())

    assert started.is_set()


async def test_refused_connection_is_connection_failed() -> None:
    """A port nobody listens on is ConnectionFailed."""
    async with raw_server(_answering(b"")) as base_url:
        pass  # closed: the port now refuses
    async with new_http_client() as http:
        with pytest.raises(ConnectionFailed):
            await _attest(base_url, http, RecordingSleep())
