"""Ostiary judged by pyoidc (``oic``), an OpenID Certified relying-party library.

pyoidc does its own validation throughout: it fetches and checks the provider
configuration (Discovery 1.0 §4, https issuer), builds the authorization request, parses
the response (state, RFC 9207 ``iss``), authenticates at the token endpoint, verifies the
ID token against the JWKS it loaded (OIDC Core §3.1.3.7), calls UserInfo, refreshes and
builds the end-session request (RP-Initiated Logout 1.0 §2). The test only walks the
person's browser through Ostiary's real login and consent pages, over TLS.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from oic.exception import NotForMe
from oic.oauth2.message import ErrorResponse, MissingRequiredAttribute, VerificationError
from oic.oic import Client
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationErrorResponse,
    AuthorizationRequest,
    AuthorizationResponse,
    BackChannelLogoutRequest,
    Claims,
    ClaimsRequest,
    EndSessionResponse,
    IdToken,
    LogoutToken,
    Message,
    OpenIDSchema,
    ProviderConfigurationResponse,
    RegistrationResponse,
    verify_id_token,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from oic.utils.settings import OicClientSettings

from ostiary.domain.users import User
from tests.conftest import LiveServer
from tests.e2e.certified_helpers import (
    LogoutReceiver,
    TLSFiles,
    logout_receiver,
    tls_browser,
    tls_files,
    tls_server,
)
from tests.e2e.helpers import RegisteredClient
from tests.e2e.oidc_helpers import (
    CALLBACK,
    PHONE,
    forms_of,
    make_oidc_client,
    make_oidc_user,
    visit,
)

__all__ = ["logout_receiver", "tls_files", "tls_server"]  # fixtures used by name below

BYE = "https://app.example.com/bye"


@dataclass
class Login:
    """One finished code flow, as pyoidc keeps it (by state)."""

    state: str
    nonce: str
    response: AccessTokenResponse
    location: str

    @property
    def id_token(self) -> IdToken:
        token = self.response["id_token"]
        assert isinstance(token, IdToken)
        return token


@pytest.fixture
def op(tls_server: LiveServer) -> LiveServer:
    return tls_server


@pytest.fixture
def web(op: LiveServer, tls_files: TLSFiles) -> Iterator[httpx.Client]:
    with tls_browser(op, tls_files) as client:
        yield client


def relying_party(
    op: LiveServer,
    tls: TLSFiles,
    registered: RegisteredClient,
    auth_method: str = "client_secret_basic",
) -> Client:
    """A pyoidc Client that knows only the issuer and its registration."""
    settings = OicClientSettings(verify_ssl=str(tls.ca), timeout=30)
    rp = Client(
        client_id=registered.client_id,
        client_authn_method=CLIENT_AUTHN_METHOD,
        settings=settings,
    )
    # Discovery 1.0 §4: pyoidc fetches the configuration and refuses an issuer mismatch;
    # §3 (https issuer, openid in scopes_supported, token_endpoint) checked by verify().
    configuration = rp.provider_config(op.base_url)
    assert configuration.verify()
    registration: dict[str, Any] = {
        "client_id": registered.client_id,
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": auth_method,
    }
    if registered.secret is not None:
        registration["client_secret"] = registered.secret
    rp.store_registration_info(RegistrationResponse(**registration))
    rp.redirect_uris = [CALLBACK]
    return rp


def authorize(
    rp: Client, web: httpx.Client, user: User, scope: str, **extra: str
) -> tuple[str, str, str, str]:
    """Code flow up to the callback: returns (state, nonce, verifier, callback URL)."""
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    pkce, verifier = rp.add_code_challenge()  # RFC 7636 §4.2: S256 by default
    assert pkce["code_challenge_method"] == "S256"
    args = {
        "client_id": rp.client_id,
        "response_type": "code",
        "scope": scope,
        "redirect_uri": CALLBACK,
        "state": state,
        "nonce": nonce,
        **pkce,
        **extra,
    }
    # request_info is the path do_authorization_request takes; it remembers state → nonce.
    url, _, _, _ = rp.request_info(AuthorizationRequest, method="GET", request_args=args)
    assert rp.state2nonce[state] == nonce
    journey = visit(web, url, user.username)
    return state, nonce, verifier, journey.location


def sign_in(
    rp: Client,
    web: httpx.Client,
    user: User,
    scope: str = "openid profile email phone address",
    auth_method: str = "client_secret_basic",
) -> Login:
    state, nonce, verifier, location = authorize(rp, web, user, scope)
    # RFC 6749 §4.1.2 / RFC 9207 §2.4: pyoidc checks iss against the discovered issuer.
    response = rp.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")
    assert isinstance(response, AuthorizationResponse), response.to_dict()
    assert response["state"] == state
    assert response["iss"] == rp.issuer
    tokens = rp.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier},
        authn_method=auth_method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    return Login(state, nonce, tokens, location)


def check_at_hash(rp: Client, tokens: AccessTokenResponse) -> IdToken:
    """OIDC Core §3.1.3.8: pyoidc's own at_hash check (it skips it for the token response)."""
    instance = Message(id_token=tokens["id_token_jwt"], access_token=tokens["access_token"])
    return verify_id_token(
        instance, check_hash=True, keyjar=rp.keyjar, iss=rp.issuer, client_id=rp.client_id
    )


