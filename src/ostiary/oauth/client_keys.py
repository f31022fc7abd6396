"""A client's key material: the public keys it registered (RFC 7591 §2 ``jwks``, or
fetched from its ``jwks_uri``) and, for client_secret_jwt, its sealed shared secret.

Used to check what a client signs: its authentication assertions (RFC 7523) and its
request objects (RFC 9101).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet, OctKey

from ostiary.cache.bounded import BoundedCache
from ostiary.crypto.sealing import Sealer, UnsealError
from ostiary.domain.clients import Client
from ostiary.keys import compact
from ostiary.keys.compact import Verifier
from ostiary.resource.dpop import PRIVATE_MEMBERS

# What a client may sign with its own keys: asymmetric algorithms only (never "none", and
# no HMAC, whose "secret" would be a public key).
ASYMMETRIC_ALGS = ("ES256", "ES384", "PS256", "PS384", "RS256", "EdDSA")
# client_secret_jwt (RFC 7523 §2.2 with OIDC Core §9): an HMAC under the client secret.
HMAC_ALGS = ("HS256", "HS384", "HS512")
_KTY_OF = {"ES": "EC", "PS": "RSA", "RS": "RSA", "Ed": "OKP", "HS": "oct"}
MAX_KEYS = 20
MAX_JWKS_BYTES = 64 * 1024
MAX_JWT_LENGTH = 16 * 1024
# An unknown kid fetches the jwks_uri again at once (the client rotated its keys), but
# never more often than this, so a stream of made-up kids cannot make us hammer it.
REFETCH_INTERVAL = 10.0


class ClientKeyError(ValueError):
    """The client's keys are unusable (bad set, jwks_uri unreachable) or its JWT fails."""


def parse_key_set(data: Any) -> KeySet:
    """A registered JWK Set (RFC 7517 §5): public asymmetric keys only, at most MAX_KEYS,
    no two with the same kid."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ClientKeyError('a JWK Set is an object with a "keys" array (RFC 7517 §5)')
    keys = data["keys"]
    if not keys or len(keys) > MAX_KEYS:
        raise ClientKeyError(f"a JWK Set here holds 1 to {MAX_KEYS} keys")
    kids = []
    for key in keys:
        if not isinstance(key, Mapping):
            raise ClientKeyError("each key of a JWK Set is an object")
        if key.get("kty") not in ("RSA", "EC", "OKP"):
            raise ClientKeyError("keys must be RSA, EC or OKP public keys")
        if PRIVATE_MEMBERS & set(key):
            raise ClientKeyError("a key holds private members: register public keys only")
        if "kid" in key:
            kids.append(key["kid"])
    if len(kids) != len(set(map(str, kids))):
        raise ClientKeyError("two keys share a kid")
    try:
        key_set = KeySet.import_key_set({"keys": [dict(k) for k in keys]})
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientKeyError(f"a key cannot be read: {exc}") from None
    for key in key_set.keys:
        if key.key_type == "RSA" and key.as_dict().get("n") and _rsa_bits(key) < 2048:
            raise ClientKeyError("RSA keys must have at least 2048 bits")
    return key_set


def _rsa_bits(key: Any) -> int:
    return int(key.public_key.key_size)


def split_jwt(token: str) -> compact.Parts:
    """A compact JWS's parts, decoded and unchecked (its header chooses the key and the
    method); ``verify`` takes them back, so a token is decoded once."""
    if len(token) > MAX_JWT_LENGTH or token.count(".") != 2:
        raise ClientKeyError("not a compact JWT")
    try:
        return compact.split(token)
    except (ValueError, UnicodeError) as exc:
        raise ClientKeyError(f"malformed JWT: {exc}") from None


def header_of(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unchecked."""
    return split_jwt(token).header


# Signature checks by (key object, alg): a client signs every assertion with the same key,
# and building the check from the JWK each time would cost as much as the check itself.
_checks: BoundedCache[tuple[int, str], tuple[Any, Verifier | None]] = BoundedCache(4096, lru=False)


def _check_for(key: Any, alg: str) -> Verifier | None:
    """``keys.compact``'s direct check for this key and alg (None: joserfc's path)."""
    cached = _checks.get((id(key), alg))
    if cached is not None and cached[0] is key:
        return cached[1]
    check = compact.verifier_for(alg, key.public_key) if key.key_type != "oct" else None
    _checks.put((id(key), alg), (key, check))
    return check


