"""The account's security page: second factors and recovery codes."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
