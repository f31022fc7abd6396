"""Look up the client and run the method it registered (RFC 6749 §2.3, RFC 7591 §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import AuthMethod, Presented
from ostiary.oauth.client_auth.jwt import ClientSecretJwt, PrivateKeyJwt
from ostiary.oauth.client_auth.none import NoneMethod
from ostiary.oauth.client_auth.secret import ClientSecretBasic, ClientSecretPost

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps

METHODS: dict[str, AuthMethod] = {
    m.name: m
    for m in (
        ClientSecretBasic(),
        ClientSecretPost(),
        ClientSecretJwt(),
        PrivateKeyJwt(),
        NoneMethod(),
    )
}


async def authenticate_client(services: ClientAuthDeps, presented: Presented) -> Client:
    """The client ``presented`` names, if the credentials prove it with the method it
    registered (``presented_credentials`` read them from the request)."""
    basic = presented.method == "client_secret_basic"
    client = await services.store.clients.get(presented.client_id)
    if client is None:
        raise invalid_client("client authentication failed", basic=basic, detail="unknown client")
    # A client uses the method it registered; anything else is a failed authentication
    # (as node-oidc-provider and Hydra enforce token_endpoint_auth_method).
    if presented.method != client.token_endpoint_auth_method:
        raise invalid_client(
            f"client must authenticate with {client.token_endpoint_auth_method}",
            basic=basic,
        )
    await METHODS[presented.method].authenticate(client, presented, services)
    return client
