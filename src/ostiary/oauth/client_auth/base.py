"""What a client-authentication method looks like, and the credentials it reads."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_plus

import orjson

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client, invalid_request
from ostiary.keys import compact
from ostiary.oauth.client_keys import HMAC_ALGS, ClientKeyError, split_jwt
from ostiary.resource.client_cert import ClientCertificate

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps

# RFC 7523 §2.2: the client_assertion_type of a JWT client assertion.
JWT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Presented:
    """Credentials as they arrived: which method the request used and its values."""

    method: str
    client_id: str
    secret: str | None
    # A client assertion (RFC 7521 §4.2), decoded once, with its claims as yet unchecked.
    assertion: str | None = None
    parts: compact.Parts | None = None
    claims: dict[str, Any] | None = None
    # The certificate of the client's mutual-TLS connection (RFC 8705), as a trusted proxy
    # passed it: proof of the client for the mTLS methods, a key to bind tokens to for all.
    certificate: ClientCertificate | None = None


class AuthMethod(Protocol):
    name: str

    async def authenticate(
        self, client: Client, presented: Presented, services: ClientAuthDeps
    ) -> None:
        """Raise ``invalid_client`` unless the presented credentials prove the client."""


def read_basic(authorization: str | None) -> tuple[str, str] | None:
    """Decode HTTP Basic credentials (RFC 6749 §2.3.1: each part form-urlencoded first)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    # Header bytes arrive as latin-1 text; base64 of anything but ASCII is malformed, and
    # b64decode would raise a plain ValueError for it (not binascii.Error).
    if not value.isascii():
        raise invalid_client("malformed Basic credentials", basic=True)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials", basic=True)
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not client_id.isprintable() or not secret.isprintable():
        raise invalid_client("malformed Basic credentials", basic=True)
    return client_id, secret


def _assertion(
    params: dict[str, str], assertion: str, certificate: ClientCertificate | None
) -> Presented:
    """RFC 7521 §4.2 / RFC 7523 §2.2: the client is the assertion's subject; the method is
    client_secret_jwt for an HMAC, private_key_jwt otherwise (OIDC Core §9)."""
    # RFC 7521 §4.2: the assertion type must be given, and be one we know.
    if params.get("client_assertion_type") != JWT_ASSERTION:
        raise invalid_request(f"client_assertion_type must be {JWT_ASSERTION}")
    try:
        parts = split_jwt(assertion)
        claims = orjson.loads(parts.payload)
    except (ClientKeyError, ValueError) as exc:
        raise invalid_client(f"malformed client assertion: {exc}") from None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise invalid_client("the client assertion has no sub")
    # RFC 7521 §4.2: a client_id given beside the assertion must name the same client.
    if "client_id" in params and params["client_id"] != subject:
        raise invalid_client("client_id does not match the client assertion")
    alg = parts.header.get("alg")
    method = "client_secret_jwt" if alg in HMAC_ALGS else "private_key_jwt"
    return Presented(method, subject, None, assertion, parts, claims, certificate)


def presented_credentials(
    params: dict[str, str],
    authorization: str | None,
    certificate: ClientCertificate | None = None,
) -> Presented:
    """Work out which single method the client used (RFC 6749 §2.3: at most one).

    A TLS client certificate is no credential of its own here: with ``client_id`` alone
    the method is "none", and the client's registered mTLS method (RFC 8705 §2) decides
    what the certificate must prove (``registry.authenticate_client``)."""
    basic = read_basic(authorization)
    body_secret = params.get("client_secret")
    assertion = params.get("client_assertion")
    if assertion is not None:
        if basic is not None or body_secret is not None:
            raise invalid_request("use only one client authentication method")
        return _assertion(params, assertion, certificate)
    if "client_assertion_type" in params:
        raise invalid_request("client_assertion_type without client_assertion")
    if basic is not None:
        if body_secret is not None:
            raise invalid_request("use only one client authentication method")
        if "client_id" in params and params["client_id"] != basic[0]:
            raise invalid_client("client_id does not match the credentials", basic=True)
        return Presented("client_secret_basic", basic[0], basic[1], certificate=certificate)
    client_id = params.get("client_id")
    if client_id is None:
        raise invalid_client("client authentication is required")
    if body_secret is not None:
        return Presented("client_secret_post", client_id, body_secret, certificate=certificate)
    return Presented("none", client_id, None, certificate=certificate)
