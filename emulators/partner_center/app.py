"""The aiohttp application: Partner Center under ``/v1``, Entra's token endpoint, the control API.

``partner_center_edge`` wraps every simulated route, in this order:

1. latency, then the drawn fault (dropped connection, 429, 5xx) — before anything is processed;
   on the token endpoint only if ``FaultConfig.apply_to_token_endpoint``;
2. on ``/v1``: authentication (800001 / 1002 / 900420), then the per-partner rate limit;
3. the handler; then, for a "lost response", the connection is dropped after processing;
4. on ``/v1``: ``MS-CV`` is set and ``MS-RequestId`` / ``MS-CorrelationId`` are echoed.

Each call is counted by route and status: the status answered, ``dropped`` for a connection the simulator closed,
``aborted`` for a client that closed its connection before sending the whole request (a process killed mid-call:
nothing was processed; not an error of the simulator, so nothing is logged above DEBUG).

Control routes (``/_simulator``) are never faulted, authenticated or counted.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from emulators.partner_center import control, enhanced_routes, entra, partner_api
from emulators.partner_center.bodies import Reply, empty, throttled
from emulators.partner_center.faults import Outcome
from emulators.partner_center.keys import IDENTITY, STATE
from emulators.partner_center.state import SimulatorState

logger = logging.getLogger(__name__)

ECHOED_HEADERS = ("MS-RequestId", "MS-CorrelationId")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource is not None else 'unmatched'}"


def _drop_connection(request: web.Request) -> None:
    """Close the TCP connection without answering: the client sees a connection error."""
    if request.transport is not None:
        request.transport.close()


def _correlation_vector() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode().rstrip("=") + ".0"


async def _answer(
    request: web.Request, handler: Handler, state: SimulatorState, api: bool
) -> web.StreamResponse | None:
    """The response to send, or None when the connection was dropped."""
    injector = state.fault_injector
    if api or injector.config.apply_to_token_endpoint:
        decision = injector.decide(request.method)
    else:
        decision = injector.decide_nothing()
    if decision.delay_seconds > 0:
        await asyncio.sleep(decision.delay_seconds)
    if decision.outcome is Outcome.DROP:
        _drop_connection(request)
        return None
    if decision.outcome is Outcome.THROTTLE:
        return throttled(decision.retry_after_seconds).to_response()
    if decision.outcome is Outcome.SERVER_ERROR and decision.shape is not None:
        return decision.shape.reply().to_response()
    if request.match_info.http_exception is not None:
        return empty(request.match_info.http_exception.status).to_response()
    if api:
        identity = state.tokens.authenticate(request.headers.get("Authorization"))
        if isinstance(identity, Reply):
            return identity.to_response()
        retry_after = injector.take(identity.tenant.lower())
        if retry_after is not None:
            return throttled(retry_after).to_response()
        request[IDENTITY] = identity
    response = await handler(request)
    if decision.outcome is Outcome.LOST_RESPONSE:
        _drop_connection(request)
        return None
    return response


@web.middleware
async def partner_center_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(control.PREFIX):
        return await handler(request)
    state = request.app[STATE]
    api = request.path == "/v1" or request.path.startswith("/v1/")
    route = _route_name(request)
    started = time.monotonic()
    status: int | str = "error"
    state.request_started()
    try:
        try:
            response = await _answer(request, handler, state, api)
        except ConnectionResetError:  # the client went away before its request arrived whole: nobody to answer
            status = "aborted"
            return web.Response(status=500)  # never sent: the transport is closed
        if response is None:
            status = "dropped"
            return web.Response(status=500)  # never sent: the transport is closed
        status = response.status
        if api:
            response.headers["MS-CV"] = _correlation_vector()
            for name in ECHOED_HEADERS:
                value = request.headers.get(name)
                if value is not None:
                    response.headers[name] = value
        return response
    finally:
        state.request_finished(route, status)
        logger.debug(
            "pcsim.request",
            extra={
                "route": route,
                "status": status,
                "ms_request_id": request.headers.get("MS-RequestId"),
                "ms_correlation_id": request.headers.get("MS-CorrelationId"),
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )


def build_app(state: SimulatorState) -> web.Application:
    app = web.Application(middlewares=[partner_center_edge], client_max_size=1024**2)
    app[STATE] = state
    partner_api.add_routes(app)
    enhanced_routes.add_routes(app)
    entra.add_routes(app)
    control.add_routes(app)
    return app
