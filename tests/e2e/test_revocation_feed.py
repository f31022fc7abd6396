"""The revocation feed (GET /revocations) read the way a resource server reads it.

Every page is checked against the published JWKS. The server is shared with other tests,
so each test starts from the feed's current head and looks only at the values it made.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ostiary import clock, retention
from ostiary.accounts import lifecycle
from ostiary.accounts.logout import end_session
from ostiary.domain.revocation import RevocationEvent
from ostiary.services import Services
from ostiary.storage.repos.revocation_events import MAX_ACCESS_TOKEN_TTL
from tests.conftest import LiveServer
from tests.e2e.helpers import browser, make_client, make_user
from tests.e2e.test_revocation_reach import Tokens, oidc_client, sign_in, user_of


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield http


def feed(api: httpx.Client, server: LiveServer, **params: Any) -> dict[str, Any]:
    """One page, verified as a resource server would: JWKS, alg, typ, iss, exp."""
    response = api.get("/revocations", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwt"
    jwks = KeySet.import_key_set(api.get("/jwks.json").json())
    token = jwt.decode(response.text, jwks, algorithms=["ES256"])
    assert token.header["typ"] == "revocation-feed+jwt"
    claims = token.claims
    assert claims["iss"] == server.base_url
    assert claims["exp"] == claims["iat"] + 60
    return claims


def head(api: httpx.Client, server: LiveServer) -> int:
    cursor = 0
    while True:
        page = feed(api, server, after=cursor, limit=1000)
        cursor = page["cursor"]
        if not page["more"]:
            return cursor


def events_after(api: httpx.Client, server: LiveServer, cursor: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        page = feed(api, server, after=cursor)
        events += page["events"]
        cursor = page["cursor"]
        if not page["more"]:
            return events


def add_events(server: LiveServer, *events: RevocationEvent) -> None:
    server.call(lambda services: services.store.revocation_events.add_many(events))


def test_feed_is_advertised_in_both_metadata_documents(
    server: LiveServer, api: httpx.Client
) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        document = api.get(path).json()
        assert document["revocation_feed_endpoint"] == f"{server.base_url}/revocations"


def test_a_feed_at_its_head_returns_the_given_cursor_and_no_events(
    server: LiveServer, api: httpx.Client
) -> None:
    cursor = head(api, server)
    page = feed(api, server, after=cursor)
    assert page["events"] == [] and page["cursor"] == cursor and page["more"] is False


def test_each_kind_of_revocation_appears_in_order(server: LiveServer, api: httpx.Client) -> None:
    start = head(api, server)

    # jti: a client revokes its access token (RFC 7009).
    machine = make_client(server, redirect_uris=[], grant_types=["client_credentials"])
    issued = api.post(
        "/token", data={"grant_type": "client_credentials"}, auth=machine.basic_auth()
    )
    assert issued.status_code == 200, issued.text
    machine_token = Tokens(issued.json()["access_token"], None)
    revoked = api.post("/revoke", data={"token": machine_token.access}, auth=machine.basic_auth())
    assert revoked.status_code == 200, revoked.text

    # sub: an administrator disables a user (sessions end and tokens are denied as well).
    client = oidc_client(server)
    disabled_name = make_user(server)
    with browser(server) as web:
        disabled_tokens = sign_in(web, api, client, disabled_name)
    disabled = user_of(server, disabled_name)
    server.call(lambda services: lifecycle.disable(services, disabled, actor="admin:t"))

    # sid: one SSO session ends.
    with browser(server) as web:
        session_tokens = sign_in(web, api, client, make_user(server))
    sid = session_tokens.claims["sid"]

    async def end(services: Services) -> None:
        session = await services.store.sessions.by_sid(sid)
        assert session is not None
        await end_session(services, session)

    server.call(end)

    # client: every token a client holds is cut off.
    server.call(
        lambda services: lifecycle.revoke_client_tokens(services, client.client_id, actor="t")
    )
    registered = server.call(lambda services: services.store.clients.get(client.client_id))
    assert registered is not None

    events = events_after(api, server, start)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    seen = [(e["kind"], e["value"]) for e in events]
    expected = [
        ("jti", machine_token.claims["jti"]),
        ("sub", disabled.id),
        ("jti", disabled_tokens.claims["jti"]),
        ("sid", disabled_tokens.claims["sid"]),
        ("jti", session_tokens.claims["jti"]),
        ("sid", sid),
        ("client", client.client_id),
    ]
    assert [item for item in seen if item in expected] == expected

    by_item = {(e["kind"], e["value"]): e for e in events}
    jti_event = by_item["jti", machine_token.claims["jti"]]
    assert jti_event["expires_at"] == machine_token.claims["exp"]
    sub_event = by_item["sub", disabled.id]
    # Tokens issued up to and including the second of the cut-off are dead.
    assert sub_event["not_before"] > disabled_tokens.claims["iat"]
    assert sub_event["expires_at"] >= sub_event["not_before"] - 1 + MAX_ACCESS_TOKEN_TTL
    client_event = by_item["client", client.client_id]
    assert client_event["not_before"] == registered.tokens_valid_after

    # Resuming from the last cursor repeats nothing.
    assert events_after(api, server, ids[-1]) == []


def test_the_cursor_resumes_without_repeats_and_limit_pages(
    server: LiveServer, api: httpx.Client
) -> None:
    start = head(api, server)
    values = [f"jti-{secrets.token_hex(6)}" for _ in range(5)]
    exp = clock.now() + 600
    add_events(server, *(RevocationEvent("jti", v, clock.now(), exp) for v in values))

    pages = []
    cursor = start
    while True:
        page = feed(api, server, after=cursor, limit=2)
        assert len(page["events"]) <= 2
        pages.append(page)
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert [p["more"] for p in pages] == [True, True, False]
    got = [e["value"] for p in pages for e in p["events"]]
    assert got == values
    assert all(p["cursor"] == p["events"][-1]["id"] for p in pages)


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "after=abc",
        "after=1.5",
        "after=",
        "after=%D9%A3",  # an Arabic-Indic three: a digit to str.isdigit, not to us
        "after=99999999999999999999",
        "after=9223372036854775808",
        "after=1&after=2",
        "limit=0",
        "limit=-5",
        "limit=ten",
        "limit=1e3",
    ],
)
def test_bad_parameters_give_400(api: httpx.Client, query: str) -> None:
    response = api.get(f"/revocations?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_a_limit_above_the_cap_is_capped(server: LiveServer, api: httpx.Client) -> None:
    start = head(api, server)
    now = clock.now()
    add_events(server, *(RevocationEvent("jti", f"cap-{i}", now, now + 600) for i in range(1001)))
    page = feed(api, server, after=start, limit=5000)
    assert len(page["events"]) == 1000 and page["more"] is True


def test_expired_events_are_purged_by_retention(server: LiveServer, api: httpx.Client) -> None:
    start = head(api, server)
    now = clock.now()
    gone, kept = f"jti-{secrets.token_hex(6)}", f"jti-{secrets.token_hex(6)}"
    add_events(
        server,
        RevocationEvent("jti", gone, now - 120, now - 60),
        RevocationEvent("jti", kept, now, now + 600),
    )
    assert [e["value"] for e in events_after(api, server, start)] == [gone, kept]

    counts = server.call(retention.purge)
    assert counts["revocation_events"] >= 1
    assert [e["value"] for e in events_after(api, server, start)] == [kept]
