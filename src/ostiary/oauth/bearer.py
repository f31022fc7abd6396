"""The one Bearer authenticator of the server's own APIs (UserInfo, the admin API, SCIM):
an access token of ours, still live, meant for the API, and its scopes (RFC 6750,
RFC 9068 §4).

Reading the token and the refusals' challenges are the resource kit's
(``resource.bearer``, ``resource.challenge``), so these APIs answer as any resource
server built on the kit does; each only names its realm and renders the refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ostiary.errors import OAuthError
from ostiary.oauth.scopes import parse_scope
from ostiary.oauth.token_status import LiveToken, live_access_token
from ostiary.resource.authenticate import authenticate as kit_authenticate
from ostiary.resource.bearer import NotBearer, request_token
from ostiary.resource.claims import Claims
from ostiary.resource.dpop import DPoPVerifier
from ostiary.resource.errors import InvalidToken
from ostiary.tokens.deps import Checking


@dataclass(frozen=True, slots=True)
class Authenticated:
    token: LiveToken
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class DPoPRequest:
    """What a DPoP proof at one of these APIs is checked against (RFC 9449 §7)."""

    verifier: DPoPVerifier
    proofs: Sequence[str]
    method: str
    url: str


async def authenticate(
    services: Checking,
    authorization: str | None,
    *,
    audience: str | None,
    form_token: str | None = None,
    not_bearer: NotBearer | None = None,
    dpop: DPoPRequest | None = None,
) -> Authenticated:
    """The request's live access token and its scopes; else a ``ResourceError`` (RFC 6750
    §3.1). ``audience``: what the token's ``aud`` must hold (None: not checked);
    ``form_token``: a §2.2 form-body token, where the endpoint reads one; ``dpop``: the
    DPoP scheme is accepted too, with the resource kit's rules (RFC 9449 §7)."""
    found: list[LiveToken] = []

    async def verify(token: str) -> Claims:
        # Deny list, client deleted or cut off, user disabled or deleted, session ended:
        # one answer shared with introspection (RFC 7009 §2, RFC 7662 §2.2).
        live = await live_access_token(services, token)
        if live is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        if audience is not None:
            # RFC 9068 §4: the token must be meant for this API.
            aud = live.claims.get("aud")
            if audience not in (aud if isinstance(aud, list) else [aud]):
                raise InvalidToken("the access token is not meant for this API")
        found.append(live)
        return Claims.of(live.claims, "jwt")

    scheme = (authorization or "").strip().partition(" ")[0].lower()
    if dpop is not None and scheme == "dpop" and form_token is None:
        await kit_authenticate(
            verify, dpop.verifier, authorization, dpop.proofs, dpop.method, dpop.url
        )
    else:
        claims = await verify(request_token(authorization, form_token, not_bearer=not_bearer))
        # RFC 9449 §7.2: a DPoP-bound (or otherwise key-bound, RFC 7800) token is no
        # bearer token.
        if claims.get("cnf") is not None:
            raise InvalidToken("the token is bound to a key: send it with the DPoP scheme")
    live = found[0]
    scope = live.claims.get("scope")
    try:
        scopes = parse_scope(scope) if isinstance(scope, str) else frozenset()
    except OAuthError:
        scopes = frozenset()
    return Authenticated(live, scopes)
