"""RFC 7662 token introspection for tokens the verifier cannot check locally."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import httpx

from ostiary.cache.bounded import BoundedCache
from ostiary.resource.errors import InvalidToken

# RFC 7662 §2.2 token_type is optional; when given it must name an access token, so a
# refresh token shown to a resource server is refused rather than taken as a credential.
# RFC 9449 §6.2: a DPoP-bound token is introspected as token_type "DPoP" (with cnf.jkt).
_ACCESS_TOKEN_TYPES = {"bearer", "access_token", "dpop"}


class Introspector:
    """Asks the authorization server about a token; remembers answers for a short time
    in a bounded cache (RFC 7662 §4: caching trades revocation latency for load)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        ttl: float = 30,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.endpoint = endpoint
        self._auth = (client_id, client_secret)
        self._ttl = ttl
        self._clock = clock
        # Answers, active or not, by token digest; the oldest answer leaves first.
        self._cache: BoundedCache[str, dict[str, Any] | None] = BoundedCache(
            max_entries, expiring=True, clock=clock, lru=False
        )
        self.calls = 0

    async def introspect(self, token: str) -> dict[str, Any]:
        """The active token's claims; InvalidToken when inactive or not an access token."""
        # The cache is keyed by a digest so a memory dump does not hand out live tokens.
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        if key in self._cache:
            claims = self._cache.peek(key)
        else:
            claims = await self._ask(token)
            until = now + self._ttl
            if claims is not None and isinstance(claims.get("exp"), int | float):
                until = min(until, float(claims["exp"]))
            self._cache.put(key, claims, expires_at=until)
        if claims is None:
            raise InvalidToken("the token is not active")
        return claims

    async def _ask(self, token: str) -> dict[str, Any] | None:
        self.calls += 1
        try:
            # RFC 7662 §2.1: POST, form-encoded, with the caller authenticated.
            response = await self._http.post(
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise InvalidToken("the token could not be introspected") from None
        # RFC 7662 §2.2: active is the only required member; anything else is inactive.
        if not isinstance(body, dict) or body.get("active") is not True:
            return None
        token_type = body.get("token_type")
        if isinstance(token_type, str) and token_type.lower() not in _ACCESS_TOKEN_TYPES:
            return None
        return body
