"""Public clients: identified, not authenticated (RFC 6749 §2.1); PKCE carries the proof."""

from __future__ import annotations

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import Presented


class NoneMethod:
    name = "none"

    def authenticate(self, client: Client, presented: Presented) -> None:
        if not client.public:
            raise invalid_client("this client must authenticate")
