"""API mode: a bearer token per request (RFC 6750 §2.1), verified by the resource kit."""

from __future__ import annotations

from ostiary.gateway.headers import header
from ostiary.gateway.identity import Identity, authorise
from ostiary.gateway.rules import Rule
from ostiary.resource import InvalidRequest, TokenVerifier, bearer_token


class BearerAuth:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def identify(self, headers: list[tuple[bytes, bytes]], rule: Rule) -> Identity:
        """The verified identity; raises the kit's ResourceError (401/403) otherwise."""
        values = header(headers, b"authorization")
        # RFC 6750 §2: exactly one way of sending the token; two headers are ambiguous.
        if len(values) > 1:
            raise InvalidRequest("more than one Authorization header")
        claims = await self.verifier.verify(bearer_token(values[0] if values else None))
        authorise(rule, claims)
        return Identity(claims)
