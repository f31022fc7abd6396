"""Pushed authorization requests (RFC 9126) through the server's own code over an in-memory
store: the PAR endpoint's handler (``oauth.par.push``, as the web layer calls it with the
raw body and the Authorization header) and the authorization endpoint's checks given the
request_uri it hands out (``oauth.authorize.validate``), each test named after the section
whose requirement it holds the code to."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.domain.keys import StoredKey
from ostiary.errors import AuthorizationError, OAuthError, UnsafeRedirectError
from ostiary.limits import JSON_GROUPS, group_of
from ostiary.oauth import authorize, par
from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.oidc import prompt
from ostiary.services import Services, build_services
from ostiary.settings import Settings
from ostiary.storage.memory import MemoryStore, Tables
from tests.unit.grants.world import (
    CHALLENGE,
    CLIENT_IP,
    REDIRECT_URI,
    SETTINGS,
    App,
    authorization_params,
    basic,
    exchange,
    register_app,
    sign_in,
)

pytestmark = pytest.mark.anyio

URN = re.compile(r"urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}")
OTHER_URI = "https://app.example.test/other"


async def _services(settings: Settings, keys: dict[str, StoredKey]) -> Services:
    built = build_services(settings, store=MemoryStore(Tables(keys=dict(keys))))
    await built.keys.load()
    return built


@pytest.fixture(scope="module")
async def signing_keys() -> dict[str, StoredKey]:
    services = build_services(SETTINGS, store=MemoryStore())
    try:
        await services.keys.ensure(services.signing_algs())
        assert isinstance(services.store, MemoryStore)
        return dict(services.store.tables.keys)
    finally:
        await services.close()


@pytest.fixture
async def services(signing_keys: dict[str, StoredKey]) -> AsyncIterator[Services]:
    built = await _services(SETTINGS, signing_keys)
    yield built
    await built.close()


@pytest.fixture
async def par_required(signing_keys: dict[str, StoredKey]) -> AsyncIterator[Services]:
    """OSTIARY_REQUIRE_PAR=true."""
    built = await _services(SETTINGS.model_copy(update={"require_par": True}), signing_keys)
    yield built
    await built.close()


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Any:
    real = clock.now

    def shift(seconds: int) -> None:
        monkeypatch.setattr(clock, "now", lambda: real() + seconds)

    return shift


def _pushed(services: Services) -> dict[bytes, Any]:
    store = services.store
    assert isinstance(store, MemoryStore)
    return store.tables.pushed_authorizations


async def push(
    services: Services, app: App, *, authorization: str | None = None, **params: str | None
) -> dict[str, Any]:
    """``app``'s authorization request pushed to /par, authenticated as at the token
    endpoint (Basic for a confidential client, its client_id for a public one)."""
    body = urlencode(authorization_params(app, **params)).encode()
    if authorization is None and app.secret is not None:
        authorization = basic(app)
    return await par.push(services, body, authorization, CLIENT_IP)


async def push_error(services: Services, app: App, **params: Any) -> OAuthError:
    try:
        answer = await push(services, app, **params)
    except OAuthError as exc:
        assert not isinstance(exc, AuthorizationError)  # §2.3: never a redirect
        return exc
    raise AssertionError(f"the pushed request was accepted: {answer}")


async def use(services: Services, request_uri: str, **query: str) -> Any:
    """GET /authorize?client_id=...&request_uri=... as the checks see it."""
    return await authorize.validate(services, {"request_uri": request_uri, **query})


async def refusal(services: Services, params: dict[str, str]) -> Exception:
    try:
        await authorize.validate(services, params)
    except (AuthorizationError, UnsafeRedirectError) as exc:
        return exc
    raise AssertionError("the authorization request was accepted")


# -- §2.1 the request ---------------------------------------------------------------------


async def test_rfc9126_2_1_request_uri_in_a_pushed_request_is_refused(
    services: Services,
) -> None:
    app = await register_app(services)

    refused = await push_error(
        services, app, request_uri="urn:ietf:params:oauth:request_uri:nested"
    )

    assert (refused.error, refused.status) == ("invalid_request", 400)
    assert refused.description == "request_uri must not be used in a pushed authorization request"
    assert _pushed(services) == {}


@pytest.mark.parametrize(
    ("authorization", "params", "error", "status"),
    [
        pytest.param("wrong", {}, "invalid_client", 401, id="wrong-secret"),
        pytest.param(None, {}, "invalid_client", 401, id="no-credentials"),
        pytest.param(
            "other-id", {}, "invalid_client", 401, id="basic-client-id-differs-from-client_id"
        ),
        pytest.param(
            "right", {"client_secret": "x"}, "invalid_request", 400, id="two-methods-at-once"
        ),
    ],
)
async def test_rfc9126_2_1_client_authenticates_as_at_the_token_endpoint(
    services: Services, authorization: str | None, params: dict[str, str], error: str, status: int
) -> None:
    """§2.1 (1): the token endpoint's client authentication, its refusals included."""
    app = await register_app(services)
    assert app.secret is not None
    header = {
        "wrong": basic(App(app.client, "not-the-secret")),
        "right": basic(app),
        "other-id": basic(App(dataclasses.replace(app.client, client_id="other"), app.secret)),
    }.get(authorization or "")
    body = urlencode(authorization_params(app, **params)).encode()

    with pytest.raises(OAuthError) as refused:
        await par.push(services, body, header, CLIENT_IP)

    assert (refused.value.error, refused.value.status) == (error, status)
    assert _pushed(services) == {}


