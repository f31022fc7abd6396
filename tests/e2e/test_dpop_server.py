"""DPoP at Ostiary's token endpoint, PAR, UserInfo and introspection (RFC 9449 §5, §6,
§7, §8, §10), over a real server; the DPoP client is written in the tests with joserfc
(``dpop_client.DPoPClient``), and the resource kit checks the tokens it gets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ostiary.resource import TokenVerifier
from tests.conftest import LiveServer
from tests.e2e.dpop_client import DPoPClient
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
)


def service(server: LiveServer, **spec: Any) -> RegisteredClient:
    return make_client(
        server, redirect_uris=[], grant_types=["client_credentials"], scopes=["read"], **spec
    )


def cc_token(
    server: LiveServer, client: RegisteredClient, proof: str | None = None
) -> httpx.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        auth=client.basic_auth(),
        headers=headers,
    )


def token_url(server: LiveServer) -> str:
    return f"{server.base_url}/token"


def test_rfc9449_5_a_proof_gets_a_dpop_bound_token(server: LiveServer) -> None:
    client, dpop = service(server), DPoPClient()
    response = cc_token(server, client, dpop.proof("POST", token_url(server)))
    assert response.status_code == 200, response.text
    body = response.json()
    # RFC 9449 §5: token_type DPoP; §6.1: cnf.jkt is the proof key's thumbprint.
    assert body["token_type"] == "DPoP"
    introspected = httpx.post(
        f"{server.base_url}/introspect", data={"token": body["access_token"]},
        auth=client.basic_auth(),
    ).json()  # fmt: skip
    assert introspected["active"] is True
    # RFC 9449 §6.2: introspection shows the binding.
    assert introspected["cnf"] == {"jkt": dpop.jkt} and introspected["token_type"] == "DPoP"


def test_without_a_proof_the_token_stays_a_bearer_token(server: LiveServer) -> None:
    response = cc_token(server, service(server))
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "case", ["wrong htu", "wrong htm", "stale iat", "replayed", "two headers", "garbage"]
)
def test_rfc9449_4_3_a_bad_proof_is_invalid_dpop_proof(server: LiveServer, case: str) -> None:
    client, dpop = service(server), DPoPClient()
    url = token_url(server)
    proof = dpop.proof("POST", url)
    headers: list[tuple[str, str]] = [("DPoP", proof)]
    if case == "wrong htu":
        headers = [("DPoP", dpop.proof("POST", f"{server.base_url}/other"))]
    elif case == "wrong htm":
        headers = [("DPoP", dpop.proof("GET", url))]
    elif case == "stale iat":
        headers = [("DPoP", dpop.proof("POST", url, iat=1_000_000_000))]
    elif case == "replayed":
        assert cc_token(server, client, proof).status_code == 200
    elif case == "two headers":
        headers.append(("DPoP", dpop.proof("POST", url)))
    elif case == "garbage":
        headers = [("DPoP", "not.a.jwt")]
    response = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=client.basic_auth(),
        headers=httpx.Headers(headers),
    )
    assert response.status_code == 400, (case, response.text)
    assert response.json()["error"] == "invalid_dpop_proof", case


def test_rfc9449_5_2_a_client_registered_for_dpop_must_send_a_proof(server: LiveServer) -> None:
    client = service(server, dpop_bound_access_tokens=True)
    response = cc_token(server, client)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    dpop = DPoPClient()
    assert cc_token(server, client, dpop.proof("POST", token_url(server))).status_code == 200


def test_rfc9449_7_the_resource_kit_takes_the_token_only_with_its_proof(
    server: LiveServer,
) -> None:
    client, dpop = service(server), DPoPClient()
    token = cc_token(server, client, dpop.proof("POST", token_url(server))).json()["access_token"]
    api = "https://api.example.com/orders"

    async def check() -> None:
        verifier = TokenVerifier(server.base_url, audience=server.base_url, dpop=True)
        try:
            claims = await verifier.verify_request(
                f"DPoP {token}", [dpop.proof("GET", api, token)], method="GET", url=api
            )
            assert claims.jkt == dpop.jkt
            with pytest.raises(Exception, match="DPoP"):
                await verifier.verify_request(f"Bearer {token}", [], method="GET", url=api)
        finally:
            await verifier.aclose()

    asyncio.run(check())


# -- authorization code, refresh, UserInfo ---------------------------------------------------


def _code_flow(
    server: LiveServer, client: RegisteredClient, dpop: DPoPClient, **extra: str
) -> tuple[httpx.Response, str]:
    username = make_user(server)
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="openid read offline_access", **extra)
    with browser(server) as web:
        response = login_and_consent(web, params, username)
    code = query_of(response.headers["location"])["code"]
    token = httpx.post(
        token_url(server),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
            "client_id": client.client_id,
        },
        headers={"DPoP": dpop.proof("POST", token_url(server))},
    )
    return token, code


def spa(server: LiveServer) -> RegisteredClient:
    return make_client(
        server,
        public=True,
        redirect_uris=["https://spa.example.com/cb"],
        scopes=["openid", "read", "offline_access"],
    )


def test_rfc9449_5_a_public_clients_refresh_token_is_bound_to_its_key(
    server: LiveServer,
) -> None:
    client, dpop = spa(server), DPoPClient()
    issued, _ = _code_flow(server, client, dpop)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "DPoP"
    refresh = body["refresh_token"]

    def refresh_with(proof: str | None) -> httpx.Response:
        return httpx.post(
            token_url(server),
            data={"grant_type": "refresh_token", "refresh_token": refresh,
                  "client_id": client.client_id},
            headers={"DPoP": proof} if proof else {},
        )  # fmt: skip

    # Without a proof, or with another key's: refused, and the token is not used up.
    assert refresh_with(None).json()["error"] == "invalid_grant"
    other = DPoPClient().proof("POST", token_url(server))
    assert refresh_with(other).json()["error"] == "invalid_grant"
    renewed = refresh_with(dpop.proof("POST", token_url(server)))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"


def test_rfc9449_7_userinfo_takes_the_dpop_scheme_with_a_proof(server: LiveServer) -> None:
    client, dpop = spa(server), DPoPClient()
    issued, _ = _code_flow(server, client, dpop)
    token = issued.json()["access_token"]
    url = f"{server.base_url}/userinfo"
    ok = httpx.get(url, headers=dpop.headers("GET", url, token))
    assert ok.status_code == 200, ok.text
    assert "sub" in ok.json()
    # RFC 9449 §7.2: the DPoP-bound token is no bearer token.
    as_bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    # A proof by another key, or for another URL, is refused with a DPoP challenge.
    stranger = DPoPClient()
    refused = httpx.get(
        url, headers={"Authorization": f"DPoP {token}", "DPoP": stranger.proof("GET", url, token)}
    )
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("DPoP")


def test_rfc9449_10_dpop_jkt_binds_the_code_to_the_key(server: LiveServer) -> None:
    client, dpop = spa(server), DPoPClient()
    issued, _ = _code_flow(server, client, dpop, dpop_jkt=dpop.jkt)
    assert issued.status_code == 200, issued.text
    # The same flow with another key at the token endpoint: the code is refused.
    refused, _ = _code_flow(server, client, DPoPClient(), dpop_jkt=dpop.jkt)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_rfc9449_10_1_a_proof_at_par_binds_the_code(server: LiveServer) -> None:
    client, dpop = spa(server), DPoPClient()
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    pushed = httpx.post(
        f"{server.base_url}/par",
        data=params,
        headers={"DPoP": dpop.proof("POST", f"{server.base_url}/par")},
    )
    assert pushed.status_code == 201, pushed.text
    with browser(server) as web:
        response = login_and_consent(
            web,
            {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]},
            make_user(server),
        )
    code = query_of(response.headers["location"])["code"]
    redeem = {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": params["redirect_uri"], "client_id": client.client_id,
    }  # fmt: skip
    stranger = DPoPClient().proof("POST", token_url(server))
    refused = httpx.post(token_url(server), data=redeem, headers={"DPoP": stranger})
    assert refused.json()["error"] == "invalid_grant"


def test_rfc9449_5_1_metadata_lists_the_proof_algorithms(server: LiveServer) -> None:
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server").json()
    algs = metadata["dpop_signing_alg_values_supported"]
    assert "ES256" in algs and "none" not in algs and not any(a.startswith("HS") for a in algs)


def test_rfc9449_10_1_a_dpop_jkt_other_than_the_proofs_key_is_refused_at_par(
    server: LiveServer,
) -> None:
    client, dpop = spa(server), DPoPClient()
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, dpop_jkt=DPoPClient().jkt)
    refused = httpx.post(
        f"{server.base_url}/par",
        data=params,
        headers={"DPoP": dpop.proof("POST", f"{server.base_url}/par")},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


def test_rfc9449_10_a_malformed_dpop_jkt_goes_back_to_the_client(server: LiveServer) -> None:
    client = spa(server)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, dpop_jkt="not-a-thumbprint")
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    assert response.status_code in (302, 303), response.text
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request" and "dpop_jkt" in query["error_description"]
