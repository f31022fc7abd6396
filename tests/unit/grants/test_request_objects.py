"""Signed request objects (RFC 9101, OIDC Core §6.1) through the authorization endpoint's
checks and the PAR endpoint's handler over the in-memory store, each test named after the
section whose requirement it holds the code to. Request objects are signed here with
joserfc, one rule broken each in the refused cases."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from ostiary import clock
from ostiary.errors import AuthorizationError, OAuthError, UnsafeRedirectError
from ostiary.oauth import authorize, par
from ostiary.oauth.client_auth.jwt import replay_key as assertion_replay_key
from ostiary.oauth.request_objects import MAX_LIFETIME, replay_key
from ostiary.services import Services
from tests.unit.grants.world import (
    CHALLENGE,
    CLIENT_IP,
    ISSUER,
    REDIRECT_URI,
    App,
    authorization_params,
    basic,
    register_app,
)

pytestmark = pytest.mark.anyio

OTHER_URI = "https://app.example.test/other"
STATE = "object-state"
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
# Same kid, another key: what a forger holding no key of the client would sign with.
FORGED_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)


def jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


async def key_app(services: Services, **spec: Any) -> App:
    """A confidential client with its EC and RSA public keys registered, two redirect URIs."""
    spec.setdefault("jwks", jwks(EC_KEY, RSA_KEY))
    return await register_app(services, redirect_uris=(REDIRECT_URI, OTHER_URI), **spec)


def request_claims(app: App, **claims: Any) -> dict[str, Any]:
    """The authorization request of ``app`` as a request object's claims (iss, aud, exp,
    nbf, iat, jti added); a value of None leaves that claim out."""
    now = int(time.time())
    values: dict[str, Any] = {
        **authorization_params(app, redirect_uri=OTHER_URI, state=STATE),
        "iss": app.client_id,
        "aud": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    values.update(claims)
    return {k: v for k, v in values.items() if v is not None}


def sign(claims: dict[str, Any], key: Any = EC_KEY, alg: str = "ES256", **header: Any) -> str:
    head = {"alg": alg, "kid": key.kid, "typ": "oauth-authz-req+jwt", **header}
    return jwt.encode(
        {k: v for k, v in head.items() if v is not None}, claims, key, algorithms=[alg]
    )


def unsecured(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWS made by hand (alg none, or a signature of nothing): what no JOSE library
    would make, which is the point of the tests that send them."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


def by_value(app: App, request: str, **outer: str | None) -> dict[str, str]:
    """GET /authorize?client_id=...&request=... (plus ``outer`` parameters beside it)."""
    values: dict[str, str | None] = {"client_id": app.client_id, "request": request, **outer}
    return {k: v for k, v in values.items() if v is not None}


async def refusal(services: Services, params: dict[str, str]) -> Exception:
    try:
        await authorize.validate(services, params)
    except (AuthorizationError, UnsafeRedirectError) as exc:
        return exc
    raise AssertionError("the authorization request was accepted")


async def page(services: Services, params: dict[str, str], error: str, words: str) -> None:
    """Refused with a page naming ``error``: never a redirect (RFC 6749 §4.1.2.1)."""
    refused = await refusal(services, params)
    assert isinstance(refused, UnsafeRedirectError), refused
    assert not isinstance(refused, AuthorizationError)
    assert f"({error})" in refused.message and words in refused.message, refused.message


async def sent_back(services: Services, params: dict[str, str], error: str) -> str:
    """Refused with ``error`` at the request object's own redirect URI, with its state."""
    refused = await refusal(services, params)
    assert isinstance(refused, AuthorizationError), refused
    assert (refused.error, refused.redirect_uri, refused.state) == (error, OTHER_URI, STATE)
    return refused.description or ""


# -- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "alg"), [(EC_KEY, "ES256"), (RSA_KEY, "RS256"), (RSA_KEY, "PS256")]
)
async def test_rfc9101_6_2_signed_by_a_registered_key_is_accepted(
    services: Services, key: Any, alg: str
) -> None:
    app = await key_app(services)

    client, request = await authorize.validate(
        services, by_value(app, sign(request_claims(app), key, alg))
    )

    assert client.client_id == app.client_id
    assert (request.redirect_uri, request.state, request.code_challenge) == (
        OTHER_URI,
        STATE,
        CHALLENGE,
    )


