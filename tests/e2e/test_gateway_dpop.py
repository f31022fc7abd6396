"""`ostiary gateway` in API mode with DPoP-bound tokens (RFC 9449 §7): the test issuer of
test_resource_dpop.py, a real upstream app and the gateway, each a uvicorn on its own port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary.gateway import Gateway, load_config
from tests.e2e.dpop_client import DPoPClient
from tests.e2e.test_resource_dpop import ALGS, API, Issuer
from tests.e2e.upstream_app import serving, upstream_app

RULES = ["GET /api/* scope=orders:read", "POST /api/* scope=orders:write", "GET /health public"]
REALM = 'realm="ostiary-gateway"'


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    with serving(issuer.app()) as url:
        issuer.url = url
        yield issuer


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


def gateway_for(issuer: Issuer, upstream: str, **overrides: Any) -> Gateway:
    values: dict[str, Any] = {
        "issuer": issuer.url,
        "upstream": upstream,
        "rules": RULES,
        "audience": API,
        "revocation_feed": False,  # the test issuer publishes none
    }
    return Gateway(load_config(values | overrides))


@pytest.fixture(scope="module")
def gateway(issuer: Issuer, upstream: str) -> Iterator[str]:
    with serving(gateway_for(issuer, upstream)) as url:
        yield url


@pytest.fixture(scope="module")
def client() -> DPoPClient:
    return DPoPClient()


def seen_headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def test_rfc9449_7_1_a_good_dpop_request_goes_upstream_without_its_credentials(
    issuer: Issuer, gateway: str, client: DPoPClient
) -> None:
    url = f"{gateway}/api/orders"
    token = issuer.token(client.jkt)
    response = httpx.get(f"{url}?x=1", headers=client.headers("GET", url, token))
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "x=1"
    seen = seen_headers(response)
    assert seen["x-forwarded-user"] == ["svc"]
    # Neither the token nor its proof reaches the upstream (forward_authorization is off).
    assert "authorization" not in seen and "dpop" not in seen


@pytest.mark.parametrize("case", ["replayed", "wrong_htu", "wrong_htm", "other_key", "no_proof"])
def test_rfc9449_4_3_a_bad_proof_is_refused_before_the_upstream(
    issuer: Issuer, gateway: str, client: DPoPClient, case: str
) -> None:
    url = f"{gateway}/api/orders"
    token = issuer.token(client.jkt)
    headers = client.headers("GET", url, token)
    if case == "replayed":
        assert httpx.get(url, headers=headers).status_code == 200
    elif case == "wrong_htu":
        headers = client.headers("GET", f"{gateway}/api/other", token)
    elif case == "wrong_htm":
        headers = client.headers("POST", url, token)
    elif case == "other_key":
        headers = DPoPClient().headers("GET", url, token)
    else:
        headers = {"Authorization": f"DPoP {token}"}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    error = "invalid_token" if case == "other_key" else "invalid_dpop_proof"
    assert challenge.startswith(f'DPoP {REALM}, error="{error}"'), challenge
    assert challenge.endswith(f"{ALGS}, Bearer {REALM}")
    assert "headers" not in response.json()  # the gateway's answer, not the upstream's


def test_rfc9449_7_2_a_bound_token_as_bearer_is_refused(
    issuer: Issuer, gateway: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    response = httpx.get(f"{gateway}/api/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer {REALM}, error="invalid_token"')
    assert challenge.endswith(f"DPoP {REALM}, {ALGS}")


def test_rfc9449_7_2_no_token_gets_both_challenges(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/orders")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"Bearer {REALM}, DPoP {REALM}, {ALGS}"


def test_insufficient_scope_is_403_in_the_dpop_challenge(
    issuer: Issuer, gateway: str, client: DPoPClient
) -> None:
    url = f"{gateway}/api/orders"
    response = httpx.post(url, headers=client.headers("POST", url, issuer.token(client.jkt)))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP {REALM}, error="insufficient_scope"')
    assert 'scope="orders:write"' in challenge


def test_the_proof_goes_upstream_with_the_token_when_the_token_does(
    issuer: Issuer, upstream: str, client: DPoPClient
) -> None:
    with serving(gateway_for(issuer, upstream, forward_authorization=True)) as base:
        url = f"{base}/api/orders"
        token = issuer.token(client.jkt)
        headers = client.headers("GET", url, token)
        seen = seen_headers(httpx.get(url, headers=headers))
    assert seen["authorization"] == [f"DPoP {token}"]
    assert seen["dpop"] == [headers["DPoP"]]


def test_rfc9449_9_gateway_nonces(issuer: Issuer, upstream: str, client: DPoPClient) -> None:
    with serving(gateway_for(issuer, upstream, dpop_nonces=True)) as base:
        url = f"{base}/api/orders"
        token = issuer.token(client.jkt)
        first = httpx.get(url, headers=client.headers("GET", url, token))
        assert first.status_code == 401
        assert first.headers["www-authenticate"].startswith(f'DPoP {REALM}, error="use_dpop_nonce"')
        nonce = first.headers["dpop-nonce"]
        second = httpx.get(url, headers=client.headers("GET", url, token, nonce=nonce))
        assert second.status_code == 200, second.text


def test_behind_a_proxy_proofs_name_the_public_url(
    issuer: Issuer, upstream: str, client: DPoPClient
) -> None:
    public = "https://app.example.com"
    token = issuer.token(client.jkt)
    with serving(gateway_for(issuer, upstream, public_url=public)) as base:
        headers = client.headers("GET", f"{public}/api/orders", token)
        assert httpx.get(f"{base}/api/orders", headers=headers).status_code == 200
    with serving(gateway_for(issuer, upstream, trust_forwarded=True)) as base:
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com"}
        headers = client.headers("GET", f"{public}/api/orders", token) | forwarded
        assert httpx.get(f"{base}/api/orders", headers=headers).status_code == 200


def test_with_dpop_off_the_gateway_is_bearer_only(
    issuer: Issuer, upstream: str, client: DPoPClient
) -> None:
    with serving(gateway_for(issuer, upstream, dpop=False)) as base:
        url = f"{base}/api/orders"
        token = issuer.token(client.jkt)
        dpop = httpx.get(url, headers=client.headers("GET", url, token))
        assert dpop.status_code == 401
        assert dpop.headers["www-authenticate"] == f"Bearer {REALM}"
        # A bound token is still no bearer token (RFC 9449 §7.2).
        bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401
        plain = httpx.get(url, headers={"Authorization": f"Bearer {issuer.token()}"})
        assert plain.status_code == 200
