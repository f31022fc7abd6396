"""What must fail in OpenID Connect: forged ID tokens and hints, bad bearer tokens, bad requests.

OIDC Core 1.0 §3.1.2.1, §3.1.2.2, §3.1.3.7, §5.3.3, §5.5, §6; RFC 6750 §2-§3; RFC 9068 §4.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from ostiary import clock
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.tables import sessions
from ostiary.tokens import jwt_access, signed
from tests.conftest import LiveServer
from tests.e2e.helpers import RegisteredClient
from tests.e2e.oidc_helpers import (
    CALLBACK,
    BadSignatureError,
    ClaimsError,
    JsonWebKey,
    Provider,
    RelyingParty,
    Tokens,
    UnsupportedAlgorithmError,
    browser,
    http_client,
    http_get,
    http_post,
    jwt,
    make_oidc_client,
    make_oidc_user,
    visit,
)

CHALLENGE = re.compile(r'Bearer realm="[^"]+"(, (\w+)="[^"]*")*')


@pytest.fixture
def provider(server: LiveServer) -> Provider:
    return Provider.discover(server.base_url)


def code_flow(
    provider: Provider, web: httpx.Client, client: RegisteredClient, user: User, scope: str
) -> tuple[Tokens, str | None]:
    """The code flow through the pages; returns the tokens and the nonce sent."""
    with RelyingParty(provider, client, scope) as rp:
        request = rp.authorization()
        journey = visit(web, request.url, user.username)
        return rp.redeem(request, journey.location), request.nonce


def challenge_params(response: httpx.Response) -> dict[str, str]:
    """The auth-params of an RFC 6750 §3 Bearer challenge."""
    header = response.headers["www-authenticate"]
    assert CHALLENGE.fullmatch(header), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- the relying party rejects what it must (OIDC Core §3.1.3.7) --------------------------


def test_oidc_core_3_1_3_7_nonce_mismatch_is_detected_by_rp(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(nonce="the-nonce-this-rp-sent")
        tokens = rp.redeem(request, visit(web, request.url, user.username).location)
        assert tokens.id_token is not None
        # Control: the nonce the RP sent is accepted.
        rp.validate_id_token(tokens.id_token, nonce=request.nonce, access_token=None)
        # Step 11: a token minted for another request (another nonce) is refused.
        with pytest.raises(ClaimsError, match="nonce"):
            rp.validate_id_token(tokens.id_token, nonce="another-nonce", access_token=None)

        # A request without a nonce gets a token without one: an RP expecting one refuses.
        bare = rp.authorization(nonce=None)
        bare_tokens = rp.redeem(bare, visit(web, bare.url).location)
        assert bare_tokens.id_token is not None
        unsigned = orjson.loads(unb64(bare_tokens.id_token.split(".")[1]))
        assert "nonce" not in unsigned
        with pytest.raises(ClaimsError, match="nonce"):
            rp.validate_id_token(bare_tokens.id_token, nonce="expected", access_token=None)


def test_oidc_core_3_1_3_7_tampered_id_token_is_rejected_by_rp(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    other = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens, nonce = code_flow(provider, web, client, user, "openid")
        again, _ = code_flow(provider, web, client, user, "openid")
    assert tokens.id_token is not None
    header, payload, signature = tokens.id_token.split(".")
    claims = orjson.loads(unb64(payload))

    forged_payload = b64(orjson.dumps({**claims, "sub": "someone-else"}))
    flipped = unb64(signature)
    flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
    none_header = b64(orjson.dumps({**orjson.loads(unb64(header)), "alg": "none"}))

    with RelyingParty(provider, client, "openid") as rp:
        rp.validate_id_token(tokens.id_token, nonce=nonce, access_token=tokens.access_token)
        with pytest.raises(BadSignatureError):  # another subject, same signature
            rp.validate_id_token(f"{header}.{forged_payload}.{signature}", nonce=nonce,
                                 access_token=None)  # fmt: skip
        with pytest.raises(BadSignatureError):  # one bit of the signature flipped
            rp.validate_id_token(
                f"{header}.{payload}.{b64(flipped)}", nonce=nonce, access_token=None
            )
        with pytest.raises(UnsupportedAlgorithmError):  # alg=none, signature dropped
            rp.validate_id_token(f"{none_header}.{payload}.", nonce=nonce, access_token=None)
        # at_hash binds the ID token to its own access token only.
        with pytest.raises(ClaimsError, match="at_hash"):
            rp.validate_id_token(tokens.id_token, nonce=nonce, access_token=again.access_token)
    # Another client (aud) must not accept it.
    with RelyingParty(provider, other, "openid") as rp, pytest.raises(ClaimsError, match="aud"):
        rp.validate_id_token(tokens.id_token, nonce=nonce, access_token=None)


# -- id_token_hint must be one of this OP's ID tokens ------------------------------------


def forged_hints(server: LiveServer, provider: Provider, genuine: Tokens) -> dict[str, str]:
    """ID-token hints that are not ID tokens of this issuer, each forged another way."""
    assert genuine.id_token is not None
    header, payload, signature = genuine.id_token.split(".")
    claims: dict[str, Any] = orjson.loads(unb64(payload))
    ours_es256 = next(key["kid"] for key in provider.jwks()["keys"] if key["alg"] == "ES256")
    foreign = JsonWebKey.generate_key("EC", "P-256", is_private=True)

    def foreign_signed(kid: str, **changes: Any) -> str:
        token = jwt.encode(
            {"alg": "ES256", "typ": "JWT", "kid": kid}, {**claims, **changes}, foreign
        )
        return token.decode()

    async def other_issuer(services: Services) -> str:
        keys = await services.keys.fresh()
        return signed.sign(keys, "RS256", {**claims, "iss": "https://evil.example"}, "JWT")

    flipped = unb64(signature)
    flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
    return {
        "another issuer's key": foreign_signed("evil-key", iss="https://evil.example"),
        "a foreign key claiming our issuer": foreign_signed("evil-key"),
        "a foreign key under our kid": foreign_signed(ours_es256),
        "our key but another iss": server.call(other_issuer),
        "a broken signature": f"{header}.{payload}.{b64(flipped)}",
        "an access token": genuine.access_token,
    }


def test_oidc_core_3_1_2_2_forged_id_token_hint_is_refused(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True, post_logout_redirect_uris=[CALLBACK])
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens, _ = code_flow(provider, web, client, user, "openid")
        hints = forged_hints(server, provider, tokens)
        with RelyingParty(provider, client, "openid") as rp:
            for kind, hint in hints.items():
                # At /authorize: invalid_request back to the client (§3.1.2.2).
                request = rp.authorization(prompt="none", id_token_hint=hint)
                journey = visit(web, request.url)
                assert journey.pages == [], kind
                assert journey.query.get("error") == "invalid_request", kind
                assert journey.query["state"] == request.state, kind
                assert journey.query["iss"] == provider.issuer, kind
                assert "code" not in journey.query, kind

                # At /logout: an error page, no redirect, nobody signed out.
                response = web.get(
                    provider.endpoint("end_session_endpoint"),
                    params={"id_token_hint": hint, "post_logout_redirect_uri": CALLBACK},
                )
                assert response.status_code == 400, kind
                assert "location" not in response.headers, kind
                assert 'class="error"' in response.text, kind
            # Still signed in: the genuine hint works silently.
            request = rp.authorization(prompt="none", id_token_hint=tokens.id_token or "")
            assert "code" in visit(web, request.url).query


# -- UserInfo refuses bad bearer tokens (OIDC Core §5.3.3, RFC 6750 §3) ---------------------


def get_userinfo(provider: Provider, token: str) -> httpx.Response:
    return http_get(
        provider.endpoint("userinfo_endpoint"), headers={"Authorization": f"Bearer {token}"}
    )


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert challenge_params(response)["error"] == "invalid_token"
    assert response.json()["error"] == "invalid_token"
    assert response.headers["cache-control"] == "no-store"


def mint_access_token(server: LiveServer, client_id: str, user_id: str, **changes: Any) -> str:
    """An access token signed with the server's own key, with the claims it would carry."""
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": server.settings.issuer,
        "sub": user_id,
        "aud": server.settings.issuer,
        "exp": now + 300,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": "openid profile",
    }
    claims.update(changes)

    async def sign(services: Services) -> str:
        keys = await services.keys.fresh()
        return jwt_access.encode(keys, services.settings.tokens.access_token_alg, claims)

    return server.call(sign)