async def test_rfc9101_6_3_only_the_request_objects_parameters_are_used(
    services: Services,
) -> None:
    """§6.3: the parameters beside the object are ignored, even where they name the same
    ones (state, scope, redirect_uri, PKCE); §5: only client_id is needed beside it."""
    app = await key_app(services)
    request_object = sign(request_claims(app, scope="openid read", nonce="object-nonce"))

    _, request = await authorize.validate(
        services,
        by_value(
            app,
            request_object,
            scope="openid write",
            state="outer-state",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="plain",
            prompt="none login",
        ),
    )

    assert request.scopes == ("openid", "read")
    assert (request.state, request.nonce) == (STATE, "object-nonce")
    assert (request.redirect_uri, request.redirect_uri_given) == (OTHER_URI, True)
    assert request.prompt == ()


async def test_oidc_core_5_5_claims_and_max_age_as_json_values(services: Services) -> None:
    """OIDC Core §6.1 (§5.5): in a request object, claims is a JSON object and max_age a
    number, where a query has strings."""
    app = await key_app(services)
    wanted = {"id_token": {"email": {"essential": True}}}

    _, request = await authorize.validate(
        services, by_value(app, sign(request_claims(app, claims=wanted, max_age=600)))
    )

    assert request.claims == wanted
    assert request.max_age == 600


@pytest.mark.parametrize("typ", ["oauth-authz-req+jwt", "application/oauth-authz-req+jwt", "JWT"])
async def test_rfc9101_4_explicit_type_or_plain_jwt_is_accepted(
    services: Services, typ: str
) -> None:
    app = await key_app(services)

    client, _ = await authorize.validate(
        services, by_value(app, sign(request_claims(app), typ=typ))
    )

    assert client.client_id == app.client_id


async def test_rfc9101_4_audience_may_be_a_list_holding_the_issuer(services: Services) -> None:
    app = await key_app(services)
    claims = request_claims(app, aud=["https://other.example.test", ISSUER])

    client, _ = await authorize.validate(services, by_value(app, sign(claims)))

    assert client.client_id == app.client_id


async def test_rfc9101_6_2_registered_jwks_uri_keys_verify(services: Services) -> None:
    """Keys come from ``client_keys`` whichever way the client registered them."""
    app = await key_app(services, jwks=None, jwks_uri="https://app.example.test/jwks")
    seen: list[str | None] = []

    async def fetched(client: Any, kid: str | None) -> list[Any]:
        seen.append(kid)
        return [ECKey.import_key(EC_KEY.as_dict(private=False))]

    real = services.client_keys.public_keys
    services.client_keys.public_keys = fetched  # type: ignore[method-assign]
    try:
        client, _ = await authorize.validate(services, by_value(app, sign(request_claims(app))))
    finally:
        services.client_keys.public_keys = real  # type: ignore[method-assign]

    assert client.client_id == app.client_id
    assert seen == ["ec-1"]


# -- refused as a page: nothing in the object can be trusted ----------------------------------


async def test_rfc9101_10_5_unsigned_request_object_is_refused(services: Services) -> None:
    app = await key_app(services)
    token = unsecured({"alg": "none"}, request_claims(app))

    await page(services, by_value(app, token), "invalid_request_object", "alg none")


async def test_rfc9101_6_1_encrypted_request_object_is_refused_clearly(
    services: Services,
) -> None:
    app = await key_app(services)
    five_parts = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"

    await page(services, by_value(app, five_parts), "invalid_request_object", "(JWE)")


@pytest.mark.parametrize("token", ["eyJ.x.y", "not-a-jwt", "a.b"])
async def test_rfc9101_6_2_malformed_request_object_is_refused(
    services: Services, token: str
) -> None:
    app = await key_app(services)

    await page(services, by_value(app, token), "invalid_request_object", "not a signed JWT")


async def test_rfc9101_6_2_signed_by_an_unregistered_key_is_refused(
    services: Services,
) -> None:
    """§6.2: the key MUST be the client's; a key with a kid the client registered but
    another secret is a forgery; a kid it never registered names no key of it."""
    app = await key_app(services)
    other = ECKey.generate_key("P-256", parameters={"kid": "ec-other"}, private=True)

    forged = sign(request_claims(app), FORGED_KEY)
    unknown = sign(request_claims(app), other)

    await page(services, by_value(app, forged), "invalid_request_object", "does not verify")
    await page(services, by_value(app, unknown), "invalid_request_object", "kid")


