"""A WSGI decorator: ``app = protect(verifier, scopes=["orders:read"])(app)``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from ostiary.resource.bearer import bearer_token
from ostiary.resource.errors import InsufficientScope, ResourceError
from ostiary.resource.verifier import SyncTokenVerifier, TokenVerifier

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CLAIMS_KEY = "ostiary.claims"


def protect(
    verifier: SyncTokenVerifier | TokenVerifier,
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    realm: str = "api",
) -> Callable[[WSGIApp], WSGIApp]:
    """Wrap a WSGI app (a Flask app's ``wsgi_app`` too); the verified claims are left in
    ``environ["ostiary.claims"]`` (Flask: ``request.environ``)."""
    blocking = verifier if isinstance(verifier, SyncTokenVerifier) else SyncTokenVerifier(verifier)
    needed_scopes, needed_roles = tuple(scopes), frozenset(roles)

    def decorate(app: WSGIApp) -> WSGIApp:
        @functools.wraps(app)
        def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            try:
                claims = blocking.verify(bearer_token(environ.get("HTTP_AUTHORIZATION")))
                if not set(needed_scopes) <= claims.scopes:
                    raise InsufficientScope(needed_scopes)
                if not needed_roles <= claims.roles:
                    raise InsufficientScope((), "the token lacks the required role")
            except ResourceError as error:
                status, headers, body = error.response(realm)
                start_response(f"{status} {_REASONS[status]}", headers)
                return [body]
            environ[CLAIMS_KEY] = claims
            return app(environ, start_response)

        return wrapper

    return decorate


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
