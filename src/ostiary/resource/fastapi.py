"""FastAPI dependencies: ``Depends(resource.require_scopes("orders:read"))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Response

from ostiary.resource.asgi import certificate_reader, scope_url
from ostiary.resource.claims import Claims
from ostiary.resource.client_cert import CertificateHeader
from ostiary.resource.errors import ResourceError
from ostiary.resource.htu import check_origin
from ostiary.resource.verifier import TokenVerifier

Dependency = Callable[[Request, Response], Awaitable[Claims]]


class ResourceServer:
    """Binds a verifier to FastAPI; each method returns a dependency yielding the claims.
    ``public_origin`` and ``trust_forwarded``: where DPoP proofs' URLs come from behind a
    proxy; ``client_certificate``: where the TLS proxy passes the client's certificate, for
    certificate-bound tokens (``ostiary.resource.asgi.BearerAuthMiddleware``)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        realm: str = "api",
        *,
        public_origin: str | None = None,
        trust_forwarded: bool = False,
        client_certificate: CertificateHeader | None = None,
    ) -> None:
        self.verifier = verifier
        self.client_certificate = client_certificate
        self.realm = realm
        self.public_origin = check_origin(public_origin) if public_origin else None
        self.trust_forwarded = trust_forwarded

    def _refuse(self, error: ResourceError) -> HTTPException:
        # RFC 6750 §3 / RFC 9449 §7.1: every refusal carries the challenge(s).
        return HTTPException(
            error.status,
            detail=error.body() or "authentication required",
            headers=dict(error.headers(self.realm, self.verifier.dpop_algs)),
        )

    async def _claims(self, request: Request, response: Response) -> Claims:
        cached = getattr(request.state, "claims", None)
        if isinstance(cached, Claims):
            return cached
        try:
            claims = await self.verifier.verify_request(
                request.headers.get("authorization"),
                request.headers.getlist("dpop"),
                method=request.method,
                url=lambda: scope_url(request.scope, self.public_origin, self.trust_forwarded),
                certificate=certificate_reader(self.client_certificate, request.scope),
            )
        except ResourceError as error:
            raise self._refuse(error) from None
        if claims.dpop is not None and claims.dpop.next_nonce:
            # RFC 9449 §9: a fresher nonce for the client's next proof.
            response.headers["DPoP-Nonce"] = claims.dpop.next_nonce
        request.state.claims = claims
        return claims

    def authenticated(self) -> Dependency:
        """Any valid token."""
        return self._claims

    def require_scopes(self, *scopes: str) -> Dependency:
        """A valid token holding every one of ``scopes``."""

        async def dependency(request: Request, response: Response) -> Claims:
            claims = await self._claims(request, response)
            try:
                claims.require(scopes)
            except ResourceError as error:
                raise self._refuse(error) from None
            return claims

        return dependency

    def require_roles(self, *roles: str) -> Dependency:
        """A valid token whose roles claim (RFC 9068 §2.2.3.1) holds every one of ``roles``."""

        async def dependency(request: Request, response: Response) -> Claims:
            claims = await self._claims(request, response)
            try:
                claims.require(roles=roles)
            except ResourceError as error:
                raise self._refuse(error) from None
            return claims

        return dependency
