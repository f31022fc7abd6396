"""OpenID Connect through a real server, with Authlib as the relying party.

OIDC Discovery 1.0 §3-§4; OIDC Core 1.0 §3.1 (code flow), §5 (claims, UserInfo), §11
(offline access), §12 (refresh); OAuth 2.0 Form Post Response Mode; RFC 9207.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update

from ostiary import clock
from ostiary.domain.mfa import ACR_PWD
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.tables import sessions
from tests.conftest import LiveServer
from tests.e2e.oidc_helpers import (
    CALLBACK,
    PHONE,
    PROFILE,
    OpenIDProviderMetadata,
    Provider,
    RelyingParty,
    RPInitiatedMetadata,
    Tokens,
    browser,
    forms_of,
    http_client,
    http_get,
    make_oidc_client,
    make_oidc_user,
    scripts_of,
    visit,
)

PROFILE_CLAIMS = {"name", "given_name", "family_name", "preferred_username", "updated_at"}
EMAIL_CLAIMS = {"email", "email_verified"}
PHONE_CLAIMS = {"phone_number", "phone_number_verified"}
ADDRESS_CLAIMS = {"address"}
# Every claim a scope could release; what was not granted must not show up.
SCOPED_CLAIMS = PROFILE_CLAIMS | EMAIL_CLAIMS | PHONE_CLAIMS | ADDRESS_CLAIMS | {"locale"}


@pytest.fixture
def provider(server: LiveServer) -> Provider:
    return Provider.discover(server.base_url)


def login_flow(
    web: httpx.Client,
    rp: RelyingParty,
    user: User,
    **extra: str,
) -> tuple[Tokens, dict[str, Any], list[str]]:
    """Authorize in ``web`` (signing in / consenting as asked), redeem, validate the ID token.

    Returns the tokens, the ID token claims Authlib accepted, and the pages shown.
    """
    request = rp.authorization(**extra)
    journey = visit(web, request.url, user.username)
    assert journey.query.get("state") == request.state
    tokens = rp.redeem(request, journey.location)
    assert tokens.id_token is not None, tokens.raw
    claims = rp.validate_id_token(
        tokens.id_token, nonce=request.nonce, access_token=tokens.access_token
    )
    return tokens, dict(claims), journey.pages


def userinfo(provider: Provider, access_token: str) -> dict[str, Any]:
    response = http_get(
        provider.endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- Discovery -----------------------------------------------------------------------


def test_oidc_discovery_3_4_provider_metadata(server: LiveServer, provider: Provider) -> None:
    meta = provider.metadata
    # Discovery §4.3: issuer identical to the URL the configuration was fetched under.
    assert meta["issuer"] == server.base_url
    assert provider.config_url == meta["issuer"] + "/.well-known/openid-configuration"
    # Authlib's own reading of Discovery §3 and RP-Initiated Logout §2.1.
    OpenIDProviderMetadata(meta).validate(metadata_classes=[RPInitiatedMetadata])

    assert meta["response_types_supported"] == ["code"]
    assert "form_post" in meta["response_modes_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["request_uri_parameter_supported"] is False
    assert meta["request_parameter_supported"] is True  # RFC 9101, signed objects only
    assert meta["claims_parameter_supported"] is True
    assert {"openid", "profile", "email", "phone", "address", "offline_access"} <= set(
        meta["scopes_supported"]
    )
    assert meta["subject_types_supported"] == ["public"]
    assert "S256" in meta["code_challenge_methods_supported"]
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[name].startswith(meta["issuer"] + "/"), name

    # Every advertised endpoint is there and answers its method (no 404/405, no 5xx).
    with http_client() as http:
        gets = ("authorization_endpoint", "userinfo_endpoint", "end_session_endpoint")
        posts = ("token_endpoint", "revocation_endpoint", "introspection_endpoint")
        for name in gets:
            status = http.get(meta[name]).status_code
            assert status in (200, 400, 401), (name, status)
        for name in posts:
            status = http.post(meta[name], data={}).status_code
            assert status in (400, 401), (name, status)
        jwks = http.get(meta["jwks_uri"])
        assert jwks.status_code == 200
        keys = jwks.json()["keys"]
    # Each advertised ID-token algorithm has a published key.
    published = {key.get("alg") for key in keys}
    assert set(meta["id_token_signing_alg_values_supported"]) <= published


# -- The code flow and the ID token --------------------------------------------------


def test_oidc_core_3_1_3_7_id_token_validated_by_authlib(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    user = make_oidc_user(server)
    # OIDC Core §3.1.2.1: the nonce is opaque; it must come back byte for byte.
    nonce = "n-0S6_WzA2Mj ü+/=?&%"
    with browser(server) as web, RelyingParty(provider, client, "openid profile") as rp:
        before = clock.now()
        request = rp.authorization(nonce=nonce)
        journey = visit(web, request.url, user.username)
        after = clock.now()
        assert journey.pages == ["login", "consent"]
        # RFC 9207 §2: iss in the response, identical to the discovered issuer.
        assert journey.query["iss"] == provider.issuer
        tokens = rp.redeem(request, journey.location)
        assert tokens.id_token is not None
        claims = rp.validate_id_token(
            tokens.id_token, nonce=nonce, access_token=tokens.access_token
        )
        header = claims.header
        assert header["alg"] == "RS256"  # OIDC Core §15.1 default
        assert header["kid"] in {key["kid"] for key in provider.jwks()["keys"]}

        assert claims["iss"] == provider.issuer == server.base_url
        assert claims["aud"] == client.client_id
        assert claims["sub"] == user.id
        assert claims["nonce"] == nonce
        assert "at_hash" in claims  # and Authlib checked it against the access token
        assert claims["iat"] <= claims["exp"]
        assert claims["exp"] - claims["iat"] == server.settings.oidc.id_token_ttl
        assert before <= claims["auth_time"] <= after
        assert isinstance(claims["sid"], str) and claims["sid"]
        assert claims["amr"] == ["pwd"]
        assert claims["acr"] == ACR_PWD  # one factor: the password

        # Single sign-on: no page at all, and the ID token says the session was reused.
        again = rp.authorization()
        sso = visit(web, again.url)
        assert sso.pages == []
        tokens2 = rp.redeem(again, sso.location)
        assert tokens2.id_token is not None
        reused = rp.validate_id_token(
            tokens2.id_token, nonce=again.nonce, access_token=tokens2.access_token
        )
        assert reused["acr"] == ACR_PWD
        assert reused["auth_time"] == claims["auth_time"]
        assert reused["sid"] == claims["sid"]
        assert reused["sub"] == claims["sub"]
        assert reused["nonce"] == again.nonce != nonce


@pytest.mark.parametrize(
    "alg",
    [
        "ES256",
        "PS256",
        # joserfc >= 1.8 warns on every EdDSA signature (RFC 9864 deprecates the name in
        # favour of Ed25519); the suite turns warnings into errors, also in the server.
        "EdDSA",
    ],
)
def test_oidc_core_3_1_3_7_id_token_signed_response_alg_is_honoured(
    server: LiveServer, provider: Provider, alg: str
) -> None:
    """OIDC Registration §2 id_token_signed_response_alg; at_hash uses that alg's hash."""
    client = make_oidc_client(
        server, id_token_signed_response_alg=alg, id_token_ttl=300, first_party=True
    )
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        tokens, claims, _ = login_flow(web, rp, user)
    assert tokens.id_token is not None
    header = orjson.loads(_b64(tokens.id_token.split(".")[0]))
    assert header["alg"] == alg
    assert alg in provider.metadata["id_token_signing_alg_values_supported"]
    assert claims["sub"] == user.id
    assert "at_hash" in claims
    assert claims["exp"] - claims["iat"] == 300  # the client's own ID-token lifetime


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- UserInfo and claims ---------------------------------------------------------------


