"""client_secret_basic and client_secret_post (RFC 6749 §2.3.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ostiary.crypto.tokens import matches
from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import Presented

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps


class _SecretMethod:
    name = ""

    async def authenticate(
        self, client: Client, presented: Presented, services: ClientAuthDeps
    ) -> None:
        if presented.secret is None or not matches(presented.secret, client.secret_hash):
            raise invalid_client(
                "client authentication failed",
                basic=presented.method == "client_secret_basic",
            )


class ClientSecretBasic(_SecretMethod):
    name = "client_secret_basic"


class ClientSecretPost(_SecretMethod):
    name = "client_secret_post"
