"""OIDC authorization request parameters end to end (OIDC Core §3.1.2.1, §3.1.2.6, §5.5,
OAuth 2.0 Form Post Response Mode) and the login/consent decision, on SQLite and PostgreSQL.

The database is shared with the rest of the run, so every test registers its own uniquely
named client and user.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from ostiary import clock
from ostiary.accounts.signin import SignedIn
from ostiary.crypto.tokens import SESSION_PREFIX, digest, new_secret
from ostiary.domain.clients import Client
from ostiary.domain.mfa import ACR_MFA, ACR_PWD
from ostiary.domain.users import User
from ostiary.errors import AuthorizationError, UnsafeRedirectError
from ostiary.oauth.authorize import AuthorizationRequest, validate
from ostiary.oidc.prompt import Step, must_log_in, next_step
from ostiary.services import Services
from ostiary.tokens import signed
from tests.conftest import unique

pytestmark = pytest.mark.anyio

REDIRECT = "https://rp.example.com/callback"
SCOPES = ["openid", "profile", "email", "offline_access"]


async def add_client(services: Services, *, first_party: bool = False) -> Client:
    return await services.store.clients.add(
        client_id=unique("oidc-rp"),
        name="OIDC prompt RP",
        secret_hash=digest("not-used"),
        public=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        scopes=SCOPES,
        first_party=first_party,
    )


async def add_user(services: Services) -> User:
    return await services.store.users.add(
        username=unique("oidc-user"), email=None, password_hash=None
    )


async def sign_in(services: Services, user: User) -> SignedIn:
    session = await services.store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user.id, ttl=3600
    )
    return SignedIn(session, user)


def params(client: Client, **extra: str) -> dict[str, str]:
    values = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-0S6_WzA2Mj",
    }
    values.update(extra)
    return values


async def refused(services: Services, values: dict[str, str]) -> AuthorizationError:
    with pytest.raises(AuthorizationError) as info:
        await validate(services, values)
    error = info.value
    # Every error after the client and redirect URI checks goes back to the client.
    assert error.redirect_uri == REDIRECT
    assert error.state == values.get("state")
    return error


async def request_for(services: Services, client: Client, **extra: str) -> AuthorizationRequest:
    _, request = await validate(services, params(client, **extra))
    return request


async def hint(services: Services, claims: dict[str, Any], typ: str = "JWT") -> str:
    await services.keys.ensure(services.signing_algs())
    return signed.sign(services.keys, "RS256", claims, typ)


def id_token_claims(services: Services, client: Client, sub: str, **extra: Any) -> dict[str, Any]:
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": services.settings.issuer,
        "sub": sub,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(extra)
    return claims


# -- prompt (§3.1.2.1) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (None, ()),
        ("", ()),
        ("none", ("none",)),
        ("login", ("login",)),
        ("consent", ("consent",)),
        ("select_account", ("select_account",)),
        ("login consent", ("login", "consent")),
        ("consent  login", ("consent", "login")),
        ("login consent select_account", ("login", "consent", "select_account")),
    ],
)
async def test_oidc_core_3_1_2_1_prompt_values_are_parsed(
    services: Services, prompt: str | None, expected: tuple[str, ...]
) -> None:
    client = await add_client(services)
    extra = {} if prompt is None else {"prompt": prompt}
    request = await request_for(services, client, **extra)
    assert request.prompt == expected
    assert request.openid


@pytest.mark.parametrize(
    "prompt", ["none login", "none consent", "login none", "consent none select_account"]
)
async def test_oidc_core_3_1_2_1_prompt_none_with_another_value_is_invalid_request(
    services: Services, prompt: str
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, prompt=prompt))
    assert error.error == "invalid_request"
    assert error.response_mode == "query"


@pytest.mark.parametrize("prompt", ["bogus", "Login", "NONE", "login create", "consent,login"])
async def test_oidc_core_3_1_2_1_unknown_prompt_value_is_invalid_request(
    services: Services, prompt: str
) -> None:
    client = await add_client(services)
    assert (await refused(services, params(client, prompt=prompt))).error == "invalid_request"


# -- max_age (§3.1.2.1) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_age", "expected"), [("0", 0), ("1", 1), ("3600", 3600), ("9999999999", 9999999999)]
)
async def test_oidc_core_3_1_2_1_max_age_non_negative_integers_are_accepted(
    services: Services, max_age: str, expected: int
) -> None:
    client = await add_client(services)
    assert (await request_for(services, client, max_age=max_age)).max_age == expected


async def test_oidc_core_3_1_2_1_max_age_absent_is_none(services: Services) -> None:
    client = await add_client(services)
    assert (await request_for(services, client)).max_age is None


@pytest.mark.parametrize(
    "max_age",
    [
        "-1",
        "1e3",
        " 5",
        "5 ",
        "+5",
        "",
        "1.5",
        "0x10",
        "\u0663",
        "\uff15",
        "99999999999",
        "9" * 400,
    ],
)
async def test_oidc_core_3_1_2_1_malformed_max_age_is_invalid_request(
    services: Services, max_age: str
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, max_age=max_age))
    assert error.error == "invalid_request"


# -- claims (§5.5) -----------------------------------------------------------------------------


async def test_oidc_core_5_5_claims_parameter_is_parsed_into_the_request(
    services: Services,
) -> None:
    client = await add_client(services)
    request = await request_for(
        services,
        client,
        claims='{"userinfo": {"email": {"essential": true}, "shoe": null}, "id_token": null}',
    )
    assert request.claims == {"userinfo": {"email": {"essential": True}}}
    # The request survives being stored for the login/consent interaction.
    assert AuthorizationRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    "claims",
    ["{", "[]", "null", '{"userinfo": 1}', '{"id_token": {"email": true}}', " " * 5000 + "{}"],
)
async def test_oidc_core_5_5_bad_claims_parameter_is_invalid_request(
    services: Services, claims: str
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, claims=claims))
    assert error.error == "invalid_request"


# -- response_mode (Form Post Response Mode §2; OAuth 2.0 Multiple Response Types §2.1) --------


async def test_form_post_response_mode_is_kept(services: Services) -> None:
    client = await add_client(services)
    assert (await request_for(services, client)).response_mode == "query"
    assert (await request_for(services, client, response_mode="form_post")).response_mode == (
        "form_post"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"prompt": "bogus"},
        {"max_age": "-1"},
        {"claims": "{"},
        {"scope": "openid admin"},
        {"response_type": "token"},
        {"id_token_hint": "garbage"},
        {"request_uri": "https://rp.example.com/req"},
    ],
)
async def test_form_post_errors_are_delivered_by_form_post(
    services: Services, extra: dict[str, str]
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, response_mode="form_post", **extra))
    assert error.response_mode == "form_post"


@pytest.mark.parametrize("mode", ["fragment", "web_message", "jwt", "FORM_POST", ""])
async def test_multiple_response_types_2_1_unknown_response_mode_errors_by_query(
    services: Services, mode: str
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, response_mode=mode))
    assert error.error == "invalid_request"
    assert error.response_mode == "query"


async def test_rfc6749_4_1_2_1_unknown_client_is_never_redirected_to(services: Services) -> None:
    values = params(await add_client(services), response_mode="form_post", prompt="bogus")
    values["client_id"] = unique("no-such-client")
    with pytest.raises(UnsafeRedirectError):
        await validate(services, values)


# -- id_token_hint (§3.1.2.1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 9000]
)
async def test_oidc_core_3_1_2_1_garbage_id_token_hint_is_invalid_request(
    services: Services, token: str
) -> None:
    client = await add_client(services)
    error = await refused(services, params(client, id_token_hint=token))
    assert error.error == "invalid_request"


async def test_oidc_core_3_1_2_1_valid_id_token_hint_gives_its_subject(services: Services) -> None:
    client = await add_client(services)
    user = await add_user(services)
    token = await hint(services, id_token_claims(services, client, user.id))
    assert (await request_for(services, client, id_token_hint=token)).id_token_hint_sub == user.id


async def test_oidc_core_3_1_2_1_expired_id_token_hint_is_still_accepted(
    services: Services,
) -> None:
    """§3.1.2.1: the hint identifies the user; an expired ID token does that as well."""
    client = await add_client(services)
    user = await add_user(services)
    long_ago = clock.now() - 30 * 86400
    claims = id_token_claims(services, client, user.id, iat=long_ago, exp=long_ago + 300)
    token = await hint(services, claims)
    assert (await request_for(services, client, id_token_hint=token)).id_token_hint_sub == user.id


async def test_oidc_core_3_1_2_1_id_token_hint_from_another_issuer_is_refused(
    services: Services,
) -> None:
    client = await add_client(services)
    claims = id_token_claims(services, client, "someone", iss="https://other.example.com")
    token = await hint(services, claims)
    error = await refused(services, params(client, id_token_hint=token))
    assert error.error == "invalid_request"


async def test_oidc_core_3_1_2_1_access_token_is_not_an_id_token_hint(services: Services) -> None:
    """A JWT of ours of another type (RFC 9068 at+jwt) is not an ID token."""
    client = await add_client(services)
    token = await hint(services, id_token_claims(services, client, "someone"), typ="at+jwt")
    assert (await refused(services, params(client, id_token_hint=token))).error == (
        "invalid_request"
    )


async def test_oidc_core_3_1_2_1_id_token_hint_signed_with_a_foreign_key_is_refused(
    services: Services,
) -> None:
    client = await add_client(services)
    key = RSAKey.generate_key(2048, private=True)
    claims = id_token_claims(services, client, "someone")
    token = jwt.encode({"alg": "RS256", "typ": "JWT", "kid": "foreign"}, claims, key)
    assert (await refused(services, params(client, id_token_hint=token))).error == (
        "invalid_request"
    )


# -- must_log_in / next_step (§3.1.2.1, §3.1.2.3, §3.1.2.4, §3.1.2.6) --------------------------


async def test_oidc_core_3_1_2_3_no_session_means_login(services: Services) -> None:
    client = await add_client(services)
    request = await request_for(services, client)
    assert must_log_in(request, None, authenticated_here=False)
    assert await next_step(services, client, request, None) is Step.LOGIN


@pytest.mark.parametrize("mode", ["query", "form_post"])
async def test_oidc_core_3_1_2_6_prompt_none_without_session_is_login_required(
    services: Services, mode: str
) -> None:
    client = await add_client(services)
    request = await request_for(services, client, prompt="none", response_mode=mode)
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, request, None)
    assert info.value.error == "login_required"
    assert info.value.redirect_uri == REDIRECT
    assert info.value.state == "st-123"
    assert info.value.response_mode == mode


@pytest.mark.parametrize("prompt", ["login", "select_account", "login consent"])
async def test_oidc_core_3_1_2_1_prompt_login_reauthenticates_a_signed_in_user(
    services: Services, prompt: str
) -> None:
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, prompt=prompt)
    assert must_log_in(request, signed_in, authenticated_here=False)
    assert await next_step(services, client, request, signed_in) is Step.LOGIN


@pytest.mark.parametrize(
    ("max_age", "elapsed", "login"),
    [
        ("60", 0, False),
        ("60", 59, False),
        ("60", 60, False),
        ("60", 61, True),
        ("60", 86400, True),
        ("0", 1, True),
        ("0", 3600, True),
        ("9999999999", 86400, False),
    ],
)
async def test_oidc_core_3_1_2_1_max_age_exceeded_means_login(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    max_age: str,
    elapsed: int,
    login: bool,
) -> None:
    """§3.1.2.1: re-authenticate when the time since authentication is greater than max_age."""
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, max_age=max_age)
    monkeypatch.setattr(clock, "now", lambda: signed_in.session.auth_time + elapsed)
    assert must_log_in(request, signed_in, authenticated_here=False) is login
    step = await next_step(services, client, request, signed_in)
    assert step is (Step.LOGIN if login else Step.ISSUE)


async def test_oidc_core_3_1_2_1_max_age_zero_always_means_login(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, max_age="0")
    monkeypatch.setattr(clock, "now", lambda: signed_in.session.auth_time)
    assert must_log_in(request, signed_in, authenticated_here=False)


async def test_oidc_core_3_1_2_6_max_age_exceeded_with_prompt_none_is_login_required(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, max_age="10", prompt="none")
    monkeypatch.setattr(clock, "now", lambda: signed_in.session.auth_time + 11)
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, request, signed_in)
    assert info.value.error == "login_required"


async def test_oidc_core_3_1_2_3_authenticated_here_short_circuits_every_reason_to_log_in(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Having just signed in during this request satisfies prompt=login, max_age and a hint
    naming someone else (the user chose who to be); no login loop."""
    client = await add_client(services, first_party=True)
    user = await add_user(services)
    other = await add_user(services)
    signed_in = await sign_in(services, user)
    token = await hint(services, id_token_claims(services, client, other.id))
    request = await request_for(
        services, client, prompt="login select_account", max_age="0", id_token_hint=token
    )
    monkeypatch.setattr(clock, "now", lambda: signed_in.session.auth_time + 3600)
    assert must_log_in(request, signed_in, authenticated_here=False)
    assert not must_log_in(request, signed_in, authenticated_here=True)
    step = await next_step(services, client, request, signed_in, authenticated_here=True)
    assert step is Step.ISSUE


