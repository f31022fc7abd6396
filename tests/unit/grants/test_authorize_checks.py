"""The authorization endpoint's checks (RFC 6749 §3.1, §4.1.1, §4.1.2.1; RFC 7636 §4.4;
OIDC Core §3.1.2.1), run over the in-memory store: which requests are refused, and whether
the error goes back to the client (a redirect) or is shown as a page because the client or
its redirect URI cannot be trusted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ostiary.errors import AuthorizationError, UnsafeRedirectError
from ostiary.oauth import authorize
from ostiary.services import Services
from tests.unit.grants.world import (
    CHALLENGE,
    ISSUER,
    REDIRECT_URI,
    App,
    authorization_params,
    register_app,
)

pytestmark = pytest.mark.anyio

TWO_URIS = (REDIRECT_URI, "https://app.example.test/other")


async def _refusal(
    services: Services, app: App, **params: str | None
) -> AuthorizationError | UnsafeRedirectError:
    try:
        await authorize.validate(services, authorization_params(app, **params))
    except (AuthorizationError, UnsafeRedirectError) as exc:
        return exc
    raise AssertionError("the authorization request was accepted")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"client_id": None}, "The request has no client_id.", id="no-client-id"),
        pytest.param(
            {"client_id": "unknown"},
            "The application (client_id) is not registered here.",
            id="unknown-client",
        ),
        pytest.param(
            {"redirect_uri": "https://evil.example.test/callback"},
            "The redirect_uri is not registered for this application.",
            id="s3_1_2_2-unregistered-redirect-uri",
        ),
        pytest.param(
            {"redirect_uri": REDIRECT_URI + "/.."},
            "The redirect_uri is not registered for this application.",
            id="rfc9700_s4_1_3-exact-match-only",
        ),
        pytest.param(
            {"redirect_uri": None, "scope": "read"},
            "The request has no redirect_uri.",
            id="s3_1_2_3-no-redirect-uri-of-two",
        ),
        pytest.param(
            {"redirect_uri": None, "scope": "openid"},
            "An OpenID Connect request must name its redirect_uri.",
            id="oidc_s3_1_2_1-openid-needs-redirect-uri",
        ),
    ],
)
async def test_rfc6749_s4_1_2_1_untrusted_client_or_redirect_uri_is_a_page_not_a_redirect(
    services: Services, params: dict[str, str | None], message: str
) -> None:
    """RFC 6749 §4.1.2.1: with a missing, invalid or mismatching client or redirect URI the
    server MUST NOT redirect (RFC 9700 §4.11: no open redirector); it informs the user."""
    app = await register_app(services, redirect_uris=TWO_URIS)

    refused = await _refusal(services, app, **params)

    assert isinstance(refused, UnsafeRedirectError)
    assert refused.message == message


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"response_type": None}, "invalid_request", id="no-response-type"),
        pytest.param(
            {"response_type": "token"}, "unsupported_response_type", id="rfc9700_s2_1_2-implicit"
        ),
        pytest.param({"response_type": "code id_token"}, "unsupported_response_type", id="hybrid"),
        pytest.param({"scope": "read admin"}, "invalid_scope", id="s3_3-scope-not-registered"),
        pytest.param({"scope": "read\\x"}, "invalid_scope", id="s3_3-not-a-scope-token"),
        pytest.param(
            {"code_challenge_method": "plain"}, "invalid_request", id="rfc7636_s4_4_1-plain"
        ),
        pytest.param(
            {"code_challenge": "too-short"}, "invalid_request", id="rfc7636_s4_2-malformed"
        ),
        pytest.param({"code_challenge": None}, "invalid_request", id="rfc7636_s4_4_1-method-alone"),
        pytest.param({"prompt": "none login"}, "invalid_request", id="oidc_s3_1_2_1-none-plus"),
        pytest.param({"prompt": "always"}, "invalid_request", id="oidc_s3_1_2_1-unknown-prompt"),
        pytest.param({"max_age": "-1"}, "invalid_request", id="oidc_s3_1_2_1-negative-max-age"),
        pytest.param({"max_age": "soon"}, "invalid_request", id="oidc_s3_1_2_1-max-age-text"),
        pytest.param(
            {"request_uri": "urn:x"}, "request_uri_not_supported", id="oidc_s6-request-uri"
        ),
        pytest.param({"claims": "{not json"}, "invalid_request", id="oidc_s5_5-bad-claims"),
        pytest.param({"nonce": "n" * 513}, "invalid_request", id="nonce-too-long"),
        pytest.param({"login_hint": "a\nb"}, "invalid_request", id="control-characters"),
    ],
)
async def test_rfc6749_s4_1_2_1_request_errors_go_back_to_the_client(
    services: Services, params: dict[str, str | None], error: str
) -> None:
    """RFC 6749 §4.1.2.1: once client and redirect URI are trusted, a bad request is
    answered at the redirect URI with the error code and the request's state."""
    app = await register_app(services)

    refused = await _refusal(services, app, **params)

    assert isinstance(refused, AuthorizationError), refused
    assert (refused.error, refused.redirect_uri, refused.state) == (
        error,
        REDIRECT_URI,
        "af0ifjsldkj",
    )
    sent = parse_qs(urlsplit(authorize.error_response(services, refused).location()).query)
    # RFC 9207 §2: iss on error responses too.
    assert sent["error"] == [error] and sent["state"] == ["af0ifjsldkj"]
    assert sent["iss"] == [ISSUER]


