"""Revoking a user, a session, a client or a token stops access at once.

Each test gets real tokens through the login and consent pages and the token endpoint,
changes state the way an administrator (or the logout endpoint) does, through
``ostiary.accounts.lifecycle`` and ``ostiary.accounts.logout``, and then, with no delay and no
cache to wait out, checks what the tokens are still good for: a refresh at /token,
introspection (RFC 7662) and the UserInfo endpoint.

"At once" is for whoever asks the server. A resource server that only checks the JWT
signature keeps accepting an access token until it expires (docs/sessions-and-revocation.md).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ostiary import clock
from ostiary.accounts import lifecycle
from ostiary.accounts.logout import end_session
from ostiary.domain.users import User
from ostiary.services import Services
from tests.conftest import LiveServer
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
    redeem_code,
)

OIDC_SCOPES = ["openid", "read", "offline_access"]


# -- helpers -------------------------------------------------------------------------------


@dataclass
class Tokens:
    access: str
    refresh: str | None

    @property
    def claims(self) -> dict[str, Any]:
        payload = self.access.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


def oidc_client(server: LiveServer) -> RegisteredClient:
    """Confidential, with session-bound refresh tokens for openid requests."""
    return make_client(server, scopes=OIDC_SCOPES, session_refresh_tokens=True)


def authorize(
    web: httpx.Client, client: RegisteredClient, username: str, scope: str
) -> tuple[str, str, str]:
    """A code from a browser (signing in and consenting if asked): (code, verifier, uri)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope=scope)
    response = login_and_consent(web, params, username)
    assert response.status_code == 303, response.text
    query = query_of(response.headers["location"])
    assert "code" in query, query
    return query["code"], verifier, params["redirect_uri"]


def redeem(
    api: httpx.Client, client: RegisteredClient, code: str, verifier: str, uri: str
) -> httpx.Response:
    return redeem_code(api, client, code, verifier, {"redirect_uri": uri})


def sign_in(
    web: httpx.Client,
    api: httpx.Client,
    client: RegisteredClient,
    username: str,
    scope: str = "openid read",
) -> Tokens:
    response = redeem(api, client, *authorize(web, client, username, scope))
    assert response.status_code == 200, response.text
    body = response.json()
    return Tokens(body["access_token"], body.get("refresh_token"))


def refresh(api: httpx.Client, client: RegisteredClient, token: str) -> httpx.Response:
    return api.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=client.basic_auth(),
    )


def refreshed(api: httpx.Client, client: RegisteredClient, tokens: Tokens) -> Tokens:
    assert tokens.refresh is not None
    response = refresh(api, client, tokens.refresh)
    assert response.status_code == 200, response.text
    return Tokens(response.json()["access_token"], response.json()["refresh_token"])


def introspect(api: httpx.Client, client: RegisteredClient, token: str) -> dict[str, Any]:
    response = api.post("/introspect", data={"token": token}, auth=client.basic_auth())
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(api: httpx.Client, access: str) -> httpx.Response:
    return api.get("/userinfo", headers={"authorization": f"Bearer {access}"})


def assert_live(api: httpx.Client, client: RegisteredClient, tokens: Tokens) -> None:
    assert introspect(api, client, tokens.access)["active"] is True
    if tokens.refresh is not None:
        assert introspect(api, client, tokens.refresh)["active"] is True
    if "openid" in tokens.claims.get("scope", "").split():
        assert userinfo(api, tokens.access).status_code == 200


def assert_dead(api: httpx.Client, client: RegisteredClient, tokens: Tokens) -> None:
    """The access token is inactive and refused by UserInfo; the refresh token is refused."""
    assert introspect(api, client, tokens.access) == {"active": False}
    if "openid" in tokens.claims.get("scope", "").split():
        refused = userinfo(api, tokens.access)
        assert refused.status_code == 401, refused.text
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    if tokens.refresh is not None:
        assert introspect(api, client, tokens.refresh) == {"active": False}
        response = refresh(api, client, tokens.refresh)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"


def user_of(server: LiveServer, username: str) -> User:
    user = server.call(lambda services: services.store.users.by_username(username))
    assert user is not None
    return user


# -- users ---------------------------------------------------------------------------------