def verify(
    token: str, keys: list[Any], alg: str, parts: compact.Parts | None = None
) -> dict[str, Any]:
    """The claims of ``token`` (``parts``: as ``split_jwt`` gave them) if one of ``keys``
    verifies its ``alg`` signature."""
    kty = _KTY_OF.get(alg[:2])
    candidates = [k for k in keys if k.key_type == kty]
    if parts is None:
        parts = split_jwt(token)
    for key in candidates:
        check = _check_for(key, alg)
        if check is not None:
            if not check(parts.signing_input, parts.signature):
                continue
            try:
                claims = orjson.loads(parts.payload)
            except orjson.JSONDecodeError:
                raise ClientKeyError("the JWT's claims are not JSON") from None
        else:
            try:
                with warnings.catch_warnings(action="ignore", category=SecurityWarning):
                    claims = jwt.decode(token, key, algorithms=[alg]).claims
            except (JoseError, ValueError, TypeError):
                continue
        if isinstance(claims, dict):
            return claims
    raise ClientKeyError("the signature does not verify with the client's keys")


class ClientKeys:
    """One node's view of every client's keys: registered key sets parsed once, jwks_uri
    fetched and kept for ``ttl`` seconds (at once again for an unknown kid)."""

    def __init__(
        self, sealer: Sealer, *, ttl: float, timeout: float, http: httpx.AsyncClient | None = None
    ) -> None:
        self._sealer = sealer
        self._ttl = ttl
        self._timeout = timeout
        self._http = http
        self._given: BoundedCache[str, tuple[object, KeySet]] = BoundedCache(10_000, lru=False)
        self._fetched: BoundedCache[str, tuple[float, KeySet]] = BoundedCache(10_000, lru=False)

    def seal_secret(self, secret: str) -> bytes:
        return self._sealer.seal(secret.encode())

    def secret_key(self, client: Client) -> OctKey:
        """client_secret_jwt's HMAC key: the client secret itself (RFC 7523 §2.2)."""
        if client.secret_sealed is None:
            raise ClientKeyError("the client has no secret for client_secret_jwt: rotate it")
        try:
            return OctKey.import_key(self._sealer.unseal(client.secret_sealed))
        except UnsealError as exc:
            raise ClientKeyError(str(exc)) from None

    async def public_keys(self, client: Client, kid: str | None) -> list[Any]:
        """The client's keys that may have signed a JWT with this ``kid`` (all of them
        when it names none)."""
        if client.jwks is not None:
            return _pick(self._registered(client), kid)
        if client.jwks_uri is None:
            return []
        now = time.monotonic()
        fetched = self._fetched.get(client.jwks_uri)
        if fetched is None or now - fetched[0] > self._ttl:
            fetched = await self._fetch(client.jwks_uri, now)
        keys = _pick(fetched[1], kid)
        if not keys and kid is not None and now - fetched[0] >= REFETCH_INTERVAL:
            # RFC 7517 §4.5 / OIDC Core §10.1.1: a new kid means the client rotated.
            keys = _pick((await self._fetch(client.jwks_uri, now))[1], kid)
        return keys

    def _registered(self, client: Client) -> KeySet:
        cached = self._given.get(client.client_id)
        # The cached client row holds the same object until the registration changes.
        if cached is not None and cached[0] is client.jwks:
            return cached[1]
        key_set = parse_key_set(client.jwks)
        self._given.put(client.client_id, (client.jwks, key_set))
        return key_set

    async def _fetch(self, uri: str, now: float) -> tuple[float, KeySet]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        body = bytearray()
        try:
            async with self._http.stream(
                "GET", uri, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise ClientKeyError(f"the client's jwks_uri answered {response.status_code}")
                # Read no more than a key set needs, whatever the other end sends.
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ClientKeyError("the client's jwks_uri answered more than 64 KiB")
        except httpx.HTTPError as exc:
            raise ClientKeyError(f"the client's jwks_uri cannot be fetched: {exc}") from None
        try:
            key_set = parse_key_set(orjson.loads(body))
        except orjson.JSONDecodeError:
            raise ClientKeyError("the client's jwks_uri did not answer JSON") from None
        fetched = (now, key_set)
        self._fetched.put(uri, fetched)
        return fetched

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _pick(key_set: KeySet, kid: str | None) -> list[Any]:
    if kid is None:
        return list(key_set.keys)
    return [k for k in key_set.keys if k.kid == kid]