async def test_oidc_core_3_1_2_1_id_token_hint_of_another_user_means_login(
    services: Services,
) -> None:
    client = await add_client(services, first_party=True)
    user = await add_user(services)
    other = await add_user(services)
    signed_in = await sign_in(services, user)
    token = await hint(services, id_token_claims(services, client, other.id))
    request = await request_for(services, client, id_token_hint=token)
    assert request.id_token_hint_sub == other.id
    assert await next_step(services, client, request, signed_in) is Step.LOGIN
    silent = await request_for(services, client, id_token_hint=token, prompt="none")
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, silent, signed_in)
    assert info.value.error == "login_required"


async def test_oidc_core_3_1_2_1_id_token_hint_of_the_signed_in_user_is_silent(
    services: Services,
) -> None:
    client = await add_client(services, first_party=True)
    user = await add_user(services)
    signed_in = await sign_in(services, user)
    token = await hint(services, id_token_claims(services, client, user.id))
    request = await request_for(services, client, id_token_hint=token, prompt="none")
    assert await next_step(services, client, request, signed_in) is Step.ISSUE


async def test_oidc_core_3_1_2_4_consent_needed_means_consent(services: Services) -> None:
    client = await add_client(services)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client)
    assert not must_log_in(request, signed_in, authenticated_here=False)
    assert await next_step(services, client, request, signed_in) is Step.CONSENT


