"""Client credentials grant (RFC 6749 §4.4), on the in-memory store."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ostiary import clock
from ostiary.errors import OAuthError
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.grants.client_credentials import ClientCredentialsGrant
from ostiary.oauth.token_status import live_access_token
from ostiary.services import Services
from ostiary.tokens import service
from tests.unit.grants.world import register_app, token, token_error, verified

pytestmark = pytest.mark.anyio

SERVICE_GRANTS = ("client_credentials",)


async def test_rfc6749_s4_4_2_confidential_client_gets_an_access_token(
    services: Services,
) -> None:
    app = await register_app(
        services, grant_types=SERVICE_GRANTS, scopes=("read", "write"), redirect_uris=()
    )

    answer = await token(services, app, grant_type="client_credentials", scope="read")

    assert (answer["token_type"], answer["scope"]) == ("Bearer", "read")
    # RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
    assert "refresh_token" not in answer and "id_token" not in answer
    claims = await verified(services, answer["access_token"], "at+jwt")
    # RFC 9068 §2.2: with no resource owner, sub names the client.
    assert claims["sub"] == claims["client_id"] == app.client_id
    events = await services.store.audit.query(client_id=app.client_id)
    assert events == []  # token.issued is queued for the next batch, not written at once
    await services.audit.flush()
    events = await services.store.audit.query(client_id=app.client_id)
    assert [(e.type, e.details) for e in events] == [
        ("token.issued", {"grant_type": "client_credentials", "scope": "read"})
    ]


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        pytest.param(None, None, id="no-scope-asked"),
        pytest.param("read write", "read write", id="all-registered"),
        pytest.param("read read", "read", id="repeats-collapse"),
    ],
)
async def test_rfc6749_s3_3_scope_of_a_client_credentials_token(
    services: Services, scope: str | None, granted: str | None
) -> None:
    app = await register_app(
        services, grant_types=SERVICE_GRANTS, scopes=("read", "write"), redirect_uris=()
    )
    params = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})

    answer = await token(services, app, **params)

    assert answer.get("scope") == granted


@pytest.mark.parametrize("scope", ["admin", "read admin", 'read "quoted"'])
async def test_rfc6749_s5_2_invalid_scope_beyond_the_registration(
    services: Services, scope: str
) -> None:
    app = await register_app(
        services, grant_types=SERVICE_GRANTS, scopes=("read",), redirect_uris=()
    )

    refused = await token_error(services, app, grant_type="client_credentials", scope=scope)

    assert (refused.error, refused.status) == ("invalid_scope", 400)


async def test_rfc6749_s4_4_public_client_is_unauthorized(services: Services) -> None:
    """RFC 6749 §4.4: the grant MUST only be used by confidential clients (the grant checks
    it itself, whatever the registration allowed)."""
    public = await services.store.clients.add(
        name="spa",
        secret_hash=None,
        public=True,
        token_endpoint_auth_method="none",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["read"],
    )

    with pytest.raises(OAuthError) as refused:
        await ClientCredentialsGrant().handle(
            TokenRequest({"grant_type": "client_credentials"}, public), services
        )

    assert refused.value.error == "unauthorized_client"


async def test_rfc7009_s2_a_token_issued_in_the_revoked_second_waits_to_be_live(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client registered again under a chosen id has every token up to this second
    revoked (iat has second precision); a token issued in that second waits for the next
    one, even when the event loop wakes the wait a little early, so it is never born dead."""
    real_sleep = asyncio.sleep
    woken_early: list[float] = []

    async def early(delay: float) -> None:
        woken_early.append(delay)
        await real_sleep(max(0.0, delay - 0.05) if len(woken_early) == 1 else delay)

    monkeypatch.setattr(service, "asyncio", SimpleNamespace(sleep=early))
    app = await register_app(
        services,
        grant_types=SERVICE_GRANTS,
        scopes=("read",),
        redirect_uris=(),
        client_id="chosen-id",
    )
    assert app.client.tokens_valid_after > clock.now()

    answer = await token(services, app, grant_type="client_credentials", scope="read")

    claims = await verified(services, answer["access_token"], "at+jwt")
    assert claims["iat"] >= app.client.tokens_valid_after
    assert await live_access_token(services, answer["access_token"]) is not None
