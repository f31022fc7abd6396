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
from ostiary.oauth.bearer import is_b64token
from ostiary.oauth.scopes import parse_scope
from ostiary.oauth.token_status import live_access_token
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
    token = value.strip()
    if not is_b64token(token):
        raise _malformed()
    return token


def _malformed() -> Problem:
    """RFC 6750 §3.1: a token outside the §2.1 syntax is a malformed request (400)."""
    description = "the token is not a valid Bearer token"
    return Problem(
        400,
        description,
        headers={"WWW-Authenticate": _challenge("invalid_request", description)},
        error="invalid_request",
    )


async def authenticate(
    services: Services, authorization: str | None, method: str, ip: str | None = None
) -> Caller:
    """Verify the Bearer token and that its scope allows this method, or raise a Problem."""
    token = _bearer(authorization)
    if token is None:
        raise _missing()
    # Deny list, client deleted or cut off, user disabled or deleted, session ended:
    # one answer shared with introspection and UserInfo (RFC 7009 §2, RFC 7662 §2.2).
    live = await live_access_token(services, token)
    if live is None:
        raise invalid_token("the access token is invalid, expired or revoked")
    claims = live.claims
    # RFC 9068 §4: the token must be meant for us; Ostiary itself is the issuer.
    aud = claims.get("aud")
    if services.settings.issuer not in (aud if isinstance(aud, list) else [aud]):
        raise invalid_token("the access token is not meant for this API")
    scope = claims.get("scope")
    try:
        scopes = parse_scope(scope) if isinstance(scope, str) else frozenset()
    except OAuthError:
        scopes = frozenset()
    sub, client_id = str(claims.get("sub")), live.client.client_id
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
