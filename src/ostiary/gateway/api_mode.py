"""API mode: a bearer token per request (RFC 6750 §2.1), verified by the resource kit."""

from __future__ import annotations

from ostiary.gateway.headers import header
from ostiary.gateway.identity import Identity, authorise
from ostiary.gateway.rules import Rule
from ostiary.resource import TokenVerifier, bearer_token
from ostiary.resource.bearer import single_header


class BearerAuth:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def identify(self, headers: list[tuple[bytes, bytes]], rule: Rule) -> Identity:
        """The verified identity; raises the kit's ResourceError (401/403) otherwise."""
        authorization = single_header(header(headers, b"authorization"))
        claims = await self.verifier.verify(bearer_token(authorization))
        authorise(rule, claims)
        return Identity(claims)
