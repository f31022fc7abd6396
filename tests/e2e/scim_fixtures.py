"""A SCIM client for the e2e tests: a provisioning client with the scim scope."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.e2e.helpers import make_client

SCIM = "/scim/v2"
MEDIA = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_token(server: LiveServer, scope: str = "scim") -> str:
    client = make_client(
        server, redirect_uris=[], grant_types=["client_credentials"], scopes=[scope]
    )
    assert client.secret is not None
    response = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client.client_id, client.secret),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def scim_client(server: LiveServer, token: str | None) -> httpx.Client:
    headers = {"Content-Type": MEDIA, "Accept": MEDIA}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=server.base_url + SCIM, headers=headers, timeout=30)
