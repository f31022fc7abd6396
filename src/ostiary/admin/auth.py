"""Who is calling the admin API: Ostiary's own JWT access tokens (RFC 6750, RFC 9068 §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from ostiary.accounts.access import grantable
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.admin.problems import Problem
from ostiary.errors import OAuthError
from ostiary.oauth.scopes import parse_scope
from ostiary.services import Services
from ostiary.tokens import jwt_access

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


def _challenge(error: str | None = None, description: str | None = None, **extra: str) -> str:
    # RFC 6750 §3: auth-params are quoted strings; descriptions are fixed ASCII text
    # without '"' or '\', as §3 requires of error_description.
    params = {"realm": REALM}
    if error:
        params["error"] = error
    if description:
        params["error_description"] = description
    params.update(extra)
    return "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())


def invalid_token(description: str) -> Problem:
    """RFC 6750 §3.1: 401 with the invalid_token code in the challenge."""
    return Problem(
        401,
        description,
        headers={"WWW-Authenticate": _challenge("invalid_token", description)},
        error="invalid_token",
    )


def _missing() -> Problem:
    # RFC 6750 §3.1: without any authentication the challenge carries no error code.
    return Problem(
        401,
        "a Bearer access token is required (RFC 6750 §2.1)",
        headers={"WWW-Authenticate": _challenge()},
    )


def _insufficient(needed: str) -> Problem:
    """RFC 6750 §3.1: 403 naming the scope that would do."""
    return Problem(
        403,
        f"this request needs the {needed} scope",
        headers={
            "WWW-Authenticate": _challenge(
                "insufficient_scope", "the token lacks the required scope", scope=needed
            )
        },
        error="insufficient_scope",
    )


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    # RFC 9110 §11.1: the auth scheme is case-insensitive.
    if scheme.lower() != "bearer" or not value.strip():
        raise invalid_token("the Authorization header is not a Bearer token")
    return value.strip()


def _audience_ok(claims: dict[str, object], services: Services) -> bool:
    # RFC 9068 §4: the token must be meant for us; Ostiary itself is the issuer.
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return services.settings.issuer in audiences


async def authenticate(
    services: Services, authorization: str | None, method: str, ip: str | None = None
) -> Caller:
    """Verify the Bearer token and that its scope allows this method, or raise a Problem."""
    token = _bearer(authorization)
    if token is None:
        raise _missing()
    keys = await services.keys.fresh()
    try:
        claims = await jwt_access.decode(keys, token, issuer=services.settings.issuer)
    except jwt_access.InvalidAccessToken:
        raise invalid_token("the access token is invalid or expired") from None
    sub, client_id = claims.get("sub"), claims.get("client_id")
    if (
        not isinstance(sub, str)
        or not isinstance(client_id, str)
        or not _audience_ok(claims, services)
    ):
        raise invalid_token("the access token is not meant for this API")
    store = services.store
    # RFC 7009 §2: a revoked token is dead at once; so are a deleted client's tokens.
    if await store.revocations.is_revoked(claims["jti"]):
        raise invalid_token("the access token was revoked")
    if await store.clients.get(client_id) is None:
        raise invalid_token("the client of this token no longer exists")
    scope = claims.get("scope")
    try:
        scopes = parse_scope(scope) if isinstance(scope, str) else frozenset()
    except OAuthError:
        scopes = frozenset()
    if sub != client_id:
        user = await store.users.get(sub)
        if user is None or user.disabled:
            raise invalid_token("the user of this token is disabled or deleted")
        # A user who lost the admin role since the token was issued loses its power now.
        scopes = await grantable(services, user.id, scopes)
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