async def test_rfc9101_6_2_signature_failure_never_redirects(services: Services) -> None:
    """Even with a registered redirect URI in the object and beside it: the object's
    origin is unproven, so no part of it chooses where an error goes."""
    app = await key_app(services)
    forged = sign(request_claims(app, redirect_uri=REDIRECT_URI), FORGED_KEY)

    refused = await refusal(
        services, by_value(app, forged, redirect_uri=REDIRECT_URI, response_type="code")
    )

    assert isinstance(refused, UnsafeRedirectError)
    assert not isinstance(refused, AuthorizationError)


async def test_oidc_core_6_3_2_alg_must_be_the_registered_one(services: Services) -> None:
    """OIDC Core §6.3.2, RFC 9101 §6.2: with request_object_signing_alg registered, an
    object signed otherwise, even by the client's own key, is refused."""
    app = await key_app(services, request_object_signing_alg="PS256")

    await page(
        services,
        by_value(app, sign(request_claims(app), RSA_KEY, "RS256")),
        "invalid_request_object",
        "PS256",
    )
    client, _ = await authorize.validate(
        services, by_value(app, sign(request_claims(app), RSA_KEY, "PS256"))
    )
    assert client.client_id == app.client_id


async def test_rfc8725_3_1_symmetric_alg_is_refused(services: Services) -> None:
    """RFC 8725 §3.1 (RFC 9101 §6.2): HS256 keyed with a public key is a classic forgery;
    only the asymmetric algorithms are taken."""
    app = await key_app(services)
    token = unsecured({"alg": "HS256", "kid": "ec-1"}, request_claims(app), b"mac")

    await page(services, by_value(app, token), "invalid_request_object", "signed with")


async def test_rfc9101_6_2_client_without_keys_is_refused(services: Services) -> None:
    app = await register_app(services, redirect_uris=(REDIRECT_URI, OTHER_URI))

    await page(
        services,
        by_value(app, sign(request_claims(app))),
        "invalid_request_object",
        "no registered keys",
    )


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        pytest.param({"client_id": "someone-else"}, "client_id", id="s6_3-client-id-differs"),
        pytest.param({"client_id": None}, "client_id", id="s6_3-client-id-missing"),
        pytest.param({"iss": "someone-else"}, "iss", id="s10_2-iss-not-the-client"),
        pytest.param({"iss": None}, "iss", id="s4-iss-missing"),
        pytest.param({"state": ["a", "b"]}, "'state'", id="s6_3-parameter-not-a-string"),
        pytest.param({"max_age": True}, "'max_age'", id="s6_3-boolean-parameter"),
    ],
)
async def test_rfc9101_6_3_object_not_shown_to_be_the_clients_is_a_page(
    services: Services, claims: dict[str, Any], words: str
) -> None:
    app = await key_app(services)

    await page(
        services,
        by_value(app, sign(request_claims(app, **claims))),
        "invalid_request_object",
        words,
    )


async def test_rfc9101_5_client_id_is_required_beside_the_request_object(
    services: Services,
) -> None:
    app = await key_app(services)

    refused = await refusal(services, {"request": sign(request_claims(app))})

    assert isinstance(refused, UnsafeRedirectError)
    assert refused.message == "The request has no client_id."


async def test_oidc_core_6_1_request_and_request_uri_together_are_refused(
    services: Services,
) -> None:
    app = await key_app(services)

    await page(
        services,
        by_value(app, sign(request_claims(app)), request_uri="https://app.example.test/r"),
        "invalid_request",
        "not both",
    )


@pytest.mark.parametrize(
    "typ", [pytest.param("dpop+jwt", id="dpop-proof"), pytest.param("at+jwt", id="access-token")]
)
async def test_rfc9101_10_8_another_kind_of_jwt_is_refused(services: Services, typ: str) -> None:
    """§10.8: a JWT typed as something else (an access token, a DPoP proof) is never taken
    as a request object, even signed by the client."""
    app = await key_app(services)

    await page(
        services, by_value(app, sign(request_claims(app), typ=typ)), "invalid_request_object", "typ"
    )


async def test_rfc7515_4_1_11_critical_extension_is_refused(services: Services) -> None:
    app = await key_app(services)
    header = {"alg": "ES256", "kid": "ec-1", "crit": ["urn:example:x"], "urn:example:x": 1}
    token = unsecured(header, request_claims(app), b"signature")

    await page(services, by_value(app, token), "invalid_request_object", "crit")