@pytest.mark.parametrize("mode", ["query", "form_post"])
async def test_oidc_core_3_1_2_6_prompt_none_needing_consent_is_consent_required(
    services: Services, mode: str
) -> None:
    client = await add_client(services)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, prompt="none", response_mode=mode)
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, request, signed_in)
    assert info.value.error == "consent_required"
    assert info.value.state == "st-123"
    assert info.value.response_mode == mode


@pytest.mark.parametrize("prompt", [None, "none"])
async def test_oidc_core_3_1_2_4_first_party_client_skips_consent(
    services: Services, prompt: str | None
) -> None:
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    extra = {} if prompt is None else {"prompt": prompt}
    request = await request_for(services, client, **extra)
    assert await next_step(services, client, request, signed_in) is Step.ISSUE


@pytest.mark.parametrize("prompt", [None, "none"])
async def test_oidc_core_3_1_2_4_remembered_consent_issues(
    services: Services, prompt: str | None
) -> None:
    client = await add_client(services)
    user = await add_user(services)
    signed_in = await sign_in(services, user)
    await services.store.consents.grant(user.id, client.client_id, frozenset(SCOPES))
    extra = {} if prompt is None else {"prompt": prompt}
    request = await request_for(services, client, scope="openid profile email", **extra)
    assert await next_step(services, client, request, signed_in) is Step.ISSUE


