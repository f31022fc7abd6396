"""Resource indicators (RFC 8707) through the authorization endpoint's checks, the pushed
request and the grants, on the in-memory store: the resources named at /authorize kept
with the code, the token's audience and downscoped scopes, refresh tokens bound to the
whole grant, client credentials, and invalid_target wherever a resource is refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ostiary.crypto.tokens import digest
from ostiary.errors import AuthorizationError, OAuthError
from ostiary.oauth import authorize, par, token_endpoint
from ostiary.oauth.authorize import AuthorizationRequest
from ostiary.oauth.params import parse_params
from ostiary.oidc import prompt
from ostiary.services import Services
from tests.unit.grants.world import (
    CLIENT_IP,
    ISSUER,
    App,
    authorization_params,
    basic,
    exchange_params,
    register_app,
    sign_in,
    verified,
)

pytestmark = pytest.mark.anyio

ORDERS = "https://orders.example.test/api"
BILLING = "https://billing.example.test"
_READS = "orders:read billing:read"
SCOPES = ("openid", "offline_access", "orders:read", "orders:write", "billing:read", "other")


async def _registry(services: Services) -> None:
    await services.store.resources.add(
        uri=ORDERS, name="Orders", scopes=["orders:read", "orders:write"]
    )
    await services.store.resources.add(uri=BILLING, name="Billing", scopes=["billing:read"])


@pytest.fixture
async def app(services: Services) -> App:
    await _registry(services)
    return await register_app(services, scopes=SCOPES)


def _request(app: App) -> dict[str, str]:
    return authorization_params(app, scope="openid orders:read")


def _with_resources(params: dict[str, str], resources: tuple[str, ...]) -> dict[str, str]:
    """``params`` with each resource as its own ``resource`` parameter, parsed as the
    endpoints parse a request."""
    pairs = [*params.items(), *(("resource", r) for r in resources)]
    return parse_params(urlencode(pairs))


async def _code(
    services: Services, app: App, *resources: str, scope: str = "openid orders:read billing:read"
) -> str:
    params = _with_resources(authorization_params(app, scope=scope), resources)
    _, request = await authorize.validate(services, params)
    signed_in = await sign_in(services)
    response = await authorize.issue_code(
        services,
        request,
        user_id=signed_in.user.id,
        sid=signed_in.session.sid,
        session_hash=signed_in.session.id_hash,
        auth=prompt.authentication(signed_in, authenticated_here=True),
    )
    assert response is not None
    return parse_qs(urlsplit(response.location()).query)["code"][0]


async def _token(
    services: Services, app: App, params: dict[str, str], *resources: str
) -> dict[str, Any]:
    pairs = [*params.items(), *(("resource", r) for r in resources)]
    body = urlencode(pairs).encode()
    return await token_endpoint.token(services, body, basic(app), CLIENT_IP)


async def _refused(
    services: Services, app: App, params: dict[str, str], *resources: str
) -> OAuthError:
    with pytest.raises(OAuthError) as refused:
        await _token(services, app, params, *resources)
    return refused.value


async def _access(services: Services, answer: dict[str, Any]) -> dict[str, Any]:
    return await verified(services, answer["access_token"], "at+jwt")


# -- /authorize -----------------------------------------------------------------------------


async def test_rfc8707_2_1_the_resources_named_are_kept_with_the_request_and_code(
    services: Services, app: App
) -> None:
    params = _with_resources(_request(app), (ORDERS, BILLING, ORDERS))

    _, request = await authorize.validate(services, params)

    assert request.resources == (ORDERS, BILLING)
    # The pending interaction keeps it (as JSON) through sign-in and consent.
    assert AuthorizationRequest.from_json(request.to_json()) == request
    code = await _code(services, app, ORDERS, BILLING)
    stored = services.store.tables.codes[digest(code)]
    assert stored.resources == [ORDERS, BILLING]


async def test_without_resource_nothing_changes(services: Services, app: App) -> None:
    _, request = await authorize.validate(services, _request(app))
    assert request.resources == () and "resources" not in request.to_json()
    code = await _code(services, app, scope="openid orders:read")
    assert services.store.tables.codes[digest(code)].resources is None

    answer = await _token(services, app, exchange_params(code))

    access = await _access(services, answer)
    assert access["aud"] == ISSUER  # the default audience, as before
    assert access["scope"] == answer["scope"] == "openid orders:read"


@pytest.mark.parametrize(
    "resource",
    [
        "https://unknown.example.test",  # §2: not a resource of this server
        ORDERS + "#part",  # §2: MUST NOT include a fragment
        "orders",  # §2: MUST be an absolute URI
        "http://orders.example.test/api",  # policy: https but on loopback
    ],
)
async def test_rfc8707_2_a_refused_resource_is_invalid_target_at_the_redirect_uri(
    services: Services, app: App, resource: str
) -> None:
    params = _with_resources(_request(app), (ORDERS, resource))

    with pytest.raises(AuthorizationError) as refused:
        await authorize.validate(services, params)

    error = refused.value
    assert error.error == "invalid_target"
    assert (error.redirect_uri, error.state) == (params["redirect_uri"], params["state"])
    location = authorize.error_response(services, error).location()
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_target"]


async def test_rfc8707_2_pushed_resources_are_kept_and_checked_again_when_used(
    services: Services, app: App
) -> None:
    """RFC 9126 §2.1: a pushed request is validated as at /authorize, several resources
    included; §4: checked again when used (a resource deleted since is refused)."""
    params = _with_resources(_request(app), (ORDERS, BILLING))
    body = urlencode([(k, v) for k, v in params.items() if k != "resource"])
    body += "&" + urlencode([("resource", ORDERS), ("resource", BILLING)])
    pushed = await par.push(services, body.encode(), basic(app), CLIENT_IP)
    _, request = await authorize.validate(
        services, {"client_id": app.client_id, "request_uri": pushed["request_uri"]}
    )
    assert request.resources == (ORDERS, BILLING)

    again = await par.push(services, body.encode(), basic(app), CLIENT_IP)
    await services.store.resources.delete(BILLING)
    with pytest.raises(AuthorizationError) as refused:
        await authorize.validate(
            services, {"client_id": app.client_id, "request_uri": again["request_uri"]}
        )
    assert refused.value.error == "invalid_target"


async def test_rfc8707_2_an_unknown_resource_pushed_is_refused_at_par(
    services: Services, app: App
) -> None:
    body = urlencode({**_request(app), "resource": "https://unknown.example.test"})
    with pytest.raises(OAuthError) as refused:
        await par.push(services, body.encode(), basic(app), CLIENT_IP)
    assert (refused.value.error, refused.value.status) == ("invalid_target", 400)
    assert not isinstance(refused.value, AuthorizationError)  # RFC 9126 §2.3: JSON


# -- the code's token request ---------------------------------------------------------------


async def test_rfc8707_2_2_the_token_is_for_the_resource_named(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS)

    answer = await _token(services, app, exchange_params(code), ORDERS)

    access = await _access(services, answer)
    # RFC 8707 §2, RFC 9068 §3: the resource is the audience.
    assert access["aud"] == ORDERS
    # §2.2: downscoped to what the resource accepts; the ID token keeps openid.
    assert access["scope"] == answer["scope"] == "orders:read"
    assert "id_token" in answer


async def test_rfc8707_2_2_no_resource_at_the_token_request_gets_every_one_granted(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS, BILLING, scope="openid offline_access " + _READS)

    answer = await _token(services, app, exchange_params(code))

    access = await _access(services, answer)
    assert access["aud"] == [ORDERS, BILLING]
    assert access["scope"] == "billing:read orders:read"
    # §2.2: the refresh token is bound to the full original grant.
    refresh = services.store.tables.refresh_tokens[digest(answer["refresh_token"])]
    assert refresh.resources == [ORDERS, BILLING]
    assert set(refresh.scopes) == {"openid", "offline_access", "orders:read", "billing:read"}


async def test_rfc8707_2_2_a_subset_downscopes_and_the_refresh_token_keeps_all(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS, BILLING, scope="offline_access " + _READS)

    answer = await _token(services, app, exchange_params(code), BILLING)

    access = await _access(services, answer)
    assert (access["aud"], access["scope"]) == (BILLING, "billing:read")
    refresh = services.store.tables.refresh_tokens[digest(answer["refresh_token"])]
    assert refresh.resources == [ORDERS, BILLING]


async def test_rfc8707_2_2_a_resource_outside_the_authorized_ones_is_invalid_target(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS)

    refused = await _refused(services, app, exchange_params(code), BILLING)

    assert (refused.error, refused.status) == ("invalid_target", 400)
    # Refused before anything was issued: the code still serves the right request.
    answer = await _token(services, app, exchange_params(code), ORDERS)
    assert (await _access(services, answer))["aud"] == ORDERS


async def test_rfc8707_2_2_a_code_issued_without_resources_gets_none_at_the_token_request(
    services: Services, app: App
) -> None:
    code = await _code(services, app, scope="openid orders:read")

    refused = await _refused(services, app, exchange_params(code), ORDERS)

    assert refused.error == "invalid_target"


async def test_rfc8707_2_2_a_scope_the_resource_does_not_accept_is_left_out(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS, scope="openid orders:read billing:read other")

    answer = await _token(services, app, exchange_params(code))

    access = await _access(services, answer)
    assert access["scope"] == answer["scope"] == "orders:read"
    events = [e for e in await _events(services, app) if e.type == "token.issued"]
    assert events[-1].details["scope"] == "orders:read"
    assert events[-1].details["resource"] == ORDERS


async def _events(services: Services, app: App) -> list[Any]:
    await services.audit.flush()
    return await services.store.audit.query(client_id=app.client_id)


# -- refresh ----------------------------------------------------------------------------------


def _refresh(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


async def test_rfc8707_2_2_a_refresh_downscopes_to_a_granted_resource(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS, BILLING, scope="offline_access " + _READS)
    first = await _token(services, app, exchange_params(code))

    narrower = await _token(services, app, _refresh(first["refresh_token"]), ORDERS)

    access = await _access(services, narrower)
    assert (access["aud"], access["scope"]) == (ORDERS, "orders:read")
    # The successor keeps every resource: the next refresh may name the other one.
    other = await _token(services, app, _refresh(narrower["refresh_token"]), BILLING)
    assert (await _access(services, other))["aud"] == BILLING
    everything = await _token(services, app, _refresh(other["refresh_token"]))
    assert (await _access(services, everything))["aud"] == [ORDERS, BILLING]


async def test_rfc8707_2_2_a_refresh_for_a_resource_not_granted_is_invalid_target(
    services: Services, app: App
) -> None:
    code = await _code(services, app, ORDERS, scope="offline_access orders:read")
    first = await _token(services, app, exchange_params(code))

    refused = await _refused(services, app, _refresh(first["refresh_token"]), BILLING)

    assert (refused.error, refused.status) == ("invalid_target", 400)
    # Nothing rotated: the refresh token is still good.
    again = await _token(services, app, _refresh(first["refresh_token"]))
    assert (await _access(services, again))["aud"] == ORDERS


async def test_rfc8707_2_2_a_refresh_token_without_resources_gets_none(
    services: Services, app: App
) -> None:
    code = await _code(services, app, scope="offline_access orders:read")
    first = await _token(services, app, exchange_params(code))

    refused = await _refused(services, app, _refresh(first["refresh_token"]), ORDERS)

    assert refused.error == "invalid_target"


# -- client credentials -----------------------------------------------------------------------


@pytest.fixture
async def service(services: Services) -> App:
    await _registry(services)
    return await register_app(
        services,
        grant_types=("client_credentials",),
        scopes=("orders:read", "billing:read", "other"),
        redirect_uris=(),
        audience=["https://registered-audience.example.test"],
    )


_CLIENT_CREDENTIALS = {"grant_type": "client_credentials", "scope": "orders:read other"}


async def test_rfc8707_2_client_credentials_for_a_resource(
    services: Services, service: App
) -> None:
    answer = await _token(services, service, _CLIENT_CREDENTIALS, ORDERS)

    access = await _access(services, answer)
    assert (access["aud"], access["scope"], answer["scope"]) == (
        ORDERS,
        "orders:read",
        "orders:read",
    )


async def test_client_credentials_without_resource_keep_the_registered_audience(
    services: Services, service: App
) -> None:
    answer = await _token(services, service, _CLIENT_CREDENTIALS)

    access = await _access(services, answer)
    assert access["aud"] == "https://registered-audience.example.test"
    assert access["scope"] == "orders:read other"


@pytest.mark.parametrize(
    "resource", ["https://unknown.example.test", ORDERS + "#x", "urn:example:orders"]
)
async def test_rfc8707_2_client_credentials_refuse_a_resource_as_invalid_target(
    services: Services, service: App, resource: str
) -> None:
    refused = await _refused(services, service, _CLIENT_CREDENTIALS, resource)
    assert (refused.error, refused.status) == ("invalid_target", 400)


async def test_rfc8707_2_client_credentials_for_two_resources(
    services: Services, service: App
) -> None:
    params = {"grant_type": "client_credentials", "scope": "orders:read billing:read"}

    answer = await _token(services, service, params, ORDERS, BILLING)

    access = await _access(services, answer)
    assert access["aud"] == [ORDERS, BILLING]
    assert access["scope"] == "billing:read orders:read"