def test_oidc_core_5_3_3_userinfo_revoked_token_is_invalid_token(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens, _ = code_flow(provider, web, client, user, "openid profile")
    assert get_userinfo(provider, tokens.access_token).status_code == 200
    revoked = http_post(
        provider.endpoint("revocation_endpoint"),
        data={"token": tokens.access_token, "token_type_hint": "access_token"},
        auth=client.basic_auth(),
    )
    assert revoked.status_code == 200
    assert_invalid_token(get_userinfo(provider, tokens.access_token))


def test_rfc6750_3_1_userinfo_expired_token_is_invalid_token(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    user = make_oidc_user(server)
    now = clock.now()
    # Control: minted the same way but unexpired, the token is good.
    fresh = mint_access_token(server, client.client_id, user.id)
    assert get_userinfo(provider, fresh).json()["sub"] == user.id
    expired = mint_access_token(server, client.client_id, user.id, iat=now - 120, exp=now - 60)
    assert_invalid_token(get_userinfo(provider, expired))


def test_rfc6750_3_1_userinfo_without_token_is_a_bare_challenge(provider: Provider) -> None:
    endpoint = provider.endpoint("userinfo_endpoint")
    with http_client() as http:
        for response in (http.get(endpoint), http.post(endpoint, data={})):
            assert response.status_code == 401
            # §3.1: no authentication information, so no error code at all.
            params = challenge_params(response)
            assert "realm" in params
            assert "error" not in params


def test_oidc_core_5_3_1_userinfo_needs_the_openid_scope(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        # A plain OAuth request: no openid, so no ID token and no UserInfo.
        tokens, _ = code_flow(provider, web, client, user, "profile email")
    assert tokens.id_token is None
    response = get_userinfo(provider, tokens.access_token)
    assert response.status_code == 403
    params = challenge_params(response)
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "openid"


def test_rfc6750_2_userinfo_token_in_header_and_body_is_invalid_request(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    user = make_oidc_user(server)
    token = mint_access_token(server, client.client_id, user.id)
    response = http_post(
        provider.endpoint("userinfo_endpoint"),
        data={"access_token": token},
        headers={"Authorization": f"Bearer {token}"},
    )
    # §2: "MUST NOT use more than one method to transmit the token in each request".
    assert response.status_code == 400
    assert challenge_params(response)["error"] == "invalid_request"


def test_oidc_core_5_3_3_userinfo_refuses_disabled_user_and_id_token(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens, _ = code_flow(provider, web, client, user, "openid email")
    assert tokens.id_token is not None
    assert get_userinfo(provider, tokens.access_token).status_code == 200
    # RFC 9068 §4: an ID token (typ JWT) is no access token.
    assert_invalid_token(get_userinfo(provider, tokens.id_token))

    async def disable(services: Services) -> None:
        await services.store.users.set_disabled(user.id, True)

    server.call(disable)
    assert_invalid_token(get_userinfo(provider, tokens.access_token))


# -- the authorization request is checked before anything is shown -------------------------

BAD_REQUESTS = [
    pytest.param({"prompt": "bogus"}, "invalid_request", id="unknown-prompt"),
    pytest.param({"prompt": "none login"}, "invalid_request", id="prompt-none-with-login"),
    pytest.param({"prompt": "consent none"}, "invalid_request", id="prompt-none-with-consent"),
    pytest.param({"claims": '{"userinfo": {"email": '}, "invalid_request", id="claims-bad-json"),
    pytest.param({"claims": '["email"]'}, "invalid_request", id="claims-not-object"),
    pytest.param({"claims": '{"userinfo": ["email"]}'}, "invalid_request", id="claims-member"),
    pytest.param({"claims": '{"id_token": {"email": 1}}'}, "invalid_request", id="claims-spec"),
    pytest.param({"max_age": "soon"}, "invalid_request", id="max-age-word"),
    pytest.param({"max_age": "-1"}, "invalid_request", id="max-age-negative"),
    pytest.param({"max_age": "1.5"}, "invalid_request", id="max-age-fraction"),
    pytest.param(
        {"request_uri": "https://app.example.com/r/1"},
        "request_uri_not_supported",
        id="request-uri",
    ),
]


@pytest.mark.parametrize(("params", "error"), BAD_REQUESTS)
def test_oidc_core_3_1_2_6_bad_authentication_request_is_refused(
    server: LiveServer, provider: Provider, params: dict[str, str], error: str
) -> None:
    client = make_oidc_client(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(**params)
        journey = visit(web, request.url)
    # §3.1.2.6: back to the client, before any page is shown.
    assert journey.pages == []
    assert journey.location.startswith(CALLBACK + "?")
    query = journey.query
    assert query["error"] == error, query
    assert query["state"] == request.state
    assert query["iss"] == provider.issuer
    assert "code" not in query


def test_oidc_core_3_1_2_1_prompt_none_with_expired_max_age_is_login_required(
    server: LiveServer, provider: Provider
) -> None:
    """max_age=0 can never be met silently: the user must authenticate now."""
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization()
        rp.redeem(request, visit(web, request.url, user.username).location)

        async def age(services: Services) -> None:
            async with services.engine.begin() as conn:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.user_id == user.id)
                    .values(auth_time=sessions.c.auth_time - 120)
                )

        server.call(age)
        silent = rp.authorization(prompt="none", max_age="60")
        journey = visit(web, silent.url)
    assert journey.query["error"] == "login_required"
    assert journey.query["state"] == silent.state


def test_oidc_core_5_5_claims_parameter_size_is_bounded(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    # Over the claims limit (4096) while the whole request stays under the authorization
    # request's own limit (8 KiB, refused with an error page before the client is known).
    claims = orjson.dumps({"userinfo": {"x" * 4100: None}}).decode()
    assert len(claims) > 4096
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(claims=claims)
        journey = visit(web, request.url)
    assert journey.query["error"] == "invalid_request"
