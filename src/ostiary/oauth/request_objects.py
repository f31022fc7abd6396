"""Signed request objects (RFC 9101, OIDC Core §6.1): the authorization request as a JWT the
client signs with one of its registered keys, given by value in ``request`` at the
authorization endpoint or pushed to the PAR endpoint (RFC 9126 §3).

Two steps, so that no error goes to a redirect URI before it is known to be the client's
(RFC 6749 §4.1.2.1): ``open_request`` proves the object is the client's (its signature
under one of the client's keys, its iss and client_id) and gives its parameters, each
failure a page; ``check_claims`` then holds the object to its audience, lifetime and single
use, each failure an ``invalid_request_object`` sent to the object's own redirect URI,
once that is found registered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.errors import OAuthError, UnsafeRequestObjectError
from ostiary.oauth.client_keys import ASYMMETRIC_ALGS, ClientKeyError, header_of, verify
from ostiary.oauth.params import REPEATABLE, join_values

if TYPE_CHECKING:
    from ostiary.oauth.deps import AuthorizeDeps

# Longest a request object may be valid, from its nbf (else its iat, else now) to its exp,
# and oldest its nbf may be: FAPI 2.0 Message Signing's 60 minutes.
MAX_LIFETIME = 3600
# Clock skew allowed on exp, nbf and iat, as for client assertions.
LEEWAY = 30
# RFC 9101 §4: the explicit type (§10.8); "JWT" from clients written before it.
TYPES = frozenset({"oauth-authz-req+jwt", "jwt"})
# JWT claims about the object itself (RFC 7519 §4.1), not parameters of the request.
JWT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
NESTED = frozenset({"request", "request_uri"})


@dataclass(frozen=True, slots=True)
class Opened:
    """A request object whose signature and client were verified."""

    client_id: str
    # RFC 9101 §6.3: the authorization request, made of the object's claims alone.
    params: dict[str, str]
    claims: dict[str, Any]
    # The response_type given beside it (OIDC Core §6.1: must agree with the object's).
    outer_response_type: str | None


def replay_key(client_id: str, jti: str) -> bytes:
    """The used-identifier key of a request object's jti: never that of a client assertion
    with the same jti (``client_auth.jwt.replay_key``)."""
    return hashlib.sha256(f"request-object\0{client_id}\0{jti}".encode()).digest()


async def open_request(
    services: AuthorizeDeps, client: Client, params: dict[str, str], *, pushed: bool = False
) -> Opened:
    """The verified request object in ``params["request"]`` of ``client`` (the one its
    client_id parameter names), or ``UnsafeRequestObjectError``. ``pushed``: ``params``
    came to the PAR endpoint, straight from the authenticated client."""
    token = params["request"]
    # OIDC Core §6.1, RFC 9101 §5: a request object by value or by reference, not both.
    if "request_uri" in params:
        raise UnsafeRequestObjectError(
            "request and request_uri must not both be given", "invalid_request"
        )
    # RFC 9101 §6.1: an encrypted object would be decrypted first; none is taken here.
    if token.count(".") == 4:
        raise UnsafeRequestObjectError("encrypted request objects (JWE) are not supported")
    try:
        header = header_of(token)
    except ClientKeyError:
        raise UnsafeRequestObjectError("the request object is not a signed JWT") from None
    alg = header.get("alg")
    # RFC 9101 §10.5: this server requires request objects to be signed.
    if alg == "none":
        raise UnsafeRequestObjectError("unsigned request objects (alg none) are refused")
    # OIDC Core §6.3.2, RFC 9101 §6.2 (RFC 8725 §3.1): the registered algorithm, if any,
    # else one of the client's own keys' asymmetric ones.
    registered = client.request_object_signing_alg
    allowed = (registered,) if registered else ASYMMETRIC_ALGS
    if not isinstance(alg, str) or alg not in allowed:
        raise UnsafeRequestObjectError(
            f"request objects of this client are signed with {'/'.join(allowed)}"
        )
    # RFC 7515 §4.1.11: no extension is understood here.
    if "crit" in header:
        raise UnsafeRequestObjectError("the request object uses an unsupported header (crit)")
    typ = header.get("typ")
    # RFC 9101 §10.8: a JWT of another type (an ID token, a DPoP proof) is not a request.
    if typ is not None and (
        not isinstance(typ, str) or typ.lower().removeprefix("application/") not in TYPES
    ):
        raise UnsafeRequestObjectError("the request object's typ is not oauth-authz-req+jwt")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > 255):
        raise UnsafeRequestObjectError("the request object's kid is malformed")
    claims = await _verified(services, client, token, alg, kid)
    # RFC 9101 §6.3 (§5): the client_id parameter and the object's claim MUST be identical.
    if claims.get("client_id") != params.get("client_id"):
        raise UnsafeRequestObjectError(
            "the request object's client_id is not the client_id parameter"
        )
    # RFC 9101 §10.2 (§4: iss SHOULD be there): the source is verified, the client made it.
    if claims.get("iss") != client.client_id:
        raise UnsafeRequestObjectError("the request object's iss must be the client_id")
    request = _parameters(claims)
    bound = params.get("dpop_jkt") if pushed else None
    # RFC 9449 §10.1: a DPoP proof at the PAR endpoint binds the code to its key (the PAR
    # endpoint puts its thumbprint beside the object); the object may not name another.
    if bound is not None and request.setdefault("dpop_jkt", bound) != bound:
        raise UnsafeRequestObjectError(
            "the request object's dpop_jkt is not the DPoP proof's key", "invalid_request"
        )
    return Opened(client.client_id, request, claims, params.get("response_type"))


async def _verified(
    services: AuthorizeDeps, client: Client, token: str, alg: str, kid: str | None
) -> dict[str, Any]:
    # RFC 9101 §6.2: the key MUST be associated with the client, and be the kid's if named.
    if client.jwks is None and client.jwks_uri is None:
        raise UnsafeRequestObjectError(
            "the client has no registered keys (jwks or jwks_uri) to check a request object"
        )
    try:
        keys = await services.client_keys.public_keys(client, kid)
    except ClientKeyError:
        raise UnsafeRequestObjectError("the client's registered keys cannot be read") from None
    if not keys:
        raise UnsafeRequestObjectError("no registered key of the client has the request's kid")
    try:
        return verify(token, keys, alg)
    except ClientKeyError:
        raise UnsafeRequestObjectError(
            "the signature does not verify with the client's registered keys"
        ) from None


def _parameters(claims: dict[str, Any]) -> dict[str, str]:
    """The authorization request parameters a request object's claims make (RFC 9101 §6.3),
    as strings like those of a query; the JWT's own claims and a nested request or
    request_uri (refused by ``check_claims``) are not among them."""
    params: dict[str, str] = {}
    for name, value in claims.items():
        if name in JWT_CLAIMS or name in NESTED:
            continue
        # RFC 8707 §2: resource may be given more than once: one string or an array, into
        # the one entry the query's repeated values make (``params.join_values``).
        if name in REPEATABLE and isinstance(value, str | list):
            given = [value] if isinstance(value, str) else value
            if not all(isinstance(v, str) for v in given):
                raise UnsafeRequestObjectError(f"the request object's {name!r} is not a string")
            params[name] = join_values(given)
        elif isinstance(value, str):
            params[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            params[name] = str(value)
        # OIDC Core §5.5: in a request object, claims is a JSON object.
        elif name == "claims" and isinstance(value, dict):
            params[name] = orjson.dumps(value).decode()
        else:
            raise UnsafeRequestObjectError(f"the request object's {name[:64]!r} is not a string")
    return params


def _invalid(description: str) -> OAuthError:
    return OAuthError("invalid_request_object", description)


async def check_claims(services: AuthorizeDeps, opened: Opened, *, first_use: bool) -> None:
    """The object's audience, lifetime and jti (``first_use``: record the jti; False for a
    pushed object, whose jti was recorded when it was pushed and which is used once)."""
    claims, now = opened.claims, clock.now()
    # RFC 9101 §4: request and request_uri MUST NOT be in a request object.
    if NESTED & claims.keys():
        raise _invalid("a request object must not hold request or request_uri")
    outer, inner = opened.outer_response_type, opened.params.get("response_type")
    # OIDC Core §6.1: response_type given outside MUST match the object's.
    if outer is not None and inner is not None and outer != inner:
        raise OAuthError("invalid_request", "response_type differs from the request object's")
    aud = claims.get("aud")
    issuer = services.settings.issuer
    # RFC 9101 §4 (a SHOULD we require, as FAPI 2.0 does): this server's issuer as the
    # audience, so an object made for another server is not taken here.
    if aud != issuer and not (isinstance(aud, list) and issuer in aud):
        raise _invalid("the request object's aud must be this server's issuer")
    exp, nbf, iat = _time(claims, "exp"), _time(claims, "nbf"), _time(claims, "iat")
    # RFC 7519 §4.1.4 (FAPI 2.0 Message Signing): exp required, and not passed.
    if exp is None or exp <= now - LEEWAY:
        raise _invalid("the request object has expired or has no exp")
    # RFC 7519 §4.1.5: not before nbf.
    if nbf is not None and nbf > now + LEEWAY:
        raise _invalid("the request object is not valid yet (nbf)")
    # FAPI 2.0 Message Signing: nbf no older than 60 minutes.
    if nbf is not None and nbf < now - MAX_LIFETIME - LEEWAY:
        raise _invalid("the request object's nbf is more than 60 minutes old")
    # RFC 7519 §4.1.6: issued in the future is a clock or a forgery.
    if iat is not None and iat > now + LEEWAY:
        raise _invalid("the request object was issued in the future (iat)")
    start = nbf if nbf is not None else iat if iat is not None else now
    # FAPI 2.0 Message Signing: valid for 60 minutes at most; a long-lived object would be
    # a reusable authorization request in all but name.
    if exp - start > MAX_LIFETIME or exp > now + MAX_LIFETIME + LEEWAY:
        raise _invalid("the request object is valid for more than 60 minutes")
    jti = claims.get("jti")
    if jti is None:
        return
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise _invalid("the request object's jti is malformed")
    # RFC 7519 §4.1.7: the jti is there to stop replays: one use until the object
    # expires, on every node.
    if first_use and not await services.store.used_jtis.first_use(
        replay_key(opened.client_id, jti), exp + LEEWAY
    ):
        raise _invalid("the request object was used before (jti)")


def _time(claims: dict[str, Any], name: str) -> int | None:
    """A NumericDate claim (RFC 7519 §2) in whole seconds, None if absent."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"the request object's {name} is not a number of seconds")
    return value
