"""The console's client form and client security: every authentication method offered, a
private_key_jwt client registered with its keys and held to DPoP and PAR, a save that
keeps the method and the keys, and each refusal next to its field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import ConsoleUser, console_csrf, make_console_user, signed_in_client
from tests.e2e.test_console_clients import form_fields, register, registered

KEY = ECKey.generate_key("P-256", parameters={"kid": "console-1"})
JWKS = json.dumps({"keys": [KEY.as_dict(private=False)]})


@pytest.fixture
def admin(server: LiveServer) -> ConsoleUser:
    return make_console_user(server, "admin")


@pytest.fixture
def web(server: LiveServer, admin: ConsoleUser) -> Iterator[httpx.Client]:
    with signed_in_client(server, admin) as client:
        yield client


def stored(server: LiveServer, client_id: str) -> Any:
    async def read(services: Services) -> Any:
        return await services.store.clients.get(client_id)

    return server.call(read)


def test_every_authentication_method_is_offered(web: httpx.Client) -> None:
    page = web.get("/admin/clients/new").text
    for method in ("client_secret_basic", "client_secret_post", "client_secret_jwt",
                   "private_key_jwt"):  # fmt: skip
        assert f'<option value="{method}"' in page


def test_a_private_key_jwt_client_is_registered_and_a_save_keeps_it(
    server: LiveServer, web: httpx.Client
) -> None:
    client_id = registered(
        web,
        client_id=unique("pkjwt"),
        grant_types="client_credentials",
        token_endpoint_auth_method="private_key_jwt",
        jwks=JWKS,
        token_endpoint_auth_signing_alg="ES256",
        dpop_bound_access_tokens="on",
        require_pushed_authorization_requests="on",
    )
    client = stored(server, client_id)
    assert client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks["keys"][0]["kid"] == "console-1"
    assert client.dpop_bound_access_tokens and client.require_pushed_authorization_requests
    page = web.get(f"/admin/clients/{client_id}").text
    assert 'value="private_key_jwt" selected' in page and "console-1" in page

    # A save of the page as shown (the name changed) keeps the method and the keys.
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    data = form_fields(
        client_id,
        csrf=csrf,
        client_name="Renamed",
        token_endpoint_auth_method="private_key_jwt",
        jwks=JWKS,
        token_endpoint_auth_signing_alg="ES256",
        dpop_bound_access_tokens="on",
        require_pushed_authorization_requests="on",
    )
    answer = web.post(f"/admin/clients/{client_id}", data=data)
    assert answer.status_code == 303, answer.text
    client = stored(server, client_id)
    assert client.name == "Renamed" and client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks is not None and client.dpop_bound_access_tokens


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks", "jwks or jwks_uri"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "{not json"}, "jwks",
         "dictionary"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": JWKS,
          "jwks_uri": "https://app.example/jwks"}, "jwks", "not both"),
        ({"token_endpoint_auth_method": "client_secret_basic", "profile": "fapi2"}, "profile",
         "private_key_jwt"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth_subject_dn",
         "needs the certificate"),
    ],
)  # fmt: skip
def test_a_refusal_stands_next_to_its_field_and_keeps_the_input(
    web: httpx.Client, fields: dict[str, str], field: str, message: str
) -> None:
    answer = register(web, client_id=unique("bad"), grant_types="client_credentials", **fields)
    assert answer.status_code in (400, 422), answer.text
    assert f'id="e-{field}"' in answer.text, answer.text
    assert message in answer.text
    assert '<details class="more" open>' in answer.text