# -- Discovery -------------------------------------------------------------------------


def test_discovery_4_provider_configuration_verified_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles
) -> None:
    rp = relying_party(op, tls_files, make_oidc_client(op))
    configuration = rp.provider_info
    assert isinstance(configuration, ProviderConfigurationResponse)
    # Discovery §4.3: the issuer returned is the one the RP asked for, exactly.
    assert configuration["issuer"] == op.base_url == rp.issuer
    assert rp.authorization_endpoint == f"{op.base_url}/authorize"
    # The JWKS named by jwks_uri was fetched and holds verification keys for this issuer.
    # (pyoidc logs "Wrong Content_type" for application/jwk-set+json, which is the media
    # type RFC 7517 §8.5.1 registers: the library is over-strict and only warns.)
    keys = rp.keyjar.get_issuer_keys(op.base_url)
    assert any(key.use in ("", "sig") for key in keys)
    assert "S256" in configuration["code_challenge_methods_supported"]
    assert "plain" not in configuration["code_challenge_methods_supported"]


# -- Core §3.1: authorization code flow -------------------------------------------------


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_core_3_1_3_7_id_token_validated_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client, auth_method: str
) -> None:
    registered = make_oidc_client(op, auth_method=auth_method)
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered, auth_method)
    login = sign_in(rp, web, user, auth_method=auth_method)

    # pyoidc verified signature (JWKS), iss, aud, azp, exp, iat and the nonce it stored,
    # and (IdToken is an OpenIDSchema) the §5.1 types of every standard claim released.
    claims = login.id_token
    assert claims["phone_number"] == PHONE
    assert claims["address"]["locality"] == "London"
    assert claims["iss"] == op.base_url
    assert claims["aud"] == [registered.client_id]
    assert claims["sub"] == user.id
    assert claims["nonce"] == login.nonce
    assert claims.get("azp", registered.client_id) == registered.client_id
    assert claims.jws_header["alg"] in rp.provider_info["id_token_signing_alg_values_supported"]
    assert "c_hash" not in claims  # a code-flow token response carries no code hash
    assert check_at_hash(rp, login.response)["at_hash"] == claims["at_hash"]
    # RFC 6749 §5.1: Bearer token type; RFC 6749 §5.1 / RFC 9700: the state is not echoed.
    assert login.response["token_type"].lower() == "bearer"


def test_core_3_1_3_7_nonce_mismatch_is_refused_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    """The nonce check is live: a nonce the RP did not send makes pyoidc refuse the token."""
    registered = make_oidc_client(op)
    rp = relying_party(op, tls_files, registered)
    state, _, verifier, location = authorize(rp, web, make_oidc_user(op), "openid")
    response = rp.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")
    rp.state2nonce[state] = "another-nonce"
    with pytest.raises(Exception, match="nonce"):
        rp.do_access_token_request(
            state=state, request_args={"code": response["code"], "code_verifier": verifier}
        )


def test_rfc9207_2_4_wrong_iss_in_authorization_response_is_refused_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    rp = relying_party(op, tls_files, make_oidc_client(op))
    _, _, _, location = authorize(rp, web, make_oidc_user(op), "openid")
    forged = location.replace("iss=https", "iss=https%3A%2F%2Fevil.example.com%2F")
    assert forged != location
    with pytest.raises(VerificationError, match="Issuer mismatch"):
        rp.parse_response(AuthorizationResponse, info=forged, sformat="urlencoded")