async def test_rfc9126_2_1_public_client_identifies_with_its_client_id(
    services: Services,
) -> None:
    app = await register_app(services, public=True)

    answer = await push(services, app)

    assert URN.fullmatch(answer["request_uri"])


async def test_rfc9126_2_1_client_id_is_required_beside_basic_credentials(
    services: Services,
) -> None:
    """§2.1: client_id is as required in a pushed request as in any authorization request;
    with Basic credentials the body could leave it out, and must not."""
    app = await register_app(services)

    refused = await push_error(services, app, client_id=None)

    assert (refused.error, refused.description) == ("invalid_request", "client_id is required")


async def test_rfc9126_2_1_client_authentication_parameters_are_not_kept(
    services: Services,
) -> None:
    """Parameters of client authentication are not part of the request (§2.1), and a
    secret is never stored as given."""
    app = await register_app(services, auth_method="client_secret_post")
    assert app.secret is not None

    await push(services, app, authorization="", client_secret=app.secret)

    (stored,) = _pushed(services).values()
    assert "client_secret" not in stored.params
    assert stored.params == authorization_params(app)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param(
            {"redirect_uri": "https://evil.example.test/cb"},
            "invalid_request",
            id="s2_3-unregistered-redirect-uri-is-invalid_request",
        ),
        pytest.param(
            {"redirect_uri": None}, "invalid_request", id="oidc-request-names-its-redirect-uri"
        ),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"response_type": None}, "invalid_request", id="no-response-type"),
        pytest.param({"scope": "openid admin"}, "invalid_scope", id="scope-not-registered"),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="pkce-plain"),
        pytest.param({"prompt": "none login"}, "invalid_request", id="prompt-none-plus"),
        pytest.param({"max_age": "soon"}, "invalid_request", id="max-age"),
        pytest.param({"claims": "{not json"}, "invalid_request", id="claims"),
        pytest.param({"state": "s" * 1025}, "invalid_request", id="state-too-long"),
        pytest.param({"id_token_hint": "x.y.z"}, "invalid_request", id="id-token-hint"),
        pytest.param({"request": "eyJ.x.y"}, "invalid_request_object", id="request-object"),
    ],
)
async def test_rfc9126_2_1_pushed_request_is_validated_as_at_the_authorization_endpoint(
    services: Services, params: dict[str, str | None], error: str
) -> None:
    """§2.1 (3), §2.3: the authorization endpoint's own checks, answered as RFC 6749 §5.2
    JSON errors (400) rather than redirects; nothing is kept."""
    app = await register_app(services, redirect_uris=(REDIRECT_URI, OTHER_URI))

    refused = await push_error(services, app, **params)

    assert (refused.error, refused.status) == (error, 400)
    assert _pushed(services) == {}


