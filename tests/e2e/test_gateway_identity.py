"""Gateway identity details: roles and groups from the token, Back-Channel Logout 1.0
§2.6 checks with logout tokens signed by the server's real key, and RFC 9207 at the
callback."""

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary import clock
from ostiary.gateway.oidc_client import LOGOUT_EVENT
from ostiary.gateway.sessions import Session
from ostiary.services import Services
from ostiary.tokens import signed
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import make_client, make_user, obtain_code, redeem_code
from tests.e2e.oidc_helpers import make_oidc_user
from tests.e2e.test_gateway_api import API, bearer, gateway_for, seen_headers
from tests.e2e.test_gateway_browser import BrowserGateway, log_in, start
from tests.e2e.upstream_app import serving, upstream_app


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


def test_rfc9068_roles_and_groups_become_identity_headers(
    server: LiveServer, upstream: str
) -> None:
    role, group = unique("ops"), unique("team")
    client = make_client(
        server, scopes=["read"], audience=[API], include_roles=True, include_groups=True
    )
    username, other = make_user(server), make_user(server)

    async def grant(services: Services) -> None:
        await services.store.access.create_role(role)
        user = await services.store.users.by_username(username)
        assert user is not None
        await services.store.access.assign(user.id, role)
        created = await services.store.access.create_group(group)
        await services.store.access.add_member(created.id, user.id)

    server.call(grant)
    tokens = {name: user_token(server, client, name) for name in (username, other)}
    with serving(gateway_for(server, upstream, rules=[f"/ops/* role={role}"])) as url:
        allowed = httpx.get(f"{url}/ops/run", headers=bearer(tokens[username]))
        denied = httpx.get(f"{url}/ops/run", headers=bearer(tokens[other]))
    assert allowed.status_code == 200, allowed.text
    seen = seen_headers(allowed)
    assert seen["x-forwarded-roles"] == [role]
    assert seen["x-forwarded-groups"] == [group]
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]


def user_token(server: LiveServer, client: Any, username: str) -> str:
    code, verifier, params = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = redeem_code(http, client, code, verifier, params)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


# -- Back-Channel Logout 1.0 §2.6, with tokens signed by the issuer's own key ------------


@pytest.fixture(scope="module")
def browser_gw(server: LiveServer, upstream: str) -> Iterator[BrowserGateway]:
    # The feed is off: only the back channel can end sessions here.
    yield from start(server, upstream, revocation_feed=False)


def logout_token(server: LiveServer, typ: str = "logout+jwt", **claims: Any) -> str:
    now = clock.now()
    values: dict[str, Any] = {
        "iss": server.base_url,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "events": {LOGOUT_EVENT: {}},
    }
    values.update(claims)
    values = {k: v for k, v in values.items() if v is not None}

    async def sign(services: Services) -> str:
        return signed.sign(await services.keys.fresh(), "ES256", values, typ)

    return server.call(sign)


def session_of(gw: BrowserGateway, web: httpx.Client) -> Session:
    browser = gw.gateway.browser
    assert browser is not None
    opened = browser.sealer.open(browser.session_cookie, web.cookies[browser.session_cookie])
    session = Session.of(opened)
    assert session is not None
    return session


def test_backchannel_logout_2_6_checks_each_claim(
    server: LiveServer, browser_gw: BrowserGateway
) -> None:
    gw = browser_gw
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        log_in(web, gw, user)
        sid = session_of(gw, web).sid
        assert sid
        aud = gw.client.client_id
        endpoint = f"{gw.url}/.ostiary/backchannel-logout"
        bad = {
            "wrong typ": logout_token(server, typ="JWT", aud=aud, sid=sid),
            "wrong aud": logout_token(server, aud="someone-else", sid=sid),
            "wrong iss": logout_token(server, aud=aud, sid=sid, iss="https://evil.example"),
            "expired": logout_token(server, aud=aud, sid=sid, exp=clock.now() - 3600),
            "no event": logout_token(server, aud=aud, sid=sid, events={}),
            "no sub or sid": logout_token(server, aud=aud),
            "nonce": logout_token(server, aud=aud, sid=sid, nonce="n"),
            "no jti": logout_token(server, aud=aud, sid=sid, jti=None),
        }
        for why, token in bad.items():
            response = httpx.post(endpoint, data={"logout_token": token})
            assert response.status_code == 400, why
            assert response.json()["error"] == "invalid_request", why
        # None of them ended the session.
        assert web.get(f"{gw.url}/app/page").status_code == 200

        good = logout_token(server, aud=aud, sid=sid)
        ended = httpx.post(endpoint, data={"logout_token": good})
        assert ended.status_code == 200
        assert ended.headers["cache-control"] == "no-store"
        # §2.6 step 9: the same token again is a replay.
        assert httpx.post(endpoint, data={"logout_token": good}).status_code == 400
        assert web.get(f"{gw.url}/app/page").status_code == 302


def test_backchannel_logout_2_4_sub_only_ends_every_session_of_the_user(
    server: LiveServer, browser_gw: BrowserGateway
) -> None:
    gw = browser_gw
    user = make_oidc_user(server)
    webs = [
        httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) for _ in range(2)
    ]
    try:
        for web in webs:
            log_in(web, gw, user)
        token = logout_token(server, aud=gw.client.client_id, sub=user.id)
        assert httpx.post(f"{gw.url}/.ostiary/backchannel-logout", data={"logout_token": token})
        for web in webs:
            assert web.get(f"{gw.url}/app/page").status_code == 302
        time.sleep(1.1)  # a session that begins after the logout must survive it
        log_in(webs[0], gw, user)
        assert webs[0].get(f"{gw.url}/app/page").status_code == 200
    finally:
        for web in webs:
            web.close()


def test_rfc9207_callback_from_another_issuer_is_refused(
    server: LiveServer, browser_gw: BrowserGateway
) -> None:
    gw = browser_gw
    with httpx.Client(follow_redirects=False, timeout=30) as web:
        first = web.get(f"{gw.url}/app/page")
        state = httpx.URL(first.headers["location"]).params["state"]
        response = web.get(
            f"{gw.url}/.ostiary/callback",
            params={"code": "c", "state": state, "iss": "https://evil.example"},
        )
    assert response.status_code == 400
    assert response.json()["error_description"] == "response from another issuer"
