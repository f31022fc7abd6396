"""Console pages: signing keys — the ring as it is, and a rotation per algorithm.

A rotation goes through ``admin.operations.keys`` (the ``key.rotated`` event of
``ostiary keys rotate``, the acting admin as actor).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary import clock
from ostiary.admin.console import render
from ostiary.admin.console.forms import form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.operations import keys


@console_page(Area.KEYS)
async def list_keys(request: Request, viewer: Viewer) -> Response:
    """The key ring: every key's algorithm, state and dates (RFC 7517 key ids)."""
    services = services_of(request)
    return render.page(
        request,
        viewer,
        "keys.html",
        area=Area.KEYS,
        keys=await keys.listing(services),
        algorithms=keys.algorithms(services),
        publish_ahead=services.settings.keys.publish_ahead,
        now=clock.now(),
    )


@console_page(Area.KEYS)
async def rotate(request: Request, viewer: Viewer) -> Response:
    """A new key for one algorithm: published now, signing after ``publish_ahead``."""
    services = services_of(request)
    alg = (await form_of(request)).text("alg")
    kid = await keys.rotate(services, viewer.caller, alg)
    delay = services.settings.keys.publish_ahead
    message = f"New {alg} key {kid}: published now, signs in {delay} seconds."
    return render.redirect(request, "/admin/keys", message)


routes: list[BaseRoute] = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys/rotate", rotate, methods=["POST"]),
]
