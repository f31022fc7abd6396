"""Demo mode: a demo user, a demo public client and the demo application page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import Services
from ostiary.web.responses import error_page, page

DEMO_CLIENT_ID = "ostiary-demo"
DEMO_USERNAME = "demo"
DEMO_SCOPES = ["openid", "profile", "email", "offline_access", "demo:read", "demo:write"]


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    username: str
    password: str
    client_id: str
    url: str


async def seed(services: Services) -> DemoCredentials | None:
    """Create the demo user and client on an empty database.

    On a database that already holds them (a second demo start), the demo user gets a
    fresh password so it can be printed again; any other database is left alone.
    """
    store = services.store
    password = secrets.token_urlsafe(9)
    issuer = services.settings.issuer
    credentials = DemoCredentials(DEMO_USERNAME, password, DEMO_CLIENT_ID, f"{issuer}/demo")
    if await store.users.list() or await store.clients.list():
        user = await store.users.by_username(DEMO_USERNAME)
        if user is None or await store.clients.get(DEMO_CLIENT_ID) is None:
            return None
        await store.users.set_password_hash(user.id, await services.passwords.hash(password))
        return credentials
    await store.users.add(
        username=DEMO_USERNAME,
        email="demo@example.com",
        email_verified=True,
        password_hash=await services.passwords.hash(password),
        profile={"name": "Demo User", "given_name": "Demo", "family_name": "User"},
    )
    await register(
        store.clients,
        ClientSpec(
            client_id=DEMO_CLIENT_ID,
            name="Ostiary demo application",
            public=True,
            redirect_uris=[f"{issuer}/demo"],
            post_logout_redirect_uris=[f"{issuer}/demo"],
            grant_types=["authorization_code", "refresh_token"],
            scopes=DEMO_SCOPES,
        ),
    )
    return credentials


async def demo_page(request: Request) -> Response:
    services: Services = request.app.state.services
    if not services.settings.demo or await services.store.clients.get(DEMO_CLIENT_ID) is None:
        return error_page("The demo application runs only in demo mode (--demo).", 404)
    return page(
        "demo.html",
        client_id=DEMO_CLIENT_ID,
        issuer=services.settings.issuer,
        scope=" ".join(DEMO_SCOPES),
    )