# -- refused at the object's registered redirect URI: invalid_request_object ------------------


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        pytest.param(lambda: {"aud": "https://other.example.test"}, "aud", id="s4-wrong-aud"),
        pytest.param(lambda: {"aud": None}, "aud", id="s4-no-aud"),
        pytest.param(lambda: {"aud": [ISSUER + "/token"]}, "aud", id="s4-endpoint-as-aud"),
        pytest.param(lambda: {"exp": None}, "exp", id="rfc7519_4_1_4-no-exp"),
        pytest.param(lambda: {"exp": _now() - 60}, "expired", id="rfc7519_4_1_4-expired"),
        pytest.param(lambda: {"exp": str(_now() + 60)}, "exp", id="exp-not-a-number"),
        pytest.param(
            lambda: {"nbf": _now() + 120, "exp": _now() + 300}, "nbf", id="rfc7519_4_1_5-not-yet"
        ),
        pytest.param(
            lambda: {"nbf": _now() - MAX_LIFETIME - 120, "exp": _now() + 60},
            "60 minutes old",
            id="fapi2-nbf-older-than-60-minutes",
        ),
        pytest.param(
            lambda: {"nbf": None, "iat": None, "exp": _now() + MAX_LIFETIME + 120},
            "more than 60 minutes",
            id="fapi2-lifetime-over-60-minutes",
        ),
        pytest.param(
            lambda: {"nbf": _now(), "exp": _now() + MAX_LIFETIME + 60},
            "more than 60 minutes",
            id="fapi2-exp-more-than-60-minutes-after-nbf",
        ),
        pytest.param(
            lambda: {"iat": _now() + 120}, "future", id="rfc7519_4_1_6-issued-in-the-future"
        ),
        pytest.param(lambda: {"jti": ""}, "jti", id="rfc7519_4_1_7-empty-jti"),
        pytest.param(lambda: {"request": "eyJ.x.y"}, "request", id="s4-nested-request"),
        pytest.param(
            lambda: {"request_uri": "urn:ietf:params:oauth:request_uri:x"},
            "request_uri",
            id="s4-nested-request-uri",
        ),
    ],
)
async def test_rfc9101_6_claims_broken_go_back_to_the_client(
    services: Services, claims: Callable[[], dict[str, Any]], words: str
) -> None:
    """Once the object is proven the client's and its redirect URI registered, a broken
    rule is invalid_request_object (RFC 9101 §7, OIDC Core §3.1.2.6) at that redirect URI,
    with the object's state."""
    app = await key_app(services)

    description = await sent_back(
        services, by_value(app, sign(request_claims(app, **claims()))), "invalid_request_object"
    )

    assert words in description


async def test_rfc9101_6_3_unregistered_redirect_uri_in_the_object_is_a_page(
    services: Services,
) -> None:
    """Even an expired object is told only by a page when its redirect URI is not the
    client's."""
    app = await key_app(services)
    claims = request_claims(app, redirect_uri="https://evil.example.test/cb", exp=_now() - 60)

    refused = await refusal(services, by_value(app, sign(claims)))

    assert isinstance(refused, UnsafeRedirectError)
    assert refused.message == "The redirect_uri is not registered for this application."


async def test_oidc_core_6_1_response_type_beside_the_object_must_match(
    services: Services,
) -> None:
    app = await key_app(services)
    request_object = sign(request_claims(app))

    description = await sent_back(
        services, by_value(app, request_object, response_type="token"), "invalid_request"
    )
    client, _ = await authorize.validate(
        services, by_value(app, sign(request_claims(app)), response_type="code")
    )

    assert "response_type" in description
    assert client.client_id == app.client_id


async def test_rfc9101_6_3_the_request_is_then_checked_as_any_other(services: Services) -> None:
    """§6.3: the assembled request is validated as OAuth 2.0 says: a scope beyond the
    registration is invalid_scope, sent to the object's redirect URI."""
    app = await key_app(services)

    await sent_back(
        services, by_value(app, sign(request_claims(app, scope="openid admin"))), "invalid_scope"
    )


async def test_rfc7519_4_1_7_jti_is_used_once(services: Services) -> None:
    app = await key_app(services)
    request_object = sign(request_claims(app, jti="once"))

    await authorize.validate(services, by_value(app, request_object))
    description = await sent_back(services, by_value(app, request_object), "invalid_request_object")

    assert "used before" in description


