"""Issue #6, "revocation that bites": an API that validates JWTs locally (no introspection
per request) refuses a disabled user's token within the feed's polling interval."""

import asyncio
import time
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from ostiary.accounts import lifecycle
from ostiary.resource import Claims, TokenVerifier
from ostiary.resource.fastapi import ResourceServer
from ostiary.resource.revocations import RevocationFeed, RevocationList
from ostiary.services import Services
from tests.conftest import LiveServer
from tests.e2e.helpers import make_client, make_user, obtain_code, redeem_code

API = "https://orders.example.com"
POLL_INTERVAL = 0.5
DEADLINE = 5.0


def _user_token(server: LiveServer) -> tuple[str, str]:
    client = make_client(server, scopes=["read"], audience=[API])
    username = make_user(server)
    code, verifier, params = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = redeem_code(http, client, code, verifier, params)
    assert response.status_code == 200, response.text
    return response.json()["access_token"], username


def test_disabled_users_jwt_is_refused_by_a_local_verifier_within_the_feed_interval(
    server: LiveServer,
) -> None:
    token, username = _user_token(server)

    async def disable(services: Services) -> None:
        user = await services.store.users.by_username(username)
        assert user is not None
        await lifecycle.disable(services, user, actor="test")

    async def go() -> float:
        verifier = TokenVerifier(server.base_url, API, revocations=RevocationList())
        feed = RevocationFeed(verifier, interval=POLL_INTERVAL)
        await feed.poll()
        polling = asyncio.create_task(feed.run())
        app = FastAPI()
        Reader = Annotated[Claims, Depends(ResourceServer(verifier).require_scopes("read"))]

        @app.get("/orders")
        async def orders(claims: Reader) -> Any:
            return {"sub": claims.sub}

        headers = {"Authorization": f"Bearer {token}"}
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                assert (await api.get("/orders", headers=headers)).status_code == 200
                await asyncio.to_thread(server.call, disable)
                disabled_at = time.monotonic()
                while time.monotonic() - disabled_at < DEADLINE:
                    response = await api.get("/orders", headers=headers)
                    if response.status_code == 401:
                        assert 'error="invalid_token"' in response.headers["www-authenticate"]
                        return time.monotonic() - disabled_at
                    assert response.status_code == 200
                    await asyncio.sleep(0.05)
                raise AssertionError(f"the API still accepted the token after {DEADLINE} s")
        finally:
            polling.cancel()
            await verifier.aclose()

    elapsed = asyncio.run(go())
    # One polling interval, plus the time one poll takes.
    assert elapsed < POLL_INTERVAL + 2
