"""Who is calling the admin API: Ostiary's own JWT access tokens (RFC 6750, RFC 9068 §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from ostiary.accounts.access import grantable
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.admin.problems import Problem
from ostiary.oauth.bearer import authenticate as authenticate_bearer
from ostiary.resource.errors import InsufficientScope, InvalidToken, ResourceError
from ostiary.services import Services

REALM = "ostiary-admin"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Scope keys in the ASGI scope: set by ``AdminApi`` before FastAPI sees the request.
SERVICES_KEY = "ostiary.services"
CALLER_KEY = "ostiary.admin.caller"


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified token: ``sub`` is the client id (client credentials) or a user id."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    ip: str | None = None

    @property
    def actor(self) -> str:
        return f"admin:{self.sub}"


def refusal(error: ResourceError, detail: str | None = None) -> Problem:
    """An RFC 6750 §3 refusal as an RFC 9457 problem: the Bearer challenge, and the error
    code (when there is one, §3.1) as the ``error`` member; ``detail`` defaults to the
    error's description."""
    extensions = {"error": error.error} if error.error else {}
    return Problem(
        error.status,
        detail or error.description or "a Bearer access token is required (RFC 6750 §2.1)",
        headers={"WWW-Authenticate": error.challenge(REALM)},
        **extensions,
    )


def _not_bearer() -> InvalidToken:
    return InvalidToken("the Authorization header is not a Bearer token")


def _insufficient(needed: str) -> Problem:
    """RFC 6750 §3.1: 403 naming the scope that would do."""
    return refusal(InsufficientScope((needed,)), f"this request needs the {needed} scope")


async def authenticate(
    services: Services, authorization: str | None, method: str, ip: str | None = None
) -> Caller:
    """Verify the Bearer token and that its scope allows this method, or raise a Problem."""
    try:
        bearer = await authenticate_bearer(
            services, authorization, audience=services.settings.issuer, not_bearer=_not_bearer
        )
    except ResourceError as error:
        raise refusal(error) from None
    live, scopes = bearer.token, bearer.scopes
    sub, client_id = str(live.claims.get("sub")), live.client.client_id
    if live.user is not None:
        # A user who lost the admin role since the token was issued loses its power now.
        scopes = await grantable(services, live.user.id, scopes)
    caller = Caller(sub, client_id, scopes, ip)
    _authorize(caller, method)
    return caller


def _authorize(caller: Caller, method: str) -> None:
    """Reading needs ostiary:admin:read or ostiary:admin; changing needs ostiary:admin."""
    if method.upper() in SAFE_METHODS:
        if not caller.scopes & {ADMIN_SCOPE, ADMIN_READ_SCOPE}:
            raise _insufficient(ADMIN_READ_SCOPE)
    elif ADMIN_SCOPE not in caller.scopes:
        raise _insufficient(ADMIN_SCOPE)


# Documents the scheme in OpenAPI; the token is checked before FastAPI routes the request.
bearer_scheme = HTTPBearer(auto_error=False, description="An Ostiary access token")


def _services(request: Request) -> Services:
    return request.scope[SERVICES_KEY]


def _caller(request: Request) -> Caller:
    return request.scope[CALLER_KEY]


ServicesDep = Annotated[Services, Depends(_services)]
CallerDep = Annotated[Caller, Depends(_caller)]