def test_disabling_a_user_stops_every_token_at_once(server: LiveServer, api: httpx.Client) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        session_bound = sign_in(web, api, client, username)
        offline = sign_in(web, api, client, username, "openid read offline_access")
        rotated = refreshed(api, client, session_bound)
        pending = authorize(web, client, username, "openid read")
    assert session_bound.refresh and offline.refresh
    for tokens in (offline, rotated):
        assert_live(api, client, tokens)

    user = user_of(server, username)
    cutoff = server.call(lambda services: lifecycle.disable(services, user, actor="admin:t"))
    assert cutoff.sessions_ended == 1

    for tokens in (session_bound, offline, rotated):
        assert_dead(api, client, tokens)
    # A code issued before is worthless after.
    late = redeem(api, client, *pending)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"

    # Enabling the account again does not bring any of it back.
    server.call(lambda services: services.store.users.set_disabled(user.id, False))
    for tokens in (offline, rotated):
        assert_dead(api, client, tokens)


def test_deleting_a_user_stops_every_token_at_once(server: LiveServer, api: httpx.Client) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        session_bound = sign_in(web, api, client, username)
        offline = sign_in(web, api, client, username, "openid read offline_access")
        pending = authorize(web, client, username, "openid read")
    assert_live(api, client, offline)

    user = user_of(server, username)
    server.call(lambda services: lifecycle.delete(services, user, actor="admin:t"))

    for tokens in (session_bound, offline):
        assert_dead(api, client, tokens)
    late = redeem(api, client, *pending)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


# -- clients -------------------------------------------------------------------------------


def test_revoking_a_clients_tokens_stops_them_and_only_them(
    server: LiveServer, api: httpx.Client
) -> None:
    client = oidc_client(server)
    bystander = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        first = sign_in(web, api, client, username)
        offline = sign_in(web, api, client, username, "openid read offline_access")
        unaffected = sign_in(web, api, bystander, username)
    rotated = refreshed(api, client, first)

    revoked = server.call(
        lambda services: lifecycle.revoke_client_tokens(services, client.client_id, actor="t")
    )
    assert revoked >= 2

    for tokens in (first, offline, rotated):
        assert_dead(api, client, tokens)
    # Another client's grant for the same person goes on.
    assert_live(api, bystander, unaffected)
    assert_live(api, bystander, refreshed(api, bystander, unaffected))
    # The client itself still works: new sign-ins get new, live tokens.
    with browser(server) as web:
        assert_live(api, client, sign_in(web, api, client, username))


def test_revoking_a_clients_tokens_also_stops_access_tokens_without_refresh_tokens(
    server: LiveServer, api: httpx.Client
) -> None:
    client = make_client(server, scopes=["openid", "read"])  # no session refresh tokens
    machine = make_client(server, redirect_uris=[], scopes=["read"])
    username = make_user(server)
    with browser(server) as web:
        user_token = sign_in(web, api, client, username)
    assert user_token.refresh is None
    granted = api.post(
        "/token", data={"grant_type": "client_credentials"}, auth=machine.basic_auth()
    )
    assert granted.status_code == 200, granted.text
    machine_token = Tokens(granted.json()["access_token"], None)

    for who in (client, machine):
        server.call(
            lambda services, who=who: lifecycle.revoke_client_tokens(
                services, who.client_id, actor="t"
            )
        )
    assert introspect(api, client, user_token.access) == {"active": False}
    assert userinfo(api, user_token.access).status_code == 401
    assert introspect(api, machine, machine_token.access) == {"active": False}


def test_revoking_a_clients_tokens_also_kills_its_codes_not_yet_redeemed(
    server: LiveServer, api: httpx.Client
) -> None:
    """A code issued before the revocation would otherwise yield tokens issued after the
    cut-off, alive (RFC 6749 §4.1.2: a code is bound to a grant the revocation ended)."""
    client = oidc_client(server)
    bystander = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        code, verifier, redirect_uri = authorize(web, client, username, "openid read")
        other = authorize(web, bystander, username, "openid read")
    server.call(
        lambda services: lifecycle.revoke_client_tokens(services, client.client_id, actor="t")
    )
    refused = redeem(api, client, code, verifier, redirect_uri)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant"
    # Another client's code for the same person is untouched.
    code, verifier, redirect_uri = other
    granted = redeem(api, bystander, code, verifier, redirect_uri)
    assert granted.status_code == 200, granted.text


def delete_client(server: LiveServer, client_id: str) -> None:
    """What ``ostiary client delete`` does."""
    assert server.call(lambda services: services.store.clients.delete(client_id))


def test_deleting_a_client_stops_its_tokens_at_once(server: LiveServer, api: httpx.Client) -> None:
    client = oidc_client(server)
    resource = make_client(server, redirect_uris=[], scopes=["read"])
    username = make_user(server)
    with browser(server) as web:
        tokens = sign_in(web, api, client, username)

    delete_client(server, client.client_id)

    assert introspect(api, resource, tokens.access) == {"active": False}
    refused = userinfo(api, tokens.access)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert tokens.refresh is not None
    gone = refresh(api, client, tokens.refresh)
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_client"


