"""Typed keys for what the aiohttp app and its requests carry."""

from __future__ import annotations

from aiohttp import web

from emulators.partner_center.state import SimulatorState
from emulators.partner_center.tokens import Identity

STATE = web.AppKey("state", SimulatorState)
IDENTITY = web.RequestKey("identity", Identity)
