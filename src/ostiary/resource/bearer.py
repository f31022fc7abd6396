"""Reading the Bearer token of a request (RFC 6750 §2), for every surface that takes one:
the resource kit and gateway, UserInfo, the admin API and SCIM.

Each refusal is a ``ResourceError`` whose status and challenge follow §3.1; a surface only
chooses its realm and, where its answers predate this module, what a header in another
scheme means (``not_bearer``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from ostiary.resource.errors import InvalidRequest, MissingToken, ResourceError

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

NotBearer = Callable[[], ResourceError]
H = TypeVar("H", str, bytes)


def is_b64token(value: str) -> bool:
    """Whether ``value`` may be a Bearer token at all. Anything else (non-ASCII header
    bytes, controls, spaces) is a malformed request (§3.1 invalid_request), answered
    without a token lookup."""
    return _B64TOKEN.fullmatch(value) is not None


def _malformed() -> InvalidRequest:
    return InvalidRequest("malformed Authorization header")


def _checked(token: str) -> str:
    if not is_b64token(token):
        # RFC 6750 §3.1: a token outside the §2.1 syntax is a malformed request (400).
        raise InvalidRequest("the token is not a valid Bearer token")
    return token


def bearer_token(authorization: str | None, *, not_bearer: NotBearer | None = None) -> str:
    """The token of an ``Authorization: Bearer <b64token>`` header (RFC 6750 §2.1).

    No header: ``MissingToken`` (401, a challenge without an error code, §3.1). A header
    in another scheme: by default also ``MissingToken`` (§3.1: "attempted using an
    unsupported authentication method"), the scheme without a token ``InvalidRequest``;
    ``not_bearer`` replaces both answers."""
    if not authorization:
        raise MissingToken()
    scheme, _, credentials = authorization.strip().partition(" ")
    token = credentials.strip()
    # RFC 9110 §11.1: the auth scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token:
        if not_bearer is not None:
            raise not_bearer()
        raise MissingToken() if scheme.lower() != "bearer" else _malformed()
    return _checked(token)


def request_token(
    authorization: str | None, form_token: str | None, *, not_bearer: NotBearer | None = None
) -> str:
    """The token of a request that may carry it in the header (§2.1) or as the
    ``access_token`` of a form-encoded body (§2.2), as ``bearer_token`` rules them."""
    if authorization:
        token = bearer_token(authorization, not_bearer=not_bearer)
        # RFC 6750 §2: clients MUST NOT use more than one method in a request.
        if form_token:
            raise InvalidRequest("send the token one way only")
        return token
    if not form_token:
        raise MissingToken()
    return _checked(form_token)


def single_header(values: Sequence[H]) -> H | None:
    """The one Authorization header of a request (None: none). RFC 6750 §2: a request
    carries its token one way only, so two headers are a malformed request."""
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header")
    return values[0] if values else None