async def test_rfc7519_4_1_7_without_jti_the_object_may_be_used_again(
    services: Services,
) -> None:
    app = await key_app(services)
    request_object = sign(request_claims(app, jti=None))

    for _ in range(2):
        client, _ = await authorize.validate(services, by_value(app, request_object))
        assert client.client_id == app.client_id


async def test_rfc7519_4_1_7_jti_space_is_apart_from_client_assertions(
    services: Services,
) -> None:
    """The same jti in a client assertion and in a request object: neither uses up the
    other (the used-identifier keys differ)."""
    app = await key_app(services)
    assert replay_key(app.client_id, "shared") != assertion_replay_key(app.client_id, "shared")
    await services.store.used_jtis.first_use(
        assertion_replay_key(app.client_id, "shared"), _now() + 300
    )

    client, _ = await authorize.validate(
        services, by_value(app, sign(request_claims(app, jti="shared")))
    )

    assert client.client_id == app.client_id


async def test_rfc9101_6_leeway_on_exp_of_thirty_seconds(services: Services) -> None:
    app = await key_app(services)
    claims = request_claims(app, nbf=None, iat=_now() - 100, exp=_now() - 10)

    client, _ = await authorize.validate(services, by_value(app, sign(claims)))

    assert client.client_id == app.client_id


# -- RFC 9101 §10.5: a client held to signed request objects ---------------------------------


async def test_rfc9101_10_5_held_client_plain_request_is_refused(services: Services) -> None:
    app = await key_app(services, require_signed_request_object=True)

    refused = await refusal(services, authorization_params(app))
    client, _ = await authorize.validate(services, by_value(app, sign(request_claims(app))))

    assert isinstance(refused, AuthorizationError)
    assert (refused.error, refused.redirect_uri) == ("invalid_request", REDIRECT_URI)
    assert refused.description == "this client must send a signed request object"
    assert client.client_id == app.client_id


async def test_rfc9101_10_5_other_clients_may_still_send_plain_requests(
    services: Services,
) -> None:
    app = await key_app(services)

    client, _ = await authorize.validate(services, authorization_params(app))

    assert client.client_id == app.client_id


# -- RFC 9126 §3: a request object pushed to the PAR endpoint ---------------------------------


async def push(
    services: Services, app: App, request_object: str | None = None, **params: str
) -> dict[str, Any]:
    """POST /par by ``app`` with Basic credentials: the request object and ``params``."""
    body = {**({"request": request_object} if request_object else {}), **params}
    return await par.push(services, urlencode(body).encode(), basic(app), CLIENT_IP)


async def push_error(
    services: Services, app: App, request_object: str, **params: str
) -> OAuthError:
    try:
        answer = await push(services, app, request_object, **params)
    except OAuthError as exc:
        assert not isinstance(exc, AuthorizationError)  # RFC 9126 §2.3: never a redirect
        return exc
    raise AssertionError(f"the pushed request was accepted: {answer}")


@pytest.mark.parametrize("outer_client_id", [True, False])
async def test_rfc9126_3_pushed_request_object_is_used_by_its_request_uri(
    services: Services, outer_client_id: bool
) -> None:
    """§3: the client authenticates and sends the object; client_id is in it (and may be
    given beside it). §4: the request_uri then stands for the object's parameters."""
    app = await key_app(services, require_signed_request_object=True)
    outer = {"client_id": app.client_id} if outer_client_id else {}

    answer = await push(services, app, sign(request_claims(app)), **outer)
    client, request = await authorize.validate(
        services, {"client_id": app.client_id, "request_uri": answer["request_uri"]}
    )

    assert client.client_id == app.client_id
    assert (request.redirect_uri, request.state) == (OTHER_URI, STATE)


