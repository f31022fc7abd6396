"""Verify RFC 9068 JWT access tokens locally, with introspection as the fallback."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jws import JWSRegistry

from ostiary.cache.bounded import BoundedCache
from ostiary.resource.authenticate import URL, authenticate

# Claims lived here before claims.py; imports of it from this module keep working.
from ostiary.resource.claims import Claims as Claims
from ostiary.resource.client_cert import CertificateSource
from ostiary.resource.dpop import DPoPVerifier
from ostiary.resource.errors import InvalidToken
from ostiary.resource.introspection import Introspector
from ostiary.resource.jwks import JWKSCache, http_fetch
from ostiary.resource.revocations import RevocationList

DEFAULT_ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
_ASYMMETRIC = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
_ASYMMETRIC |= {"EdDSA", "Ed25519"}
# RFC 9068 §4: the typ header MUST be checked; both spellings are allowed.
ACCEPTED_TYP = frozenset({"at+jwt", "application/at+jwt"})
MAX_TOKEN_LENGTH = 8192


_URLSAFE = bytes.maketrans(b"-_", b"+/")
_HEADER_CACHE_SIZE = 256
# Access tokens whose signature checked out (by the SHA-256 of their exact text): a client
# sends the same token until it expires, and the signature check is most of the kit's cost.
VERIFIED_CACHE_SIZE = 4096


def _b64(segment: str) -> bytes:
    """base64url without padding (RFC 7515 §2), strictly: stray characters are an error."""
    try:
        padded = (segment + "=" * (-len(segment) % 4)).encode("ascii").translate(_URLSAFE)
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token") from None


def _b64_json(segment: str) -> Any:
    try:
        return json.loads(_b64(segment).decode())
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise InvalidToken("malformed token") from None


@contextlib.contextmanager
def _quiet(alg: str) -> Iterator[None]:
    # joserfc warns on the RFC 9864-deprecated name "EdDSA", which issuers still use.
    if alg == "EdDSA":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            yield
    else:
        yield


class TokenVerifier:
    """Checks access tokens for one resource (``audience``) issued by one ``issuer``."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: int = 30,
        jwks_uri: str | None = None,
        introspection: tuple[str, str] | None = None,
        introspection_endpoint: str | None = None,
        revocations: RevocationList | None = None,
        http: httpx.AsyncClient | None = None,
        jwks_ttl: float = 300,
        unknown_kid_interval: float = 10,
        introspection_ttl: float = 30,
        introspection_cache_size: int = 10_000,
        verified_cache_size: int = VERIFIED_CACHE_SIZE,
        dpop: DPoPVerifier | bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        # RFC 9449 §7: with dpop (True: the defaults), the DPoP scheme is accepted too.
        self.dpop = DPoPVerifier(clock=clock) if dpop is True else dpop or None
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        # RFC 8725 §3.1 / RFC 9068 §4: never "none", never HMAC (a public key is no secret).
        if not self.algorithms or not self.algorithms <= _ASYMMETRIC:
            raise ValueError(f"only asymmetric JWS algorithms are allowed: {sorted(_ASYMMETRIC)}")
        self.leeway = leeway
        self.revocations = revocations if revocations is not None else RevocationList(clock=clock)
        self._http = http or httpx.AsyncClient(timeout=10)
        self._own_http = http is None
        self._jwks_uri = jwks_uri
        self._credentials = introspection
        self._introspection_endpoint = introspection_endpoint
        self._jwks_ttl = jwks_ttl
        self._unknown_kid_interval = unknown_kid_interval
        self._introspection_ttl = introspection_ttl
        self._introspection_cache_size = introspection_cache_size
        self._clock = clock
        self._jwks: JWKSCache | None = None
        self._introspector: Introspector | None = None
        self._setup_lock = asyncio.Lock()
        self._metadata: dict[str, Any] | None = None
        self._discovery_failed_at = -float("inf")
        self._headers: BoundedCache[str, dict[str, Any]] = BoundedCache(
            _HEADER_CACHE_SIZE, lru=False
        )
        # SHA-256 of a token -> (the key that verified it, its claims, read-only); see
        # _signed_claims. Digests, not tokens: no bearer credential is kept in memory.
        self._verified_max = max(0, verified_cache_size)
        self._verified: BoundedCache[bytes, tuple[object, Mapping[str, Any]]] = BoundedCache(
            self._verified_max, lru=False
        )

    @property
    def dpop_algs(self) -> str | None:
        """The ``algs`` of the DPoP challenge (RFC 9449 §7.1); None: DPoP not accepted."""
        return self.dpop.algs if self.dpop is not None else None

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    @property
    def jwks(self) -> JWKSCache | None:
        return self._jwks

    @property
    def introspector(self) -> Introspector | None:
        return self._introspector

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _setup(self) -> JWKSCache:
        if self._jwks is not None:
            return self._jwks
        async with self._setup_lock:
            if self._jwks is None:
                jwks_uri, endpoint = self._jwks_uri, self._introspection_endpoint
                if jwks_uri is None or (self._credentials and endpoint is None):
                    metadata = await self.metadata()
                    jwks_uri = jwks_uri or metadata.get("jwks_uri")
                    endpoint = endpoint or metadata.get("introspection_endpoint")
                if not isinstance(jwks_uri, str):
                    raise InvalidToken("the issuer publishes no jwks_uri")
                if self._credentials and isinstance(endpoint, str):
                    self._introspector = Introspector(
                        self._http,
                        endpoint,
                        *self._credentials,
                        ttl=self._introspection_ttl,
                        max_entries=self._introspection_cache_size,
                    )
                self._jwks = JWKSCache(
                    jwks_uri,
                    http_fetch(self._http),
                    ttl=self._jwks_ttl,
                    min_refetch_interval=self._unknown_kid_interval,
                )
        return self._jwks

    async def metadata(self) -> dict[str, Any]:
        """The issuer's metadata (RFC 8414 §3, OIDC Discovery §4), fetched once."""
        if self._metadata is None:
            # While the issuer is down, do not let every request retry discovery.
            now = time.monotonic()
            if now - self._discovery_failed_at < self._unknown_kid_interval:
                raise InvalidToken("the issuer's metadata could not be loaded")
            try:
                self._metadata = await self._discover()
            except InvalidToken:
                self._discovery_failed_at = now
                raise
        return self._metadata

    async def _discover(self) -> dict[str, Any]:
        base = self.issuer.rstrip("/")
        for path in ("openid-configuration", "oauth-authorization-server"):
            try:
                response = await self._http.get(f"{base}/.well-known/{path}")
                metadata = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                continue
            # RFC 8414 §3.3 / OIDC Discovery §4.3: the issuer MUST match exactly.
            if isinstance(metadata, dict) and metadata.get("issuer") == self.issuer:
                return metadata
        raise InvalidToken("the issuer's metadata could not be loaded")

    async def verify(self, token: str) -> Claims:
        """The token's claims if it is a live access token for our audience; else InvalidToken."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        if token.count(".") != 2:
            await self._setup()
            return await self._introspect(token, "not a JWT")
        # RFC 9068 §4: reject anything whose typ is not at+jwt (an ID token, say).
        claims = await self._signed_claims(token, ACCEPTED_TYP, remember=True)
        if claims is None:
            return await self._introspect(token, "unknown signing key")
        self._check(claims, require=("exp", "iat"))
        return Claims.of(claims, "jwt")

    async def verify_request(
        self,
        authorization: str | None,
        proofs: Sequence[str] = (),
        *,
        method: str = "GET",
        url: URL = "",
        certificate: CertificateSource = None,
    ) -> Claims:
        """The claims of a request's ``Authorization`` header: a Bearer token, or with
        ``dpop`` a DPoP-bound token and its one ``DPoP`` proof (``proofs``: every DPoP
        header value) for ``method`` and ``url`` (the URL the client used, or a function
        giving it). A certificate-bound token (RFC 8705 §3) only with ``certificate``, the
        client certificate a trusted TLS proxy passed on (or a function reading it: called
        only for such a token; see ``client_cert.CertificateHeader``). A ResourceError
        otherwise; its ``challenge`` names the scheme."""
        return await authenticate(
            self.verify, self.dpop, authorization, proofs, method, url, certificate
        )

    async def verify_signed(self, token: str, typ: frozenset[str]) -> dict[str, Any]:
        """Header and signature checks only, for other JWTs the issuer signs (the
        revocation feed); the caller checks the claims."""
        claims = await self._signed_claims(token, typ)
        if claims is None:
            raise InvalidToken("unknown signing key")
        return dict(claims)

    async def _signed_claims(
        self, token: str, typ: frozenset[str], *, remember: bool = False
    ) -> Mapping[str, Any] | None:
        """The claims of a JWS whose header and signature check out; None for a kid
        the JWKS does not hold (a candidate for introspection).

        With ``remember``, a token verified before by the same key (the JWKS still holds
        that key object under its kid) is not verified again: its claims come from a
        bounded cache, read-only. Header, algorithm and key checks run every time, and the
        caller still checks lifetime, audience and revocation on every request."""
        jwks = self._jwks or await self._setup()
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWT")
        header_segment, payload_segment, signature_segment = parts
        header = self._header(header_segment)
        # A header member of the wrong JSON type (a list is unhashable) is refused, not a 500.
        token_type = header.get("typ")
        if not isinstance(token_type, str) or token_type not in typ:
            raise InvalidToken("wrong token type")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("algorithm not allowed")
        # RFC 7515 §4.1.11: we understand no extensions, so any crit header is fatal.
        if "crit" in header:
            raise InvalidToken("unsupported critical header")
        kid = header.get("kid")
        if not isinstance(kid, str) or len(kid) > 128:
            raise InvalidToken("no usable kid")
        key = jwks.cached(kid) or await jwks.get(kid)
        if key is None:
            return None
        # RFC 8725 §3.1: the algorithm is the key's, not whatever the token claims.
        if alg not in key.algs:
            raise InvalidToken("algorithm does not match the key")
        digest = b""
        if remember:
            digest = hashlib.sha256(token.encode()).digest()
            seen = self._verified.get(digest)
            if seen is not None and seen[0] is key:
                return seen[1]
        # The signature is checked by joserfc's algorithm model on the input we parsed
        # once, rather than by jws.deserialize_compact, which would parse it all again.
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode()
        try:
            signature = _b64(signature_segment)
            payload = _b64(payload_segment)
            model = JWSRegistry.algorithms[alg]
            if alg == "EdDSA":
                with _quiet(alg):
                    valid = model.verify(signing_input, signature, key.key)
            else:
                valid = model.verify(signing_input, signature, key.key)
        except (JoseError, ValueError, TypeError, KeyError):
            valid = False
        if not valid:
            raise InvalidToken("bad signature")
        try:
            claims = json.loads(payload.decode())
        except ValueError:
            raise InvalidToken("malformed claims") from None
        if not isinstance(claims, dict):
            raise InvalidToken("malformed claims")
        if remember and self._verified_max:
            if len(self._verified) >= self._verified_max:
                self._forget_expired()
            view = MappingProxyType(claims)
            self._verified.put(digest, (key, view))
            return view
        return claims

    def _forget_expired(self) -> None:
        """Make room in the verified-token cache: drop expired tokens, and if none had
        expired, the older half (insertion order)."""
        now = self._clock() - self.leeway

        def expired(_: bytes, entry: tuple[object, Mapping[str, Any]]) -> bool:
            exp = entry[1].get("exp")
            return not (isinstance(exp, int | float) and exp > now)

        self._verified.drop(expired)
        self._verified.shrink(self._verified_max // 2)

    def _header(self, segment: str) -> dict[str, Any]:
        """The decoded JOSE header. One issuer's tokens share a few headers (alg, typ, kid),
        so decoded headers are kept in a small bounded cache; checks still run each time."""
        header = self._headers.get(segment)
        if header is None:
            header = _b64_json(segment)
            if not isinstance(header, dict):
                raise InvalidToken("malformed token")
            # Bounded: a flood of distinct headers only costs a re-parse.
            self._headers.put(segment, header)
        return header

    async def _introspect(self, token: str, why: str) -> Claims:
        if self._introspector is None:
            raise InvalidToken(why)
        claims = await self._introspector.introspect(token)
        # RFC 7662 §4: the resource server still checks audience and lifetime itself.
        self._check(claims, require=(), issuer_optional=True)
        return Claims.of(claims, "introspection")

    def _check(
        self, claims: Mapping[str, Any], *, require: tuple[str, ...], issuer_optional: bool = False
    ) -> None:
        # RFC 9068 §4 / RFC 7519 §4.1.1: the issuer MUST match exactly.
        if claims.get("iss") != self.issuer and not (issuer_optional and "iss" not in claims):
            raise InvalidToken("wrong issuer")
        # RFC 9068 §4: the audience MUST contain this resource server.
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise InvalidToken("wrong audience")
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is None and name not in require:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InvalidToken(f"missing or malformed {name}")
        # RFC 7519 §4.1.4 / §4.1.5, with leeway for clock skew.
        if "exp" in claims and claims["exp"] <= now - self.leeway:
            raise InvalidToken("the token has expired")
        if "nbf" in claims and claims["nbf"] > now + self.leeway:
            raise InvalidToken("the token is not yet valid")
        if "iat" in claims and claims["iat"] > now + self.leeway:
            raise InvalidToken("the token was issued in the future")
        reason = self.revocations.reason(claims)
        if reason is not None:
            raise InvalidToken(reason)