async def test_rfc6749_s4_1_2_1_client_not_registered_for_the_code_flow(
    services: Services,
) -> None:
    app = await register_app(services, grant_types=("client_credentials",), redirect_uris=())
    await services.store.clients.update(app.client_id, redirect_uris=[REDIRECT_URI])

    refused = await _refusal(services, app)

    assert isinstance(refused, AuthorizationError) and refused.error == "unauthorized_client"


async def test_rfc9700_s2_1_1_public_client_must_use_pkce(services: Services) -> None:
    """RFC 9700 §2.1.1 (RFC 7636 §4.4.1): a public client's request without a challenge is
    refused; a confidential client may leave PKCE out."""
    public = await register_app(services, public=True)
    confidential = await register_app(services)

    refused = await _refusal(services, public, code_challenge=None, code_challenge_method=None)
    _, request = await authorize.validate(
        services,
        authorization_params(confidential, code_challenge=None, code_challenge_method=None),
    )

    assert isinstance(refused, AuthorizationError)
    assert refused.description == "code_challenge is required (PKCE, S256)"
    assert request.code_challenge is None


@pytest.mark.parametrize(
    ("state", "mode", "sent_state", "sent_mode"),
    [
        pytest.param("s" * 1025, "form_post", None, "form_post", id="state-too-long-not-echoed"),
        pytest.param("ok", "fragment", "ok", "query", id="unknown-mode-answers-by-query"),
    ],
)
async def test_rfc6749_s4_1_2_1_error_response_mode_and_state(
    services: Services, state: str, mode: str, sent_state: str | None, sent_mode: str
) -> None:
    """An unfit state is not echoed back; an unknown response mode is answered in the
    default one (OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode)."""
    app = await register_app(services)

    refused = await _refusal(services, app, state=state, response_mode=mode)

    assert isinstance(refused, AuthorizationError) and refused.error == "invalid_request"
    assert (refused.state, refused.response_mode) == (sent_state, sent_mode)


async def test_rfc6749_s3_1_2_3_single_registered_uri_may_be_left_out(
    services: Services,
) -> None:
    app = await register_app(services)

    _, request = await authorize.validate(
        services, authorization_params(app, redirect_uri=None, scope="read")
    )

    assert (request.redirect_uri, request.redirect_uri_given) == (REDIRECT_URI, False)


@pytest.mark.parametrize(
    ("registered", "requested", "accepted"),
    [
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb", True, id="any-port"),
        pytest.param("http://[::1]/cb", "http://[::1]:8080/cb", True, id="ipv6-any-port"),
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1:51004/other", False, id="path"),
    ],
)
async def test_rfc8252_s7_3_loopback_redirect_port_may_vary_for_native_clients(
    services: Services, registered: str, requested: str, accepted: bool
) -> None:
    """RFC 8252 §7.3: a native (public) client's loopback redirect URI matches any port."""
    app = await register_app(services, public=True, redirect_uris=(registered,))

    try:
        _, request = await authorize.validate(
            services, authorization_params(app, redirect_uri=requested, code_challenge=CHALLENGE)
        )
    except UnsafeRedirectError:
        assert not accepted
    else:
        assert accepted and request.redirect_uri == requested


async def test_rfc6749_s4_1_1_valid_request_is_kept_as_asked(services: Services) -> None:
    app = await register_app(services)

    client, request = await authorize.validate(
        services,
        authorization_params(
            app, scope="read openid", prompt="login", max_age="0", response_mode="form_post"
        ),
    )

    assert client.client_id == app.client_id
    assert request.scopes == ("openid", "read")
    assert (request.prompt, request.max_age, request.response_mode) == (("login",), 0, "form_post")
    assert (request.code_challenge, request.nonce) == (CHALLENGE, "n-0S6_WzA2Mj")
    assert authorize.AuthorizationRequest.from_json(request.to_json()) == request