def test_a_deleted_clients_tokens_stay_dead_when_its_id_is_registered_again(
    server: LiveServer, api: httpx.Client
) -> None:
    fixed_id = f"app-{secrets.token_hex(4)}"
    client = make_client(
        server, scopes=OIDC_SCOPES, session_refresh_tokens=True, client_id=fixed_id
    )
    username = make_user(server)
    with browser(server) as web:
        tokens = sign_in(web, api, client, username)

    delete_client(server, fixed_id)
    again = make_client(server, scopes=OIDC_SCOPES, session_refresh_tokens=True, client_id=fixed_id)
    assert again.client_id == fixed_id

    assert tokens.refresh is not None
    revived = {
        "userinfo": userinfo(api, tokens.access).status_code,
        "introspection": introspect(api, again, tokens.access)["active"],
        "refresh": refresh(api, again, tokens.refresh).status_code,
    }
    assert revived == {"userinfo": 401, "introspection": False, "refresh": 400}


# -- sessions ------------------------------------------------------------------------------


def test_ending_one_session_stops_its_tokens_and_no_others(
    server: LiveServer, api: httpx.Client
) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as laptop, browser(server) as phone:
        ended = sign_in(laptop, api, client, username)
        ended_rotated = refreshed(api, client, sign_in(laptop, api, client, username))
        offline = sign_in(laptop, api, client, username, "openid read offline_access")
        pending = authorize(laptop, client, username, "openid read")
        kept = sign_in(phone, api, client, username)
    sid = ended.claims["sid"]
    assert ended_rotated.claims["sid"] == sid
    assert kept.claims["sid"] != sid

    async def end(services: Services) -> None:
        session = await services.store.sessions.by_sid(sid)
        assert session is not None
        await end_session(services, session)

    server.call(end)

    for tokens in (ended, ended_rotated):
        assert_dead(api, client, tokens)
    late = redeem(api, client, *pending)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    # The other session's tokens, and the offline grant (OIDC Core §11), live on.
    assert_live(api, client, kept)
    assert_live(api, client, refreshed(api, client, kept))
    assert_live(api, client, refreshed(api, client, offline))


def test_ending_a_session_stops_long_lived_access_tokens_after_the_code_purge(
    server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(server, scopes=["openid", "read"], access_token_ttl=4 * 3600)
    username = make_user(server)
    with browser(server) as web:
        tokens = sign_in(web, api, client, username)
    assert tokens.refresh is None
    sid = tokens.claims["sid"]

    # The retention purge, as it runs an hour and a bit later (the token is still valid).
    now = clock.now()
    with monkeypatch.context() as later:
        later.setattr(clock, "now", lambda: now + 3700)
        server.call(lambda services: services.store.codes.purge_expired())

    async def end(services: Services) -> None:
        session = await services.store.sessions.by_sid(sid)
        assert session is not None
        await end_session(services, session)

    server.call(end)
    assert introspect(api, client, tokens.access) == {"active": False}
    assert userinfo(api, tokens.access).status_code == 401


# -- tokens --------------------------------------------------------------------------------


def test_revoking_a_token_stops_it_at_once(server: LiveServer, api: httpx.Client) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        tokens = sign_in(web, api, client, username)

    # An access token alone: the refresh token goes on and mints a live one.
    assert api.post("/revoke", data={"token": tokens.access}, auth=client.basic_auth()).is_success
    assert_dead(api, client, Tokens(tokens.access, None))
    rotated = refreshed(api, client, tokens)
    assert_live(api, client, rotated)

    # A refresh token takes its whole grant, access tokens included (RFC 7009 §2.1).
    assert api.post("/revoke", data={"token": rotated.refresh}, auth=client.basic_auth()).is_success
    assert_dead(api, client, rotated)


def test_refresh_token_reuse_revokes_the_grant_at_once(
    server: LiveServer, api: httpx.Client
) -> None:
    client = oidc_client(server)
    username = make_user(server)
    with browser(server) as web:
        stolen = sign_in(web, api, client, username)
    rotated = refreshed(api, client, stolen)
    assert_live(api, client, rotated)

    # The rotated-out token comes back (RFC 9700 §4.14.2): the whole family goes.
    assert stolen.refresh is not None
    replay = refresh(api, client, stolen.refresh)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert_dead(api, client, rotated)
    assert_dead(api, client, stolen)