def test_oidc_core_5_3_1_userinfo_get_bearer_and_post_form(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    scope = "openid profile email phone address"
    with browser(server) as web, RelyingParty(provider, client, scope) as rp:
        tokens, id_claims, _ = login_flow(web, rp, user)
    endpoint = provider.endpoint("userinfo_endpoint")
    with http_client() as http:
        # RFC 6750 §2.1: the Authorization header.
        got = http.get(endpoint, headers={"Authorization": f"Bearer {tokens.access_token}"})
        # RFC 6750 §2.2: the form-encoded body of a POST.
        posted = http.post(endpoint, data={"access_token": tokens.access_token})
    for response in (got, posted):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["cache-control"] == "no-store"
    info = got.json()
    assert posted.json() == info
    # OIDC Core §5.3.2: sub is the ID token's sub.
    assert info["sub"] == id_claims["sub"] == user.id
    assert set(info) == {"sub"} | PROFILE_CLAIMS | EMAIL_CLAIMS | PHONE_CLAIMS | ADDRESS_CLAIMS
    assert info["name"] == PROFILE["name"]
    assert info["given_name"] == PROFILE["given_name"]
    assert info["family_name"] == PROFILE["family_name"]
    assert info["preferred_username"] == user.username
    assert info["updated_at"] == user.updated_at
    assert info["email"] == user.email
    assert info["email_verified"] is True
    assert info["phone_number"] == PHONE
    assert info["phone_number_verified"] is False
    assert info["address"] == PROFILE["address"]


def test_oidc_core_5_4_only_claims_of_granted_scopes(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid email") as rp:
        tokens, id_claims, _ = login_flow(web, rp, user)
    info = userinfo(provider, tokens.access_token)
    assert set(info) == {"sub"} | EMAIL_CLAIMS
    assert info["email"] == user.email
    # Nothing of profile, phone or address in the ID token either.
    assert not (set(id_claims) & (SCOPED_CLAIMS - EMAIL_CLAIMS))


def test_oidc_core_5_5_claims_request_parameter(server: LiveServer, provider: Provider) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    claims_request = {
        "userinfo": {"email": None, "given_name": {"essential": True}},
        "id_token": {"phone_number": None, "x-not-a-claim": None},
    }
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        claims = orjson.dumps(claims_request).decode()
        tokens, id_claims, _ = login_flow(web, rp, user, claims=claims)
    info = userinfo(provider, tokens.access_token)
    # §5.5: the claims asked for UserInfo, without the email or profile scope...
    assert info == {"sub": user.id, "email": user.email, "given_name": PROFILE["given_name"]}
    # ...and those asked for the ID token go there; unknown names are ignored.
    assert id_claims["phone_number"] == PHONE
    assert "x-not-a-claim" not in id_claims
    assert not ({"email", "given_name", "name"} & set(id_claims))


# -- Refresh and offline access ----------------------------------------------------------


def test_oidc_core_12_2_refresh_returns_new_id_token(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid offline_access") as rp:
        tokens, first, _ = login_flow(web, rp, user)
        assert tokens.refresh_token is not None  # OIDC Core §11: offline_access
        refreshed = rp.refresh(tokens.refresh_token)
        assert refreshed.id_token is not None
        assert refreshed.refresh_token not in (None, tokens.refresh_token)
        # §12.2: validated like the first one, but there is no nonce to compare.
        second = rp.validate_id_token(
            refreshed.id_token, nonce=None, access_token=refreshed.access_token
        )
    assert "nonce" not in second
    assert second["iss"] == first["iss"]
    assert second["sub"] == first["sub"]
    assert second["aud"] == first["aud"]
    assert second["auth_time"] == first["auth_time"]
    assert second["iat"] >= first["iat"]
    assert second["jti"] != first["jti"]
    assert second["acr"] == first["acr"]


def test_oidc_core_11_refresh_token_needs_offline_access_or_session_binding(
    server: LiveServer, provider: Provider
) -> None:
    plain = make_oidc_client(server, first_party=True)
    bound = make_oidc_client(server, first_party=True, session_refresh_tokens=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        with RelyingParty(provider, plain, "openid profile") as rp:
            tokens, _, _ = login_flow(web, rp, user)
            assert tokens.refresh_token is None, tokens.raw
        with RelyingParty(provider, bound, "openid profile") as rp:
            tokens, claims, pages = login_flow(web, rp, user)
            assert pages == []
            assert tokens.refresh_token is not None
            refreshed = rp.refresh(tokens.refresh_token)
            assert refreshed.id_token is not None
            again = rp.validate_id_token(
                refreshed.id_token, nonce=None, access_token=refreshed.access_token
            )
            assert again["sub"] == claims["sub"]
            # Bound to the session: the refreshed ID token names the same session.
            assert again["sid"] == claims["sid"]


# -- Form Post Response Mode -------------------------------------------------------------


def test_form_post_response_mode_2_auto_submitting_form(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        # A state with markup in it must come back as data, not as HTML.
        state = 'st"><script>alert(1)</script>&amp;'
        request = rp.authorization(response_mode="form_post", state=state)
        journey = visit(web, request.url, user.username)
        response = journey.response
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "location" not in response.headers
        assert response.headers["cache-control"] == "no-store"
        (form,) = forms_of(response.text)
        assert form.method == "post"
        assert form.action == CALLBACK
        assert set(form.inputs) == {"code", "state", "iss"}
        assert form.inputs["state"] == request.state == state
        assert form.inputs["iss"] == provider.issuer
        assert "<script>alert(1)" not in response.text
        # The only script runs by its nonce, which the CSP names (and nothing else may).
        csp = response.headers["content-security-policy"]
        (script,) = scripts_of(response.text)
        assert script.get("nonce")
        assert f"script-src 'nonce-{script['nonce']}'" in csp
        assert "default-src 'none'" in csp
        tokens = rp.redeem_code(request, form.inputs["code"])
        assert tokens.id_token is not None
        rp.validate_id_token(tokens.id_token, nonce=request.nonce, access_token=tokens.access_token)


def test_form_post_response_mode_2_errors_are_posted_too(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(response_mode="form_post", prompt="none")
        response = web.get(request.url)
    assert response.status_code == 200
    (form,) = forms_of(response.text)
    assert form.action == CALLBACK
    assert form.inputs["error"] == "login_required"
    assert form.inputs["state"] == request.state
    assert form.inputs["iss"] == provider.issuer


# -- prompt, max_age, login_hint, id_token_hint (OIDC Core §3.1.2.1) ----------------------


def test_oidc_core_3_1_2_1_prompt_none_without_session_is_login_required(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(prompt="none")
        journey = visit(web, request.url)
    assert journey.pages == []
    assert journey.location.startswith(CALLBACK + "?")
    query = journey.query
    assert query["error"] == "login_required"
    assert query["state"] == request.state
    assert query["iss"] == provider.issuer
    assert "code" not in query


def test_oidc_core_3_1_2_1_prompt_none_with_session_and_consent_issues_code(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    other = make_oidc_client(server)
    user = make_oidc_user(server)
    with browser(server) as web:
        with RelyingParty(provider, client, "openid profile") as rp:
            _, first, pages = login_flow(web, rp, user)
            assert pages == ["login", "consent"]
            # Signed in, consent remembered: a code without any page.
            _, silent, pages = login_flow(web, rp, user, prompt="none")
            assert pages == []
            assert silent["sub"] == first["sub"]
            assert silent["acr"] == ACR_PWD
            # More scope than was consented to: consent_required, not a page.
            request = rp.authorization(prompt="none", scope="openid profile email")
            journey = visit(web, request.url)
            assert journey.pages == []
            assert journey.query["error"] == "consent_required"
            assert journey.query["state"] == request.state
        # Signed in but never consented to this client: consent_required.
        with RelyingParty(provider, other, "openid") as rp:
            request = rp.authorization(prompt="none")
            journey = visit(web, request.url)
            assert journey.pages == []
            assert journey.query["error"] == "consent_required"
            assert journey.query["iss"] == provider.issuer


def test_oidc_core_3_1_2_1_prompt_login_forces_login(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        _, first, _ = login_flow(web, rp, user)
        _, again, pages = login_flow(web, rp, user, prompt="login")
    # Signed in and consented, yet asked for the password; no consent page.
    assert pages == ["login"]
    assert again["acr"] == ACR_PWD
    assert again["auth_time"] >= first["auth_time"]
    assert again["sub"] == first["sub"]


def test_oidc_core_3_1_2_1_prompt_consent_forces_consent(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        _, _, pages = login_flow(web, rp, user)
        assert pages == ["login", "consent"]
        _, _, pages = login_flow(web, rp, user)
        assert pages == []
        _, claims, pages = login_flow(web, rp, user, prompt="consent")
    assert pages == ["consent"]
    assert claims["acr"] == ACR_PWD  # consent asked again, but no new authentication


def _start_of_a_second() -> None:
    """Wait until early in a wall-clock second, so the next few steps share one second."""
    fraction = time.time() % 1
    if fraction > 0.3:
        time.sleep(1.01 - fraction)


def _set_auth_time(server: LiveServer, sid: str, auth_time: int) -> None:
    async def change(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.sid == sid).values(auth_time=auth_time)
            )

    server.call(change)


def test_oidc_core_3_1_2_1_max_age_zero_forces_login(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        _, first, pages = login_flow(web, rp, user)
        assert pages == ["login"]
        # The user authenticated in this very second (as right after a login): the
        # elapsed time is 0, yet max_age=0 means "always" (OIDC Core §3.1.2.1, errata 2).
        _start_of_a_second()
        _set_auth_time(server, first["sid"], clock.now())
        request = rp.authorization(max_age="0")
        journey = visit(web, request.url, user.username)
    assert journey.pages == ["login"]


def test_oidc_core_3_1_2_1_max_age_reauthenticates_an_old_session(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        _, first, _ = login_flow(web, rp, user)
        sid = first["sid"]

        # Within max_age: single sign-on, auth_time unchanged.
        _, recent, pages = login_flow(web, rp, user, max_age="3600")
        assert pages == []
        assert recent["auth_time"] == first["auth_time"]

        # The user signed in ten minutes ago.
        _set_auth_time(server, sid, first["auth_time"] - 600)
        before = clock.now()
        request = rp.authorization(max_age="60")
        journey = visit(web, request.url, user.username)
        assert journey.pages == ["login"]
        tokens = rp.redeem(request, journey.location)
        assert tokens.id_token is not None
        # Authlib insists on auth_time when max_age was sent (§3.1.2.1).
        claims = rp.validate_id_token(
            tokens.id_token, nonce=request.nonce, access_token=tokens.access_token, max_age=60
        )
    assert claims["auth_time"] >= before
    assert claims["auth_time"] > first["auth_time"] - 600
    assert claims["acr"] == ACR_PWD


def test_oidc_core_3_1_2_1_login_hint_prefills_username(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server)
    hint = 'ada@example.com"><script>alert(1)</script>'
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization(login_hint=hint)
        page = web.get(request.url)
    assert page.status_code == 200
    login = next(form for form in forms_of(page.text) if "password" in form.inputs)
    assert login.inputs["username"] == hint
    assert "<script>alert(1)" not in page.text  # escaped, not markup


def test_oidc_core_3_1_2_1_id_token_hint_with_prompt_none(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True)
    alice = make_oidc_user(server)
    bob = make_oidc_user(server)
    with browser(server) as web_b, RelyingParty(provider, client, "openid") as rp:
        bob_tokens, _, _ = login_flow(web_b, rp, bob)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        tokens, claims, _ = login_flow(web, rp, alice)
        assert tokens.id_token is not None and bob_tokens.id_token is not None

        # The signed-in user's own ID token as the hint: silently a code.
        request = rp.authorization(prompt="none", id_token_hint=tokens.id_token)
        journey = visit(web, request.url)
        assert journey.pages == []
        silent = rp.redeem(request, journey.location)
        assert silent.id_token is not None
        hinted = rp.validate_id_token(
            silent.id_token, nonce=request.nonce, access_token=silent.access_token
        )
        assert hinted["sub"] == claims["sub"] == alice.id

        # Someone else's: the OP cannot silently answer for them.
        request = rp.authorization(prompt="none", id_token_hint=bob_tokens.id_token)
        journey = visit(web, request.url)
        assert journey.pages == []
        assert journey.query["error"] == "login_required"
        assert journey.query["state"] == request.state
        assert "code" not in journey.query
