"""FastAPI dependencies: ``Depends(resource.require_scopes("orders:read"))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from ostiary.resource.bearer import bearer_token
from ostiary.resource.errors import InsufficientScope, ResourceError
from ostiary.resource.verifier import Claims, TokenVerifier

Dependency = Callable[[Request], Awaitable[Claims]]


class ResourceServer:
    """Binds a verifier to FastAPI; each method returns a dependency yielding the claims."""

    def __init__(self, verifier: TokenVerifier, realm: str = "api") -> None:
        self.verifier = verifier
        self.realm = realm

    def _refuse(self, error: ResourceError) -> HTTPException:
        # RFC 6750 §3: every refusal carries the Bearer challenge.
        return HTTPException(
            error.status,
            detail=error.body() or "authentication required",
            headers={"WWW-Authenticate": error.challenge(self.realm)},
        )

    async def _claims(self, request: Request) -> Claims:
        cached = getattr(request.state, "claims", None)
        if isinstance(cached, Claims):
            return cached
        try:
            claims = await self.verifier.verify(bearer_token(request.headers.get("authorization")))
        except ResourceError as error:
            raise self._refuse(error) from None
        request.state.claims = claims
        return claims

    def authenticated(self) -> Dependency:
        """Any valid token."""
        return self._claims

    def require_scopes(self, *scopes: str) -> Dependency:
        """A valid token holding every one of ``scopes``."""
        needed = frozenset(scopes)

        async def dependency(request: Request) -> Claims:
            claims = await self._claims(request)
            if not needed <= claims.scopes:
                raise self._refuse(InsufficientScope(scopes))
            return claims

        return dependency

    def require_roles(self, *roles: str) -> Dependency:
        """A valid token whose roles claim (RFC 9068 §2.2.3.1) holds every one of ``roles``."""
        needed = frozenset(roles)

        async def dependency(request: Request) -> Claims:
            claims = await self._claims(request)
            if not needed <= claims.roles:
                # RFC 6750 has no code for roles; insufficient_scope is the nearest (403).
                raise self._refuse(InsufficientScope((), "the token lacks the required role"))
            return claims

        return dependency