async def test_oidc_core_3_1_2_4_consent_to_fewer_scopes_asks_again(services: Services) -> None:
    client = await add_client(services)
    user = await add_user(services)
    signed_in = await sign_in(services, user)
    await services.store.consents.grant(user.id, client.client_id, frozenset({"openid"}))
    request = await request_for(services, client, scope="openid email")
    assert await next_step(services, client, request, signed_in) is Step.CONSENT


async def test_oidc_core_3_1_2_4_consent_of_another_user_does_not_count(
    services: Services,
) -> None:
    client = await add_client(services)
    user = await add_user(services)
    other = await add_user(services)
    await services.store.consents.grant(other.id, client.client_id, frozenset(SCOPES))
    request = await request_for(services, client)
    assert await next_step(services, client, request, await sign_in(services, user)) is (
        Step.CONSENT
    )


@pytest.mark.parametrize("first_party", [False, True])
async def test_oidc_core_3_1_2_1_prompt_consent_asks_even_with_remembered_consent(
    services: Services, first_party: bool
) -> None:
    client = await add_client(services, first_party=first_party)
    user = await add_user(services)
    signed_in = await sign_in(services, user)
    await services.store.consents.grant(user.id, client.client_id, frozenset(SCOPES))
    request = await request_for(services, client, prompt="consent")
    assert await next_step(services, client, request, signed_in) is Step.CONSENT


