"""The interface every grant handler implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ostiary.domain.clients import Client
from ostiary.oauth.deps import GrantDeps


@dataclass(frozen=True, slots=True)
class TokenRequest:
    params: dict[str, str]
    client: Client
    # The thumbprint of the request's checked DPoP proof key (RFC 9449 §5), if any.
    jkt: str | None = None
    # The thumbprint of the client certificate the tokens are bound to (RFC 8705 §3.1),
    # if any; never set together with jkt (oauth/certificate_binding.py).
    x5t: str | None = None


class GrantHandler(Protocol):
    grant_type: str

    async def handle(self, request: TokenRequest, services: GrantDeps) -> dict[str, Any]:
        """Return the RFC 6749 §5.1 response body or raise an ``OAuthError``."""