def test_form_post_response_mode_2_parsed_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    """OAuth 2.0 Form Post Response Mode §2: the response parameters as form fields."""
    rp = relying_party(op, tls_files, make_oidc_client(op))
    assert "form_post" in rp.provider_info["response_modes_supported"]
    state = secrets.token_urlsafe(16)
    pkce, verifier = rp.add_code_challenge()
    url, _, _, _ = rp.request_info(
        AuthorizationRequest,
        method="GET",
        request_args={
            "response_type": "code",
            "response_mode": "form_post",
            "scope": "openid",
            "redirect_uri": CALLBACK,
            "state": state,
            "nonce": secrets.token_urlsafe(8),
            **pkce,
        },
    )
    journey = visit(web, url, make_oidc_user(op).username)
    assert journey.response.status_code == 200, journey.response.text
    (form,) = forms_of(journey.response.text)
    assert form.action == CALLBACK
    assert form.method == "post"
    response = rp.parse_response(AuthorizationResponse, info=dict(form.inputs), sformat="dict")
    assert isinstance(response, AuthorizationResponse), response.to_dict()
    assert response["state"] == state
    assert response["iss"] == rp.issuer  # RFC 9207 §2: in form_post too
    tokens = rp.do_access_token_request(
        state=state, request_args={"code": response["code"], "code_verifier": verifier}
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()


def test_rfc6749_4_1_2_1_denied_consent_parsed_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    rp = relying_party(op, tls_files, make_oidc_client(op))
    user = make_oidc_user(op)
    state = secrets.token_urlsafe(16)
    pkce, _ = rp.add_code_challenge()
    url, _, _, _ = rp.request_info(
        AuthorizationRequest,
        method="GET",
        request_args={
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": CALLBACK,
            "state": state,
            "nonce": secrets.token_urlsafe(8),
            **pkce,
        },
    )
    journey = visit(web, url, user.username, decision="deny")
    response = rp.parse_response(AuthorizationResponse, info=journey.location, sformat="urlencoded")
    assert isinstance(response, AuthorizationErrorResponse), response.to_dict()
    assert response["error"] == "access_denied"
    assert response["state"] == state


def test_rfc6749_5_2_replayed_code_is_invalid_grant_for_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    rp = relying_party(op, tls_files, make_oidc_client(op))
    state, _, verifier, location = authorize(rp, web, make_oidc_user(op), "openid")
    code = rp.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")["code"]
    args = {"code": code, "code_verifier": verifier}
    first = rp.do_access_token_request(state=state, request_args=args)
    assert isinstance(first, AccessTokenResponse)
    second = rp.do_access_token_request(state=state, request_args=dict(args))
    assert isinstance(second, ErrorResponse), second.to_dict()
    assert second["error"] == "invalid_grant"


# -- Core §5.3: UserInfo -----------------------------------------------------------------


def test_core_5_3_userinfo_fetched_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered)
    login = sign_in(rp, web, user, "openid profile email address")
    # OpenIDSchema.verify checks the §5.1 types: booleans, numbers, the address object.
    info = rp.do_user_info_request(state=login.state)
    assert isinstance(info, OpenIDSchema), info.to_dict()
    # §5.3.2: sub MUST match the ID token's.
    assert info["sub"] == login.id_token["sub"] == user.id
    assert info["email"] == user.email
    assert info["email_verified"] is True
    assert info["name"] == "Ada Lovelace"
    assert isinstance(info["updated_at"], int)
    assert info["address"]["country"] == "GB"
    assert "phone_number" not in info  # §5.4: the phone scope was not asked for


# -- Core §12: refresh ---------------------------------------------------------------------


