"""The Entra token endpoint: ``POST /{tenant}/oauth2/v2.0/token``, form-encoded, as Microsoft's."""

from __future__ import annotations

from aiohttp import web

from emulators.partner_center.keys import STATE

TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"


async def token(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    endpoint = str(request.url.with_query(None))
    response = request.app[STATE].tokens.exchange(request.match_info["tenant"], fields, endpoint).to_response()
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["Pragma"] = "no-cache"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, token)
