"""Public clients: identified, not authenticated (RFC 6749 §2.1); PKCE carries the proof."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import Presented

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps


class NoneMethod:
    name = "none"

    async def authenticate(
        self, client: Client, presented: Presented, services: ClientAuthDeps
    ) -> None:
        if not client.public:
            raise invalid_client("this client must authenticate")