async def test_rfc9126_2_1_public_client_must_push_pkce(services: Services) -> None:
    app = await register_app(services, public=True)

    refused = await push_error(services, app, code_challenge=None, code_challenge_method=None)

    assert refused.description == "code_challenge is required (PKCE, S256)"


async def test_rfc9126_2_1_client_not_allowed_the_code_flow_is_refused(
    services: Services,
) -> None:
    app = await register_app(services, grant_types=("client_credentials",), redirect_uris=())
    await services.store.clients.update(app.client_id, redirect_uris=[REDIRECT_URI])

    refused = await push_error(services, app)

    assert refused.error == "unauthorized_client"


async def test_rfc9126_2_1_repeated_parameter_is_refused(services: Services) -> None:
    """RFC 6749 §3.1 as at the token endpoint: a parameter given twice is invalid_request."""
    app = await register_app(services)
    body = urlencode(authorization_params(app)) + "&scope=write"

    with pytest.raises(OAuthError) as refused:
        await par.push(services, body.encode(), basic(app), CLIENT_IP)

    assert refused.value.error == "invalid_request"
    assert refused.value.description == "parameter 'scope' is repeated"


async def test_rfc9126_2_3_request_larger_than_the_authorization_endpoint_takes_is_refused(
    services: Services,
) -> None:
    """The authorization endpoint's bound on a request (8 KiB) holds for a pushed one."""
    app = await register_app(services)

    refused = await push_error(services, app, ui_locales="en", extension="x" * 8192)

    assert refused.description == "the authorization request is too large"


async def test_rfc9126_2_3_client_held_to_signed_request_objects_is_refused(
    services: Services,
) -> None:
    """§2.3: a client required to use signed request objects (RFC 9101 §10.5) MUST have
    any other pushed request refused with invalid_request; so has /authorize (one rule)."""
    app = await register_app(services)
    await services.store.clients.update(app.client_id, require_signed_request_object=True)

    refused = await push_error(services, app)
    plain = await refusal(services, authorization_params(app))

    assert (refused.error, refused.status) == ("invalid_request", 400)
    assert isinstance(plain, AuthorizationError) and plain.error == "invalid_request"
    assert plain.description == refused.description


# -- §2.2 the response --------------------------------------------------------------------


async def test_rfc9126_2_2_answer_is_a_fresh_urn_and_its_lifetime(services: Services) -> None:
    app = await register_app(services)

    first = await push(services, app)
    second = await push(services, app)

    lifetime = services.settings.client_security.par_lifetime
    assert set(first) == {"request_uri", "expires_in"}
    assert first["expires_in"] == lifetime == 60
    # 256 random bits after the URN prefix (§2.2: computationally infeasible to guess).
    assert URN.fullmatch(first["request_uri"]) and URN.fullmatch(second["request_uri"])
    assert first["request_uri"] != second["request_uri"]


async def test_rfc9126_2_2_kept_under_its_digest_bound_to_the_client(
    services: Services,
) -> None:
    app = await register_app(services)
    now = clock.now()

    answer = await push(services, app)

    stored = _pushed(services)
    assert list(stored) == [digest(answer["request_uri"])]
    kept = stored[digest(answer["request_uri"])]
    assert kept.client_id == app.client_id
    assert now + 60 <= kept.expires_at <= clock.now() + 60


# -- §4 the authorization request ---------------------------------------------------------


