"""Look up the client and run the method it registered (RFC 6749 §2.3, RFC 7591 §2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import AuthMethod, Presented
from ostiary.oauth.client_auth.jwt import ClientSecretJwt, PrivateKeyJwt
from ostiary.oauth.client_auth.mtls import MTLS_METHODS, SelfSignedTlsClientAuth, TlsClientAuth
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
        TlsClientAuth(),
        SelfSignedTlsClientAuth(),
    )
}


async def authenticate_client(services: ClientAuthDeps, presented: Presented) -> Client:
    """The client ``presented`` names, if the credentials prove it with the method it
    registered (``presented_credentials`` read them from the request)."""
    basic = presented.method == "client_secret_basic"
    client = await services.store.clients.get(presented.client_id)
    if client is None:
        raise invalid_client("client authentication failed", basic=basic, detail="unknown client")
    method = presented.method
    # RFC 8705 §2: a client of an mTLS method sends its client_id alone, beside the
    # certificate of its connection (which the method checks, present or not).
    if method == "none" and client.token_endpoint_auth_method in MTLS_METHODS:
        method = client.token_endpoint_auth_method
    # A client uses the method it registered; anything else is a failed authentication
    # (as node-oidc-provider and Hydra enforce token_endpoint_auth_method).
    if method != client.token_endpoint_auth_method:
        raise invalid_client(
            f"client must authenticate with {client.token_endpoint_auth_method}",
            basic=basic,
        )
    await METHODS[method].authenticate(client, presented, services)
    return client