def test_core_12_2_refresh_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered)
    login = sign_in(rp, web, user, "openid offline_access")
    first_refresh = login.response["refresh_token"]
    refreshed = rp.do_access_token_refresh(state=login.state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    # RFC 9700 §4.14.2: a rotated refresh token.
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != login.response["access_token"]
    # §12.2: the new ID token, verified by pyoidc, keeps iss, sub, aud, auth_time, azp.
    new = refreshed["id_token"]
    assert isinstance(new, IdToken)
    old = login.id_token
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert new[claim] == old[claim], claim
    assert new.get("azp") == old.get("azp")
    check_at_hash(rp, refreshed)


# -- RFC 7636: public client -----------------------------------------------------------


def test_rfc7636_4_public_client_with_pkce_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    registered = make_oidc_client(op, public=True)
    assert registered.secret is None
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered, "none")
    state, nonce, verifier, location = authorize(rp, web, user, "openid")
    response = rp.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")
    # RFC 6749 §4.1.3: a client that does not authenticate sends its client_id.
    tokens = rp.do_access_token_request(
        state=state,
        request_args={
            "code": response["code"],
            "code_verifier": verifier,
            "client_id": registered.client_id,
        },
        authn_method="",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["id_token"]["nonce"] == nonce
    assert tokens["id_token"]["sub"] == user.id


def test_rfc7636_4_6_wrong_verifier_is_invalid_grant_for_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    registered = make_oidc_client(op, public=True)
    rp = relying_party(op, tls_files, registered, "none")
    state, _, _, location = authorize(rp, web, make_oidc_user(op), "openid")
    code = rp.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")["code"]
    _, other_verifier = rp.add_code_challenge()
    answer = rp.do_access_token_request(
        state=state,
        request_args={"code": code, "code_verifier": other_verifier, "client_id": rp.client_id},
        authn_method="",
    )
    assert isinstance(answer, ErrorResponse), answer.to_dict()
    assert answer["error"] == "invalid_grant"


# -- RP-Initiated Logout 1.0 --------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rp_initiated_logout_2_end_session_request_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client, method: str
) -> None:
    """§2: the OP supports GET and POST at the end-session endpoint."""
    registered = make_oidc_client(op, post_logout_redirect_uris=[BYE])
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered)
    login = sign_in(rp, web, user, "openid")
    assert "end_session_endpoint" in rp.provider_info

    logout_state = secrets.token_urlsafe(12)
    request = rp.construct_EndSessionRequest(
        state=login.state,
        request_args={"post_logout_redirect_uri": BYE, "state": logout_state},
    )
    # pyoidc put the raw ID token it received in as id_token_hint.
    assert request["id_token_hint"] == login.response["id_token_jwt"]
    if method == "GET":
        response = web.get(request.request(rp.end_session_endpoint))
    else:
        response = web.post(rp.end_session_endpoint, data=request.to_dict())
    # §3: redirected to the registered post_logout_redirect_uri with the RP's state.
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(BYE + "?")
    parsed = rp.parse_response(EndSessionResponse, info=location, sformat="urlencoded")
    assert parsed["state"] == logout_state

    # The OP session is over: prompt=none now gets login_required (OIDC Core §3.1.2.6).
    pkce, _ = rp.add_code_challenge()
    silent_state = secrets.token_urlsafe(12)
    url, _, _, _ = rp.request_info(
        AuthorizationRequest,
        method="GET",
        request_args={
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": CALLBACK,
            "state": silent_state,
            "nonce": secrets.token_urlsafe(8),
            "prompt": "none",
            **pkce,
        },
    )
    journey = visit(web, url)
    silent = rp.parse_response(AuthorizationResponse, info=journey.location, sformat="urlencoded")
    assert isinstance(silent, AuthorizationErrorResponse), silent.to_dict()
    assert silent["error"] == "login_required"
    assert silent["state"] == silent_state


# -- Core §3.1.3.7 step 6-7: every advertised algorithm pyoidc implements -------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_core_3_1_3_7_id_token_signing_alg_verified_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client, alg: str
) -> None:
    """OIDC Registration §2 id_token_signed_response_alg. (pyoidc has no EdDSA/OKP support,
    so EdDSA is left to the Authlib tests; pyoidc only logs "Unknown key type: OKP".)"""
    registered = make_oidc_client(op, id_token_signed_response_alg=alg)
    rp = relying_party(op, tls_files, registered)
    assert alg in rp.provider_info["id_token_signing_alg_values_supported"]
    login = sign_in(rp, web, make_oidc_user(op), "openid")
    assert login.id_token.jws_header["alg"] == alg
    # at_hash with the hash of that algorithm (§3.1.3.6), by pyoidc's left_hash.
    check_at_hash(rp, login.response)


# -- Back-Channel Logout 1.0 --------------------------------------------------------------


def test_backchannel_logout_2_6_logout_token_verified_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client, logout_receiver: LogoutReceiver
) -> None:
    registered = make_oidc_client(
        op,
        backchannel_logout_uri=logout_receiver.uri,
        backchannel_logout_session_required=True,
        post_logout_redirect_uris=[BYE],
    )
    user = make_oidc_user(op)
    rp = relying_party(op, tls_files, registered)
    assert rp.provider_info["backchannel_logout_supported"] is True
    assert rp.provider_info["backchannel_logout_session_supported"] is True
    login = sign_in(rp, web, user, "openid")
    # Back-Channel §2.4: the ID token carries sid when the client requires sessions.
    assert "sid" in login.id_token
    already = set(logout_receiver.received())

    request = rp.construct_EndSessionRequest(
        state=login.state, request_args={"post_logout_redirect_uri": BYE}
    )
    response = web.get(request.request(rp.end_session_endpoint))
    assert response.status_code in (302, 303), response.text

    deadline = time.monotonic() + 10
    while not (fresh := [t for t in logout_receiver.received() if t not in already]):
        assert time.monotonic() < deadline, "no logout token was delivered"
        time.sleep(0.05)
    assert len(fresh) == 1
    # §2.6 steps 1-9 as pyoidc implements them: signature against the JWKS, iss, aud,
    # iat, events member, sub or sid present, no nonce.
    message = BackChannelLogoutRequest(logout_token=fresh[0])
    assert message.verify(keyjar=rp.keyjar, iss=rp.issuer, aud=registered.client_id)
    token = message["logout_token"]
    assert isinstance(token, LogoutToken)
    assert token["sid"] == login.id_token["sid"]
    assert token["sub"] == user.id
    assert token["aud"] == [registered.client_id]
    # §2.4: jti REQUIRED; §4 encourages a short exp (at most two minutes), which Ostiary sets.
    assert token["jti"]
    assert 0 < token["exp"] - token["iat"] <= 120
    # §2.4: typ, when present, is logout+jwt.
    assert token.jws_header.get("typ", "logout+jwt") == "logout+jwt"


