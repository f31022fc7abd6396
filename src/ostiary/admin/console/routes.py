"""The console's routes, mounted at /admin by ``web.app`` when the console is on."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ostiary.admin.console import (
    audit,
    clients,
    dashboard,
    groups,
    keys,
    providers,
    roles,
    scopes,
    signin,
    users,
)


def routes() -> list[BaseRoute]:
    """Sign-in, the dashboard, then each area's own list of routes."""
    return [
        Route("/", dashboard.dashboard, methods=["GET"]),
        Route("/login", signin.login, methods=["GET"]),
        Route("/callback", signin.callback, methods=["GET"]),
        Route("/logout", signin.logout, methods=["POST"]),
        Route("/signed-out", signin.signed_out, methods=["GET"]),
        *users.routes,
        *clients.routes,
        *roles.routes,
        *groups.routes,
        *scopes.routes,
        *providers.routes,
        *keys.routes,
        *audit.routes,
        Mount(
            "/static",
            StaticFiles(directory=Path(__file__).parent / "static"),
            name="console-static",
        ),
    ]