# -- essential claims that constrain the authentication (OIDC Core §3.1.2.2, §5.5.1) --------


def _claims(**id_token: Any) -> str:
    return json.dumps({"id_token": id_token})


async def test_oidc_core_5_5_1_sub_value_of_another_user_means_login_then_refusal(
    services: Services,
) -> None:
    client = await add_client(services, first_party=True)
    user, other = await add_user(services), await add_user(services)
    signed_in = await sign_in(services, user)
    request = await request_for(services, client, claims=_claims(sub={"value": other.id}))
    assert await next_step(services, client, request, signed_in) is Step.LOGIN
    silent = await request_for(
        services, client, claims=_claims(sub={"value": other.id}), prompt="none"
    )
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, silent, signed_in)
    assert info.value.error == "login_required"
    # Signed in again, still as someone else: no positive response for the wrong user.
    with pytest.raises(AuthorizationError) as info:
        await next_step(services, client, request, signed_in, authenticated_here=True)
    assert info.value.error == "access_denied"
    same = await request_for(services, client, claims=_claims(sub={"value": user.id}))
    assert await next_step(services, client, same, signed_in) is Step.ISSUE


@pytest.mark.parametrize(
    ("acr", "sso", "fresh"),
    [
        # A password session reused: a second factor is owed (a step-up), not a new login;
        # right after a sign-in that did not reach the level, the request fails.
        ({"essential": True, "values": [ACR_MFA]}, "second_factor", "unmet"),
        ({"essential": True, "value": ACR_MFA}, "second_factor", "unmet"),
        ({"essential": True, "values": [ACR_PWD]}, "issue", "issue"),
        ({"essential": True, "values": [ACR_PWD, ACR_MFA]}, "issue", "issue"),
        ({"essential": True, "values": ["urn:example:gold"]}, "unmet", "unmet"),
        ({"essential": False, "values": ["urn:example:gold"]}, "issue", "issue"),  # voluntary
        ({"values": [ACR_MFA]}, "second_factor", "access_denied"),  # voluntary but known
    ],
)
async def test_oidc_core_5_5_1_1_essential_acr(
    services: Services, acr: dict[str, Any], sso: str, fresh: str
) -> None:
    client = await add_client(services, first_party=True)
    signed_in = await sign_in(services, await add_user(services))
    request = await request_for(services, client, claims=_claims(acr=acr))

    async def outcome(authenticated_here: bool) -> str:
        try:
            step = await next_step(
                services, client, request, signed_in, authenticated_here=authenticated_here
            )
        except AuthorizationError as exc:
            if exc.error == "access_denied":
                return exc.error
            assert exc.error == "unmet_authentication_requirements"
            return "unmet"
        return step.value

    assert await outcome(False) == sso
    assert await outcome(True) == fresh


async def test_oidc_core_3_1_2_1_openid_request_without_redirect_uri_is_never_redirected(
    services: Services,
) -> None:
    """REQUIRED in an authentication request, even with one registered URI (which plain
    OAuth requests may omit, RFC 6749 §3.1.2.3)."""
    client = await add_client(services)
    values = params(client)
    del values["redirect_uri"]
    with pytest.raises(UnsafeRedirectError):
        await validate(services, values)
    values["scope"] = "profile"
    _, request = await validate(services, values)
    assert request.redirect_uri == REDIRECT and not request.redirect_uri_given
