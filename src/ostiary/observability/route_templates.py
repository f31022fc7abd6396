"""A request's route template (``/interaction/{interaction_id}/login``), never its raw
path: metric labels and log lines stay a small, fixed set, and no id in a path is logged.

Fixed paths are one dictionary lookup (the token endpoint's budget is microseconds);
paths with parameters are matched against the routes' own patterns; anything else is
``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

OTHER = "other"


def _children(app: Any) -> list[BaseRoute]:
    """The routes of a mounted app: a router or Starlette app, or an ASGI wrapper around
    one (the admin API's ``api``, SCIM's ``router``). A FastAPI app's routes are read from
    its OpenAPI document, the one public list of its path templates."""
    for candidate in (app, getattr(app, "api", None), getattr(app, "router", None)):
        openapi = getattr(candidate, "openapi", None)
        if callable(openapi):
            return [Route(path, _no_endpoint) for path in openapi().get("paths", {})]
        routes = getattr(candidate, "routes", None)
        if isinstance(routes, list) and routes:
            return routes
    return []


async def _no_endpoint(*_args: Any) -> None:
    """A template's stand-in endpoint: these routes are only matched, never called."""


class RouteTemplates:
    def __init__(self, routes: Iterable[BaseRoute], fixed: Iterable[str] = ()) -> None:
        self.fixed: dict[str, str] = {path: path for path in fixed}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        self._prefixes: list[tuple[str, str]] = []
        self._walk(routes, "")

    def _walk(self, routes: Iterable[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                mount = prefix + route.path
                self._walk(_children(route.app), mount)
                self._prefixes.append((mount + "/", mount + "/{path}"))
            elif isinstance(route, Route):
                template = prefix + route.path
                if not route.param_convertors:
                    self.fixed.setdefault(template, template)
                    continue
                # The route's own anchored pattern, under its mount's prefix.
                pattern = "^" + re.escape(prefix) + route.path_regex.pattern.lstrip("^")
                self._patterns.append((re.compile(pattern), template))

    def __call__(self, path: str) -> str:
        template = self.fixed.get(path)
        if template is not None:
            return template
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        for prefix, template in self._prefixes:
            if path.startswith(prefix):
                return template
        return OTHER

    def templates(self) -> list[str]:
        """Every template this table can answer (for tests and documentation)."""
        return [
            *self.fixed.values(),
            *(t for _, t in self._patterns),
            *(t for _, t in self._prefixes),
            OTHER,
        ]