async def test_rfc9126_4_pushed_parameters_are_the_request_and_the_rest_is_ignored(
    services: Services,
) -> None:
    """§4 builds the request as RFC 9101 §6.3 does: only the pushed parameters count, even
    where the query names the same ones again (OIDC Core §6.1's duplicates included)."""
    app = await register_app(services, redirect_uris=(REDIRECT_URI, OTHER_URI))
    answer = await push(services, app, scope="openid read", state="pushed-state", nonce="n-1")

    client, request = await use(
        services,
        answer["request_uri"],
        client_id=app.client_id,
        response_type="token",
        scope="openid write",
        state="query-state",
        redirect_uri=OTHER_URI,
        code_challenge_method="plain",
    )

    assert client.client_id == app.client_id
    assert request.scopes == ("openid", "read")
    assert (request.state, request.nonce) == ("pushed-state", "n-1")
    assert (request.redirect_uri, request.redirect_uri_given) == (REDIRECT_URI, True)
    assert request.code_challenge == CHALLENGE


async def test_rfc9126_4_request_uri_is_used_once(services: Services) -> None:
    app = await register_app(services)
    answer = await push(services, app)

    await use(services, answer["request_uri"], client_id=app.client_id)
    again = await refusal(
        services, {"request_uri": answer["request_uri"], "client_id": app.client_id}
    )

    assert isinstance(again, UnsafeRedirectError)
    assert again.message == authorize.UNKNOWN_REQUEST_URI
    assert _pushed(services) == {}


async def test_rfc9126_4_expired_request_uri_is_refused(services: Services, travel: Any) -> None:
    app = await register_app(services)
    answer = await push(services, app)

    travel(services.settings.client_security.par_lifetime)
    refused = await refusal(
        services, {"request_uri": answer["request_uri"], "client_id": app.client_id}
    )

    assert isinstance(refused, UnsafeRedirectError)
    assert refused.message == authorize.UNKNOWN_REQUEST_URI


async def test_rfc9126_4_unknown_request_uri_is_a_page_not_a_redirect(
    services: Services,
) -> None:
    """An unknown request_uri names no redirect URI the server could trust: a page, even
    when the query carries a registered one (RFC 6749 §4.1.2.1, RFC 9700 §4.11)."""
    app = await register_app(services)

    refused = await refusal(
        services,
        {
            "request_uri": "urn:ietf:params:oauth:request_uri:" + "A" * 43,
            **authorization_params(app),
        },
    )

    assert isinstance(refused, UnsafeRedirectError)
    assert "invalid_request_uri" in refused.message


async def test_rfc9126_4_client_id_must_accompany_the_request_uri(services: Services) -> None:
    app = await register_app(services)
    answer = await push(services, app)

    refused = await refusal(services, {"request_uri": answer["request_uri"]})

    assert isinstance(refused, UnsafeRedirectError)
    assert refused.message == "The request has no client_id."
    assert len(_pushed(services)) == 1


async def test_rfc9126_2_2_request_uri_of_another_client_is_refused_and_left(
    services: Services,
) -> None:
    """§2.2: the request_uri is bound to the client that pushed it; another client_id finds
    nothing, and does not use it up for the rightful client."""
    app = await register_app(services)
    other = await register_app(services)
    answer = await push(services, app)

    refused = await refusal(
        services, {"request_uri": answer["request_uri"], "client_id": other.client_id}
    )
    client, _ = await use(services, answer["request_uri"], client_id=app.client_id)

    assert isinstance(refused, UnsafeRedirectError)
    assert client.client_id == app.client_id


async def test_rfc9126_4_pushed_request_is_validated_again_when_used(
    services: Services,
) -> None:
    """§4: validated as any other authorization request: a change to the client since the
    push (a scope taken away, a redirect URI unregistered) holds for the pushed request."""
    app = await register_app(services, redirect_uris=(REDIRECT_URI, OTHER_URI))
    narrowed = await push(services, app, scope="openid write")
    moved = await push(services, app, redirect_uri=OTHER_URI)
    await services.store.clients.update(
        app.client_id, scopes=["openid", "read"], redirect_uris=[REDIRECT_URI]
    )

    scope_refused = await refusal(
        services, {"request_uri": narrowed["request_uri"], "client_id": app.client_id}
    )
    uri_refused = await refusal(
        services, {"request_uri": moved["request_uri"], "client_id": app.client_id}
    )

    assert isinstance(scope_refused, AuthorizationError)
    assert (scope_refused.error, scope_refused.redirect_uri) == ("invalid_scope", REDIRECT_URI)
    assert isinstance(uri_refused, UnsafeRedirectError)


