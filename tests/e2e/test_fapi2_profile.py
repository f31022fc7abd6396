"""A client held to the FAPI 2.0 Security Profile (``profile=fapi2``, §5.3.2): the whole
flow as such a client runs it (private_key_jwt, PAR, PKCE S256, DPoP), and each rule's
refusal, naming the rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ostiary.oauth import profiles
from ostiary.oauth.registration import RegistrationError
from ostiary.services import Services
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
from tests.e2e.test_client_assertions import ASSERTION_TYPE, assertion, new_key, public_set

REDIRECT = "https://bank-app.example.com/cb"


def stored_client(server: LiveServer, client_id: str) -> Any:
    async def read(services: Services) -> Any:
        return await services.store.clients.get(client_id)

    return server.call(read)


class Fapi2Client:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.key = new_key()
        self.dpop = DPoPClient()
        self.registered: RegisteredClient = make_client(
            server,
            redirect_uris=[REDIRECT],
            scopes=["openid", "accounts"],
            auth_method="private_key_jwt",
            jwks=public_set(self.key),
            profile="fapi2",
        )

    @property
    def client_id(self) -> str:
        return self.registered.client_id

    def authentication(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(self.client_id, self.key, self.server.base_url),
        }

    def push(self, params: dict[str, str], *, dpop: bool = True) -> httpx.Response:
        url = f"{self.server.base_url}/par"
        headers = {"DPoP": self.dpop.proof("POST", url)} if dpop else {}
        return httpx.post(url, data={**params, **self.authentication()}, headers=headers)

    def token(self, data: dict[str, str], *, dpop: bool = True) -> httpx.Response:
        url = f"{self.server.base_url}/token"
        headers = {"DPoP": self.dpop.proof("POST", url)} if dpop else {}
        return httpx.post(url, data={**data, **self.authentication()}, headers=headers)


def _params(client: Fapi2Client, challenge: str | None) -> dict[str, str]:
    return authorize_params(client.registered, challenge, scope="openid accounts", nonce="n-1")


def test_fapi2_the_whole_flow(server: LiveServer) -> None:
    client = Fapi2Client(server)
    verifier, challenge = pkce_pair()
    params = _params(client, challenge)
    pushed = client.push(params)
    assert pushed.status_code == 201, pushed.text
    with browser(server) as web:
        response = login_and_consent(
            web,
            {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]},
            make_user(server),
        )
    query = query_of(response.headers["location"])
    # RFC 9207: iss in the authorization response.
    assert query["iss"] == server.base_url
    token = client.token(
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "DPoP"


def test_fapi2_5_3_2_2_a_request_not_pushed_is_refused_naming_the_rule(
    server: LiveServer,
) -> None:
    client = Fapi2Client(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        response = web.get("/authorize", params=_params(client, challenge))
    assert response.status_code in (302, 303), response.text
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert "FAPI 2.0" in query["error_description"] and "PAR" in query["error_description"]


def test_fapi2_5_3_2_2_pkce_is_required_even_for_a_confidential_client(
    server: LiveServer,
) -> None:
    client = Fapi2Client(server)
    refused = client.push(_params(client, None))
    assert refused.status_code == 400
    assert "PKCE" in refused.json()["error_description"]


def test_fapi2_5_3_2_1_tokens_need_a_dpop_proof(server: LiveServer) -> None:
    client = Fapi2Client(server)
    refused = client.token({"grant_type": "authorization_code", "code": "x"}, dpop=False)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert "DPoP" in refused.json()["error_description"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"auth_method": "client_secret_basic"}, "private_key_jwt"),
        ({"public": True, "auth_method": None}, "confidential"),
    ],
)
def test_fapi2_5_3_2_1_registration_keeps_the_client_to_a_key(
    server: LiveServer, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        make_client(server, redirect_uris=[REDIRECT], profile="fapi2", **spec)


def test_fapi2_5_3_2_2_the_redirect_uri_is_required(server: LiveServer) -> None:
    client = Fapi2Client(server)
    _, challenge = pkce_pair()
    params = _params(client, challenge)
    del params["redirect_uri"]
    refused = client.push(params)
    assert refused.status_code == 400
    assert "redirect_uri" in refused.json()["error_description"]


def test_fapi2_5_3_2_1_codes_live_60_seconds_at_most(server: LiveServer) -> None:
    client = Fapi2Client(server)
    fapi = stored_client(server, client.client_id)
    plain = stored_client(server, make_client(server).client_id)
    assert profiles.code_ttl(fapi, 600) == 60 and profiles.code_ttl(fapi, 30) == 30
    assert profiles.code_ttl(plain, 600) == 600
