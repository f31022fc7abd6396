"""The authorization code grant's one storage call, on SQLite and PostgreSQL.

A code this worker remembers is redeemed with one statement and one signature; when the
consuming statement finds that the remembered copy no longer holds (here: a role gate added
to one of its scopes since it was issued), the code is read back and decided again, and the
tokens already made are kept if the read grants the same, so a successful request still
signs once. Whatever it issues is what the code's row records, so a replay revokes it.
"""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.crypto.tokens import AUTHORIZATION_CODE_PREFIX, SESSION_PREFIX, digest, new_secret
from ostiary.domain.clients import Client
from ostiary.errors import OAuthError
from ostiary.oauth.grants.authorization_code import AuthorizationCodeGrant
from ostiary.oauth.grants.base import TokenRequest
from ostiary.services import Services
from ostiary.tokens.service import Grant, IssuedAccessToken
from tests.conftest import unique

pytestmark = pytest.mark.anyio

REDIRECT_URI = "https://app.example.com/cb"


class Signatures:
    """Counts the access tokens the token service signs."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[IssuedAccessToken] = []
        sign = services.tokens.access_token

        async def counting(grant: Grant) -> IssuedAccessToken:
            issued = await sign(grant)
            self.made.append(issued)
            return issued

        monkeypatch.setattr(services.tokens, "access_token", counting)


async def issue(services: Services, scopes: list[str]) -> tuple[str, Client, str]:
    """A code issued as a login issues it, remembered by this worker: (code, client, user)."""
    store = services.store
    await services.keys.ensure({services.settings.tokens.access_token_alg})
    user = await store.users.add(username=unique("redeemer"), email=None, password_hash=None)
    client = await store.clients.add(
        name="redeeming",
        secret_hash=digest("not-used"),
        public=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code"],
        scopes=scopes,
    )
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user.id, ttl=600
    )
    code = new_secret(AUTHORIZATION_CODE_PREFIX)
    assert await store.codes.add(
        code_hash=digest(code),
        client_id=client.client_id,
        user_id=user.id,
        session_hash=session.id_hash,
        redirect_uri=REDIRECT_URI,
        redirect_uri_given=True,
        scopes=scopes,
        code_challenge=None,
        auth_time=session.auth_time,
        ttl=60,
        sid=session.sid,
        remember=(user, session.expires_at),
    )
    return code, client, user.id


async def redeem(services: Services, code: str, client: Client) -> dict[str, Any]:
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    return await AuthorizationCodeGrant().handle(TokenRequest(params, client), services)


async def gate(services: Services, scope: str, *, held_by: str | None) -> None:
    """Gate ``scope`` behind a new role, given to ``held_by`` if named."""
    role = unique("role")
    await services.store.access.create_role(role)
    await services.store.access.set_scope_roles(scope, [role])
    if held_by is not None:
        await services.store.access.assign(held_by, role)


async def recorded_jti(services: Services, code: str) -> str | None:
    state = await services.store.codes.state(digest(code))
    assert state is not None
    return state.code.access_jti


@pytest.mark.parametrize("change", ["none", "gate-held", "gate-not-held"])
async def test_rfc6749_4_1_3_one_storage_call_and_the_signatures_it_takes(
    services: Services, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    scope = unique("scope")
    await services.store.access.create_scope(scope)
    code, client, user_id = await issue(services, ["read", scope])
    if change != "none":
        # Added after the code was issued: the remembered copy says the scope is ungated.
        await gate(services, scope, held_by=user_id if change == "gate-held" else None)
    signatures = Signatures(services, monkeypatch)

    body = await redeem(services, code, client)

    granted = body["scope"].split()
    if change == "gate-not-held":
        # The read grants less than the remembered copy did: the token is made anew.
        assert granted == ["read"] and len(signatures.made) == 2
    else:
        # Remembered and still valid, or read back granting the same: one signature.
        assert sorted(granted) == sorted(["read", scope]) and len(signatures.made) == 1
    sent = signatures.made[-1]
    assert body["access_token"] == sent.token
    assert await recorded_jti(services, code) == sent.jti


async def test_rfc6749_4_1_2_a_replay_is_refused_and_revokes_what_the_code_issued(
    services: Services,
) -> None:
    code, client, _ = await issue(services, ["read"])
    await redeem(services, code, client)
    jti = await recorded_jti(services, code)
    assert jti is not None

    with pytest.raises(OAuthError) as refused:
        await redeem(services, code, client)

    assert refused.value.error == "invalid_grant"
    assert "already used" in (refused.value.description or "")
    assert (await services.store.revocations.access_state(jti, None, None)).revoked


async def test_rfc6749_4_1_3_another_clients_code_is_invalid_and_stays_usable(
    services: Services,
) -> None:
    code, client, _ = await issue(services, ["read"])
    other, _, _ = await issue(services, ["read"])
    with pytest.raises(OAuthError, match="authorization code is invalid"):
        await redeem(services, other, client)
    assert "access_token" in await redeem(services, code, client)