async def test_rfc9126_3_pushed_object_jti_is_recorded_at_the_push_only(
    services: Services,
) -> None:
    """The jti is used at the push; the request_uri's one use is not a replay of it, but
    pushing the same object again is."""
    app = await key_app(services)
    request_object = sign(request_claims(app, jti="pushed-once"))

    answer = await push(services, app, request_object)
    await authorize.validate(
        services, {"client_id": app.client_id, "request_uri": answer["request_uri"]}
    )
    again = await push_error(services, app, request_object)

    assert (again.error, again.status) == ("invalid_request_object", 400)
    assert "used before" in (again.description or "")


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(
            lambda app: sign(request_claims(app), FORGED_KEY),
            "invalid_request_object",
            id="s6_2-forged",
        ),
        pytest.param(
            lambda app: unsecured({"alg": "none"}, request_claims(app)),
            "invalid_request_object",
            id="s10_5-unsigned",
        ),
        pytest.param(
            lambda app: sign(request_claims(app, aud="https://other.example.test")),
            "invalid_request_object",
            id="s4-wrong-aud",
        ),
        pytest.param(
            lambda app: sign(request_claims(app, exp=_now() - 60)),
            "invalid_request_object",
            id="expired",
        ),
        pytest.param(
            lambda app: sign(request_claims(app, client_id="someone-else")),
            "invalid_request_object",
            id="s3-client-id-not-the-authenticated-client",
        ),
    ],
)
async def test_rfc9126_3_pushed_request_object_is_checked_as_at_the_authorization_endpoint(
    services: Services, make: Callable[[App], str], error: str
) -> None:
    """§3 (§2.3): the object is checked when pushed, refusals as §5.2 JSON errors with
    RFC 9101's code; nothing is kept."""
    app = await key_app(services)

    refused = await push_error(services, app, make(app))

    assert (refused.error, refused.status) == (error, 400)
    assert not services.store.tables.pushed_authorizations  # type: ignore[attr-defined]


async def test_rfc9126_2_3_held_client_plain_push_is_refused(services: Services) -> None:
    app = await key_app(services, require_signed_request_object=True)

    refused = await push_error(services, app, "", **authorization_params(app))

    assert (refused.error, refused.status) == ("invalid_request", 400)
    assert refused.description == "this client must send a signed request object"


async def test_rfc9126_4_pushed_object_expired_by_its_use_is_refused(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§4: the pushed request is validated again when used: an object that expired in
    between is refused, at its redirect URI."""
    app = await key_app(services)
    answer = await push(services, app, sign(request_claims(app, exp=_now() + 5)))
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + 40)

    refused = await refusal(
        services, {"client_id": app.client_id, "request_uri": answer["request_uri"]}
    )

    assert isinstance(refused, AuthorizationError)
    assert (refused.error, refused.redirect_uri) == ("invalid_request_object", OTHER_URI)


# -- parameters other features read from the object --------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(["https://api.example.test/", "https://files.example.test/"], id="array"),
        pytest.param("https://api.example.test/", id="one-string"),
    ],
)
async def test_rfc8707_2_resource_as_an_array_in_the_request_object(
    services: Services, given: str | list[str]
) -> None:
    """RFC 8707 §2 with RFC 9101 §4: resource, repeatable in a query, is one string or an
    array of them in a request object; the code keeps each."""
    for uri in ("https://api.example.test/", "https://files.example.test/"):
        await services.store.resources.add(uri=uri, name=uri, scopes=["read"])
    app = await key_app(services)

    _, request = await authorize.validate(
        services, by_value(app, sign(request_claims(app, resource=given)))
    )

    assert request.resources == ((given,) if isinstance(given, str) else tuple(given))


JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


async def test_rfc9449_10_1_dpop_key_of_the_push_binds_a_pushed_request_object(
    services: Services,
) -> None:
    """RFC 9449 §10.1: the thumbprint the PAR endpoint puts beside a pushed object (from a
    DPoP proof) binds the code, though §6.3 uses only the object's parameters; given with
    an object at /authorize, it is ignored as any parameter beside the object."""
    app = await key_app(services)
    request_object = sign(request_claims(app, jti=None))

    _, pushed = await authorize.validate(
        services, by_value(app, request_object, dpop_jkt=JKT), pushed=True
    )
    _, direct = await authorize.validate(services, by_value(app, request_object, dpop_jkt=JKT))

    assert pushed.dpop_jkt == JKT
    assert direct.dpop_jkt is None


async def test_rfc9449_10_1_object_naming_another_dpop_key_than_the_push_is_refused(
    services: Services,
) -> None:
    app = await key_app(services)
    request_object = sign(request_claims(app, dpop_jkt="A" * 43))

    with pytest.raises(UnsafeRedirectError) as refused:
        await authorize.validate(services, by_value(app, request_object, dpop_jkt=JKT), pushed=True)

    assert "dpop_jkt" in refused.value.message