def test_backchannel_logout_2_6_wrong_audience_is_refused_by_pyoidc(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client, logout_receiver: LogoutReceiver
) -> None:
    """The audience check is live: the same token is not for another client."""
    registered = make_oidc_client(op, backchannel_logout_uri=logout_receiver.uri)
    rp = relying_party(op, tls_files, registered)
    login = sign_in(rp, web, make_oidc_user(op), "openid")
    already = set(logout_receiver.received())
    request = rp.construct_EndSessionRequest(state=login.state, request_args={})
    web.get(request.request(rp.end_session_endpoint))
    deadline = time.monotonic() + 10
    while not (fresh := [t for t in logout_receiver.received() if t not in already]):
        assert time.monotonic() < deadline, "no logout token was delivered"
        time.sleep(0.05)
    with pytest.raises(NotForMe):
        BackChannelLogoutRequest(logout_token=fresh[0]).verify(
            keyjar=rp.keyjar, iss=rp.issuer, aud="some-other-client"
        )


# -- Core §3.1.2.2 item 4 / §5.5.1: a sub value asked for ---------------------------------


def test_core_3_1_2_2_sub_value_of_another_user_gets_no_id_token_for_the_signed_in_one(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    signed_in, wanted = make_oidc_user(op), make_oidc_user(op)
    rp = relying_party(op, tls_files, registered)
    sign_in(rp, web, signed_in, "openid")  # the browser now has signed_in's session
    pkce, verifier = rp.add_code_challenge()
    state = secrets.token_urlsafe(16)
    url, _, _, _ = rp.request_info(
        AuthorizationRequest,
        method="GET",
        request_args={
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": CALLBACK,
            "state": state,
            "nonce": secrets.token_urlsafe(8),
            "prompt": "none",
            "claims": ClaimsRequest(id_token=Claims(sub={"value": wanted.id})),
            **pkce,
        },
    )
    journey = visit(web, url)
    response = rp.parse_response(AuthorizationResponse, info=journey.location, sformat="urlencoded")
    if isinstance(response, AuthorizationResponse):
        tokens = rp.do_access_token_request(
            state=state, request_args={"code": response["code"], "code_verifier": verifier}
        )
        # The OP MUST NOT reply with an ID token for a different user (§5.5.1).
        assert tokens["id_token"]["sub"] == wanted.id
    # wanted has no session and prompt=none forbids a login page: login_required.
    assert isinstance(response, AuthorizationErrorResponse), response.to_dict()
    assert response["error"] == "login_required"


# -- Core §3.1.2.1: redirect_uri is REQUIRED in an authentication request ------------------


def test_core_3_1_2_1_authentication_request_without_redirect_uri_is_refused(
    op: LiveServer, tls_files: TLSFiles, web: httpx.Client
) -> None:
    rp = relying_party(op, tls_files, make_oidc_client(op))
    pkce, _ = rp.add_code_challenge()
    args = {
        "client_id": rp.client_id,
        "response_type": "code",
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(8),
        **pkce,
    }
    # pyoidc's model of an OIDC authentication request has redirect_uri as required: it
    # will neither verify nor serialise one without it, so the URL is built by hand.
    with pytest.raises(MissingRequiredAttribute):
        AuthorizationRequest(**args).verify()
    with pytest.raises(MissingRequiredAttribute):
        AuthorizationRequest(**args).request(rp.authorization_endpoint)
    url = f"{rp.authorization_endpoint}?{urlencode(args)}"
    journey = visit(web, url, make_oidc_user(op).username)
    assert journey.response.status_code == 400, journey.response.headers.get("location")
    assert "location" not in journey.response.headers
