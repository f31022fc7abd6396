"""ID tokens (OIDC Core §2, §3.1.3.6) and the id_token_hint check."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.domain.users import User
from ostiary.tokens import claims as claims_module
from ostiary.tokens import signed
from ostiary.tokens.deps import Signing

DEFAULT_ALG = "RS256"  # OIDC Core §15.1: mandatory to implement.
ID_TOKEN_TYP = "JWT"
_HASHES = {
    "RS256": hashlib.sha256,
    "ES256": hashlib.sha256,
    "PS256": hashlib.sha256,
    "EdDSA": hashlib.sha512,
}


def token_hash(value: str, alg: str) -> str:
    """at_hash / c_hash (OIDC Core §3.1.3.6): left half of the alg's hash, base64url.

    EdDSA with Ed25519 hashes with SHA-512 (OIDC Core errata set 2, §3.1.3.6).
    """
    digest = _HASHES[alg](value.encode("ascii")).digest()
    half = digest[: len(digest) // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Authentication:
    """What the ID token says about how and when the user signed in."""

    auth_time: int
    acr: str | None
    amr: list[str] | None
    sid: str | None


def alg_for(client: Client) -> str:
    return client.id_token_signed_response_alg or DEFAULT_ALG


async def issue(
    services: Signing,
    client: Client,
    user: User,
    scopes: frozenset[str],
    auth: Authentication,
    *,
    nonce: str | None,
    access_token: str | None,
    requested: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> str:
    settings = services.settings
    now = clock.now()
    alg = alg_for(client)
    body: dict[str, Any] = {}
    # Keycloak-style: the scope's claims go in the ID token too, as most clients expect;
    # OIDC_ID_TOKEN_SCOPE_CLAIMS=false keeps only what the claims request asks for.
    released_scopes = scopes if settings.oidc.id_token_scope_claims else frozenset()
    body.update(claims_module.release(user, released_scopes, requested))
    body.update(extra or {})
    body.update(
        {
            "iss": settings.issuer,
            "sub": user.id,
            "aud": client.client_id,
            "exp": now + (client.id_token_ttl or settings.oidc.id_token_ttl),
            "iat": now,
            "auth_time": auth.auth_time,
            "jti": secrets.token_urlsafe(12),
        }
    )
    if nonce is not None:
        # OIDC Core §3.1.3.6: the nonce is echoed exactly.
        body["nonce"] = nonce
    if auth.acr is not None:
        body["acr"] = auth.acr
    if auth.amr:
        body["amr"] = list(auth.amr)
    if auth.sid is not None:
        body["sid"] = auth.sid
    if access_token is not None:
        body["at_hash"] = token_hash(access_token, alg)
    keys = await services.keys.fresh()
    return signed.sign(keys, alg, body, ID_TOKEN_TYP)


class InvalidHint(Exception):
    pass


async def check_hint(services: Signing, token: str) -> dict[str, Any]:
    """An id_token_hint must be one of ours; expiry does not matter (OIDC Core §3.1.2.1)."""
    keys = await services.keys.fresh()
    try:
        return await signed.verify(
            keys,
            token,
            issuer=services.settings.issuer,
            typ={ID_TOKEN_TYP},
            allow_expired=True,
        )
    except signed.InvalidToken as exc:
        raise InvalidHint(str(exc)) from None