async def test_rfc9126_4_a_request_uri_not_from_the_par_endpoint_is_still_unsupported(
    services: Services,
) -> None:
    """A request object by reference (OIDC Core §6.2) is not what PAR hands out: still
    request_uri_not_supported, as discovery says."""
    app = await register_app(services)

    refused = await refusal(
        services, authorization_params(app, request_uri="https://app.example.test/r/1")
    )

    assert isinstance(refused, AuthorizationError)
    assert refused.error == "request_uri_not_supported"


async def test_rfc9126_4_code_of_a_pushed_request_is_redeemed_as_any_other(
    services: Services,
) -> None:
    """The rest of the flow is unchanged: the code is bound to the pushed redirect URI and
    PKCE challenge, and the token request proves them."""
    app = await register_app(services)
    signed_in = await sign_in(services)
    answer = await push(services, app, scope="openid read")
    _, request = await use(services, answer["request_uri"], client_id=app.client_id)

    issued = await authorize.issue_code(
        services,
        request,
        user_id=signed_in.user.id,
        sid=signed_in.session.sid,
        session_hash=signed_in.session.id_hash,
        auth=prompt.authentication(signed_in, authenticated_here=True),
    )
    assert issued is not None
    tokens = await exchange(services, app, issued.params["code"])

    assert tokens["scope"] == "openid read"
    assert "id_token" in tokens


# -- §5, §6 PAR required --------------------------------------------------------------------


async def test_rfc9126_5_required_by_the_server_a_plain_request_is_refused(
    par_required: Services,
) -> None:
    """§4, §5: with require_pushed_authorization_requests, an authorization request without
    a pushed request_uri is invalid_request, sent only to a registered redirect URI."""
    app = await register_app(par_required)

    refused = await refusal(par_required, authorization_params(app))
    unregistered = await refusal(
        par_required, authorization_params(app, redirect_uri="https://evil.example.test/cb")
    )

    assert isinstance(refused, AuthorizationError)
    assert (refused.error, refused.description) == (
        "invalid_request",
        "pushed authorization request required",
    )
    assert refused.redirect_uri == REDIRECT_URI
    assert isinstance(unregistered, UnsafeRedirectError)


async def test_rfc9126_5_required_by_the_server_a_pushed_request_goes_through(
    par_required: Services,
) -> None:
    app = await register_app(par_required)
    answer = await push(par_required, app)

    client, _ = await use(par_required, answer["request_uri"], client_id=app.client_id)

    assert client.client_id == app.client_id


async def test_rfc9126_6_required_for_one_client_only_that_client_must_push(
    services: Services,
) -> None:
    """§6: require_pushed_authorization_requests registered for a client holds for it
    alone."""
    held = await register_app(services, require_pushed_authorization_requests=True)
    free = await register_app(services)

    refused = await refusal(services, authorization_params(held))
    client, _ = await authorize.validate(services, authorization_params(free))
    answer = await push(services, held)
    pushed_client, _ = await use(services, answer["request_uri"], client_id=held.client_id)

    assert isinstance(refused, AuthorizationError)
    assert refused.description == "pushed authorization request required"
    assert client.client_id == free.client_id
    assert pushed_client.client_id == held.client_id


@pytest.mark.parametrize("required", [False, True])
def test_rfc9126_5_metadata_names_the_endpoint_and_the_requirement(required: bool) -> None:
    settings = SETTINGS.model_copy(update={"require_par": required})

    metadata = authorization_server_metadata(settings)

    assert metadata["pushed_authorization_request_endpoint"] == f"{SETTINGS.issuer}/par"
    assert metadata["require_pushed_authorization_requests"] is required


def test_rfc9126_2_3_par_is_counted_with_the_token_endpoint() -> None:
    """§2.3 (429): /par shares the token endpoint's per-address limit and its JSON 429."""
    assert group_of("POST", "/par") == "token" == group_of("POST", "/token")
    assert "token" in JSON_GROUPS
    assert group_of("GET", "/par") is None
