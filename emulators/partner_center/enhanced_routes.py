"""The routes of the enhanced attestation (``enhanced``): the Partner Center calls and the control API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulators.partner_center.bodies import classic_fault
from emulators.partner_center.enhanced import CONTROL, PATH, EnhancedAttestation, EnhancedWorld
from emulators.partner_center.keys import IDENTITY, STATE


async def post_attestation(request: web.Request) -> web.StreamResponse:
    """``POST /v1/attestations/enhanced``: app-only callers only."""
    state = request.app[STATE]
    if request[IDENTITY].user_id is not None:
        return classic_fault(
            401, 1002, "Authorization Failed: this scenario only supports AppOnly authentication"
        ).to_response()
    reply = state.enhanced.create(
        await request.read(),
        request.headers.get("MS-RequestId"),
        check_customer=state.check_customer,
        agreements_of=lambda customer: [a.contact for a in state.attestations(customer)],
    )
    return reply.to_response()


async def get_attestation(request: web.Request) -> web.StreamResponse:
    """``GET /v1/attestations/enhanced/{attestation_id}``."""
    return request.app[STATE].enhanced.status(request.match_info["attestation_id"]).to_response()


def _control(action: Callable[[EnhancedWorld, str], EnhancedAttestation]) -> Callable[[web.Request], Any]:
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            attestation = action(request.app[STATE].enhanced, request.match_info["attestation_id"])
        except KeyError:
            return web.json_response({"error": "no such attestation"}, status=404)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response(attestation.inspection_json(datetime.now(UTC)))

    return route


async def list_attestations(request: web.Request) -> web.StreamResponse:
    now = datetime.now(UTC)
    items = [a.inspection_json(now) for a in request.app[STATE].enhanced.all()]
    return web.json_response({"count": len(items), "items": items})


async def put_link_lifetime(request: web.Request) -> web.StreamResponse:
    """``{"seconds": n}``: the lifetime of links created from now on."""
    try:
        seconds = float((await request.json())["seconds"])
        if seconds <= 0:
            raise ValueError("seconds must be positive")
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
    request.app[STATE].enhanced.link_lifetime_seconds = seconds
    return web.json_response({"linkLifetimeSeconds": seconds})


async def put_create_answer(request: web.Request) -> web.StreamResponse:
    """``{"status": 403, "code": 20002, "description"?: "…"}``: every create for the customer gets this answer
    (``{"status": 0}`` forgets it)."""
    try:
        body = await request.json()
        status, code = int(body["status"]), int(body.get("code", 0))
        description = str(body.get("description", ""))
        request.app[STATE].enhanced.answer_creates(request.match_info["customer_id"], status, code, description)
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
    return web.json_response({"status": status, "code": code})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(PATH, post_attestation)
    router.add_get(PATH + "/{attestation_id}", get_attestation)
    router.add_get(CONTROL, list_attestations)
    router.add_put(CONTROL + "/link-lifetime", put_link_lifetime)
    router.add_put(CONTROL + "/customers/{customer_id}/create-answer", put_create_answer)
    router.add_post(CONTROL + "/{attestation_id}/accept", _control(EnhancedWorld.accept))
    router.add_post(CONTROL + "/{attestation_id}/reject", _control(EnhancedWorld.reject))
    router.add_post(CONTROL + "/{attestation_id}/expire", _control(EnhancedWorld.expire))
