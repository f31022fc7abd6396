"""private_key_jwt and client_secret_jwt: the client proves itself with a signed JWT
(RFC 7523 §2.2 and §3, OIDC Core §9)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import Presented
from ostiary.oauth.client_keys import ASYMMETRIC_ALGS, HMAC_ALGS, ClientKeyError, verify

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps

# Clock skew allowed on exp, nbf and iat: nodes and clients never agree to the second.
LEEWAY = 30
# The endpoints that authenticate clients: each names this server as an audience, as
# the issuer itself does (RFC 7523 §3 item 3; FAPI 2.0 asks for the issuer).
_ENDPOINTS = ("/token", "/par", "/introspect", "/revoke")


def audiences(issuer: str) -> frozenset[str]:
    return frozenset({issuer, *(issuer + path for path in _ENDPOINTS)})


def _audience_ok(aud: Any, ours: frozenset[str]) -> bool:
    if isinstance(aud, str):
        return aud in ours
    return isinstance(aud, list) and any(isinstance(a, str) and a in ours for a in aud)


def replay_key(client_id: str, jti: str) -> bytes:
    """The used-identifier key of an assertion: jtis are unique per client (RFC 7523 §3)."""
    return hashlib.sha256(f"client-assertion\0{client_id}\0{jti}".encode()).digest()


class _JwtMethod:
    name = ""
    algs: tuple[str, ...] = ()

    async def _keys(self, client: Client, kid: str | None, services: ClientAuthDeps) -> list[Any]:
        raise NotImplementedError

    async def authenticate(
        self, client: Client, presented: Presented, services: ClientAuthDeps
    ) -> None:
        assert presented.assertion is not None and presented.parts is not None
        header, claims = presented.parts.header, presented.claims or {}
        alg = header.get("alg")
        # RFC 7515 §4.1.11: no extension is understood here.
        if "crit" in header:
            raise invalid_client("the client assertion uses an unsupported header")
        typ = header.get("typ")
        # RFC 8725 §3.11: another kind of JWT the client signs (a request object, RFC 9101
        # §10.8: typ oauth-authz-req+jwt; a DPoP proof) is never taken as an assertion.
        if typ is not None and (not isinstance(typ, str) or typ.lower() != "jwt"):
            raise invalid_client("a client assertion is a JWT (typ JWT or none)")
        allowed = self.algs
        if client.token_endpoint_auth_signing_alg is not None:
            # RFC 7591 §2: token_endpoint_auth_signing_alg is the one alg the client uses.
            allowed = (client.token_endpoint_auth_signing_alg,)
        if not isinstance(alg, str) or alg not in allowed:
            raise invalid_client(
                f"client assertions of this client are signed with {'/'.join(allowed)}"
            )
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 255):
            raise invalid_client("malformed kid")
        try:
            keys = await self._keys(client, kid, services)
            if not keys:
                raise ClientKeyError("no registered key of the client matches")
            # The claims read before are the verified ones: the same decoded payload.
            verify(presented.assertion, keys, alg, presented.parts)
        except ClientKeyError as exc:
            raise invalid_client("client authentication failed", detail=str(exc)) from None
        await _check_claims(client, claims, services)


async def _check_claims(client: Client, claims: dict[str, Any], services: ClientAuthDeps) -> None:
    now = clock.now()
    settings = services.settings
    # RFC 7523 §3 items 1 and 2: iss and sub are both the client_id (RFC 7521 §5.2).
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise invalid_client("the client assertion's iss and sub must be the client_id")
    # RFC 7523 §3 item 3: this server must be an audience.
    if not _audience_ok(claims.get("aud"), audiences(settings.issuer)):
        raise invalid_client("the client assertion's aud must be this server's issuer")
    exp = claims.get("exp")
    # RFC 7523 §3 item 4: exp required, and not passed.
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now - LEEWAY:
        raise invalid_client("the client assertion is expired or has no exp")
    # A long-lived assertion is a bearer credential in all but name: refuse it.
    if exp > now + settings.client_security.assertion_max_lifetime + LEEWAY:
        raise invalid_client("the client assertion lives too long")
    # RFC 7523 §3 item 5: not before nbf.
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int) or nbf > now + LEEWAY):
        raise invalid_client("the client assertion is not valid yet")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int) or iat > now + LEEWAY):
        raise invalid_client("the client assertion was issued in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise invalid_client("the client assertion needs a jti")
    # RFC 7523 §3 item 7: one use per jti until the assertion expires, on every node.
    if not await services.store.used_jtis.first_use(
        replay_key(client.client_id, jti), exp + LEEWAY
    ):
        raise invalid_client("the client assertion was used before")


class PrivateKeyJwt(_JwtMethod):
    name = "private_key_jwt"
    algs = ASYMMETRIC_ALGS

    async def _keys(self, client: Client, kid: str | None, services: ClientAuthDeps) -> list[Any]:
        return await services.client_keys.public_keys(client, kid)


class ClientSecretJwt(_JwtMethod):
    name = "client_secret_jwt"
    algs = HMAC_ALGS

    async def _keys(self, client: Client, kid: str | None, services: ClientAuthDeps) -> list[Any]:
        return [services.client_keys.secret_key(client)]
