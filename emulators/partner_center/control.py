"""The control and inspection API under ``/_simulator`` (JSON), for out-of-process users.

Same operations as the ``SimulatorState`` methods; never faulted, authenticated or counted. A bad input
answers 400 ``{"error": "…"}``.

    GET    /_simulator/health
    GET    /_simulator/stats
    GET    /_simulator/attestations[?customerId=]
    POST   /_simulator/reset[?keepTokens=true]
    GET    /_simulator/faults            PUT (replace; omitted fields take defaults)   PATCH (merge)
    GET    /_simulator/config            PATCH (run-time options)
    POST   /_simulator/tokens/expire     expire every access token issued so far
    POST   /_simulator/tokens/revoke     make every refresh token fail with invalid_grant
    POST   /_simulator/tokens/refresh    issue a new valid refresh token (a redone consent)
    POST   /_simulator/customers/{id}/unknown
    POST   /_simulator/customers/{id}/foreign
    PUT    /_simulator/customers/{id}/direct-signed   {"isSigned": true}
    GET    /_simulator/templates         POST (add or replace one)
    POST   /_simulator/templates/{templateId}/retire
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web

from emulators.partner_center.agreements import Template
from emulators.partner_center.faults import FaultConfig
from emulators.partner_center.keys import STATE
from emulators.partner_center.state import RUNTIME_OPTIONS

PREFIX = "/_simulator"

_Handler = Callable[[web.Request], Awaitable[Any]]


def _json_route(handler: _Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Answer the handler's value as JSON, and a bad input as 400."""

    @wraps(handler)
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            result = await handler(request)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response(result)

    return route


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise TypeError("the body must be a JSON object")
    return document


@_json_route
async def health(request: web.Request) -> Any:
    return {"status": "ok"}


@_json_route
async def stats(request: web.Request) -> Any:
    return request.app[STATE].stats()


@_json_route
async def attestations(request: web.Request) -> Any:
    state = request.app[STATE]
    customer_id = request.query.get("customerId")
    items = state.attestations(customer_id) if customer_id else state.all_attestations()
    return {"count": len(items), "items": [a.inspection_json() for a in items]}


@_json_route
async def reset(request: web.Request) -> Any:
    keep_tokens = request.query.get("keepTokens", "").lower() in {"1", "true", "yes"}
    request.app[STATE].reset(keep_tokens=keep_tokens)
    return {"reset": True, "keptTokens": keep_tokens}


@_json_route
async def get_faults(request: web.Request) -> Any:
    return request.app[STATE].faults.to_json()


@_json_route
async def put_faults(request: web.Request) -> Any:
    return request.app[STATE].configure_faults(FaultConfig.from_json(await _body(request))).to_json()


@_json_route
async def patch_faults(request: web.Request) -> Any:
    state = request.app[STATE]
    return state.configure_faults(FaultConfig.from_json(await _body(request), base=state.faults)).to_json()


@_json_route
async def get_config(request: web.Request) -> Any:
    return request.app[STATE].config.runtime_json()


@_json_route
async def patch_config(request: web.Request) -> Any:
    by_camel = {"".join(p if i == 0 else p.title() for i, p in enumerate(n.split("_"))): n for n in RUNTIME_OPTIONS}
    changes = {by_camel.get(key, key): value for key, value in (await _body(request)).items()}
    return request.app[STATE].configure(**changes).runtime_json()


@_json_route
async def expire_tokens(request: web.Request) -> Any:
    return {"expired": request.app[STATE].expire_access_tokens()}


@_json_route
async def revoke_tokens(request: web.Request) -> Any:
    request.app[STATE].revoke_refresh_tokens()
    return {"revoked": True}


@_json_route
async def issue_refresh_token(request: web.Request) -> Any:
    client_id = (await _body(request)).get("clientId")
    return {"refreshToken": request.app[STATE].issue_refresh_token(client_id)}


@_json_route
async def unknown_customer(request: web.Request) -> Any:
    request.app[STATE].add_unknown_customer(request.match_info["customer_id"])
    return {"customerId": request.match_info["customer_id"], "unknown": True}


@_json_route
async def foreign_customer(request: web.Request) -> Any:
    request.app[STATE].add_foreign_customer(request.match_info["customer_id"])
    return {"customerId": request.match_info["customer_id"], "foreign": True}


@_json_route
async def direct_signed(request: web.Request) -> Any:
    signed = (await _body(request)).get("isSigned", True)
    if not isinstance(signed, bool):
        raise TypeError("isSigned must be true or false")
    request.app[STATE].set_direct_signed(request.match_info["customer_id"], signed)
    return {"customerId": request.match_info["customer_id"], "isSigned": signed}


def _template_json(template: Template) -> dict[str, Any]:
    return {**template.to_json(), "retired": template.retired}


@_json_route
async def list_templates(request: web.Request) -> Any:
    return {"items": [_template_json(t) for t in request.app[STATE].templates()]}


@_json_route
async def add_template(request: web.Request) -> Any:
    body = await _body(request)
    template = Template(
        template_id=str(body["templateId"]),
        agreement_type=str(body["agreementType"]),
        agreement_link=str(body.get("agreementLink") or ""),
        version_rank=int(body.get("versionRank") or 0),
        retired=bool(body.get("retired", False)),
    )
    request.app[STATE].add_template(template)
    return _template_json(template)


@_json_route
async def retire_template(request: web.Request) -> Any:
    request.app[STATE].retire_template(request.match_info["template_id"])
    return {"templateId": request.match_info["template_id"], "retired": True}


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{PREFIX}/health", health)
    router.add_get(f"{PREFIX}/stats", stats)
    router.add_get(f"{PREFIX}/attestations", attestations)
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_get(f"{PREFIX}/faults", get_faults)
    router.add_put(f"{PREFIX}/faults", put_faults)
    router.add_patch(f"{PREFIX}/faults", patch_faults)
    router.add_get(f"{PREFIX}/config", get_config)
    router.add_patch(f"{PREFIX}/config", patch_config)
    router.add_post(f"{PREFIX}/tokens/expire", expire_tokens)
    router.add_post(f"{PREFIX}/tokens/revoke", revoke_tokens)
    router.add_post(f"{PREFIX}/tokens/refresh", issue_refresh_token)
    router.add_post(f"{PREFIX}/customers/{{customer_id}}/unknown", unknown_customer)
    router.add_post(f"{PREFIX}/customers/{{customer_id}}/foreign", foreign_customer)
    router.add_put(f"{PREFIX}/customers/{{customer_id}}/direct-signed", direct_signed)
    router.add_get(f"{PREFIX}/templates", list_templates)
    router.add_post(f"{PREFIX}/templates", add_template)
    router.add_post(f"{PREFIX}/templates/{{template_id}}/retire", retire_template)
