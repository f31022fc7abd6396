"""DPoP proof checking (RFC 9449 §4.3), pure and without the server: the resource kit and
the gateway check proofs with it, and so does the authorization server's token endpoint.

``DPoPVerifier.check`` runs every §4.3 check but replay; ``DPoPVerifier.verify`` adds the
replay guard (§11.1). A refusal is a ``DPoPError`` carrying the RFC 9449 error code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from ostiary.cache.bounded import BoundedCache
from ostiary.resource.dpop_replay import MemoryReplayGuard, ReplayGuard, replay_key
from ostiary.resource.htu import same_uri
from ostiary.resource.jwks import ALGS_FOR, fits

__all__ = [
    "DEFAULT_ALGORITHMS",
    "INVALID_DPOP_PROOF",
    "SUPPORTED_ALGORITHMS",
    "USE_DPOP_NONCE",
    "DPoPError",
    "DPoPProof",
    "DPoPVerifier",
    "MemoryReplayGuard",
    "NonceSource",
    "ReplayGuard",
    "access_token_hash",
    "jwk_thumbprint",
    "one_proof",
    "replay_key",
]

INVALID_DPOP_PROOF = "invalid_dpop_proof"
USE_DPOP_NONCE = "use_dpop_nonce"
# RFC 9449 §4.3 (5): registered asymmetric algorithms only. No "none", no HMAC (the key is
# in the proof itself), no RS384/RS512/PS384/PS512 (no client needs them), and EdDSA only
# on Ed25519 (ALGS_FOR), under both its RFC 8037 and RFC 9864 names.
SUPPORTED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA", "Ed25519"})
DEFAULT_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA", "Ed25519")
ACCEPTED_TYP = frozenset({"dpop+jwt", "application/dpop+jwt"})
# Size caps: a hostile header costs one length check, or at most one small parse.
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
MAX_NONCE_LENGTH = 512
RSA_BITS = (2048, 4096)  # RFC 7518 §3.3 floor; the ceiling bounds the cost of a check
_KEY_TYPES: dict[str, Any] = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
# RFC 7517 §6.2.2, §6.3.2 (and §6.4 for "k"): members only a private key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_URLSAFE = bytes.maketrans(b"-_", b"+/")


class DPoPError(Exception):
    """A refused proof: ``error`` is ``invalid_dpop_proof`` or ``use_dpop_nonce``
    (RFC 9449 §7.1, §8, §9), ``nonce`` the one to send in ``DPoP-Nonce`` for the latter."""

    def __init__(self, error: str, description: str, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.nonce = nonce


def _invalid(description: str) -> DPoPError:
    return DPoPError(INVALID_DPOP_PROOF, description)


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A proof that passed: who signed it (``jkt``, RFC 7638 thumbprint) and its claims.
    ``next_nonce``: a newer server nonce to hand the client (RFC 9449 §9), if any."""

    jkt: str
    jti: str
    iat: float
    htm: str
    htu: str
    alg: str
    nonce: str | None = None
    ath: str | None = None
    next_nonce: str | None = None


class NonceSource(Protocol):
    """Server-provided nonces (RFC 9449 §8, §9): the one to hand out, and which to accept."""

    def current(self) -> str: ...

    def accepts(self, nonce: str) -> bool: ...


def _b64(segment: str) -> bytes:
    """base64url without padding (RFC 7515 §2), strictly."""
    try:
        padded = (segment + "=" * (-len(segment) % 4)).encode("ascii").translate(_URLSAFE)
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _invalid("the proof is not a well-formed JWT") from None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 / RFC 7519 §7.2: a member named twice is refused, not read one way.
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate member")
    return found


# One decoder: json.loads with a hook would build a new one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(_b64(segment).decode())
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise _invalid("the proof is not a well-formed JWT") from None
    if not isinstance(value, dict):
        raise _invalid("the proof is not a well-formed JWT")
    return value


def access_token_hash(token: str) -> str:
    """The ``ath`` for ``token``: base64url of its SHA-256 (RFC 9449 §4.2)."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def one_proof(values: Sequence[str]) -> str:
    """The one ``DPoP`` header of a request. A comma means a proxy joined two headers."""
    # RFC 9449 §4.3 (1): there is not more than one DPoP header field.
    if len(values) > 1 or (values and "," in values[0]):
        raise _invalid("more than one DPoP header")
    if not values or not values[0].strip():
        raise _invalid("a DPoP proof is required with the DPoP scheme")
    return values[0].strip()


@dataclass(frozen=True, slots=True)
class _ProofKey:
    alg: str
    key: Any
    jkt: str


def _public_key(jwk: Any, alg: str) -> tuple[Any, str]:
    """The joserfc key of a proof's ``jwk`` header and its RFC 7638 thumbprint."""
    if not isinstance(jwk, dict):
        raise _invalid("the proof has no jwk header")
    # RFC 9449 §4.3 (7): the jwk does not contain a private key.
    if PRIVATE_MEMBERS & jwk.keys():
        raise _invalid("the proof's jwk holds a private key")
    kty, curve = jwk.get("kty"), jwk.get("crv")
    if not isinstance(kty, str) or not isinstance(curve, str | None):
        raise _invalid("the proof's jwk is not a usable public key")
    if kty not in _KEY_TYPES or alg not in ALGS_FOR.get((kty, curve if kty != "RSA" else None), ()):
        raise _invalid("the proof's jwk does not fit its alg")
    modulus = jwk.get("n") if kty == "RSA" else None
    # The RSA size from the modulus's length first (6 bits a character), before any parse.
    if modulus is not None and not (
        isinstance(modulus, str) and RSA_BITS[0] <= len(modulus) * 6 <= RSA_BITS[1] + 6
    ):
        raise _invalid("the proof's jwk does not fit its alg")
    try:
        with warnings.catch_warnings():
            # joserfc warns about weak keys; they are refused below, not logged per request.
            warnings.simplefilter("ignore", SecurityWarning)
            key = _KEY_TYPES[kty].import_key(jwk)
        bits = key.public_key.key_size if kty == "RSA" else RSA_BITS[0]
        thumbprint = key.thumbprint()
    except (JoseError, ValueError, TypeError, KeyError):
        raise _invalid("the proof's jwk is not a usable public key") from None
    if not RSA_BITS[0] <= bits <= RSA_BITS[1] or not fits(alg, key):
        raise _invalid("the proof's jwk does not fit its alg")
    return key, thumbprint


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK SHA-256 thumbprint of a public key (as in ``cnf.jkt``)."""
    kty = jwk.get("kty")
    if kty not in _KEY_TYPES:
        raise ValueError(f"unsupported key type: {kty!r}")
    return str(_KEY_TYPES[kty].import_key(dict(jwk)).thumbprint())


class DPoPVerifier:
    """Checks DPoP proofs (RFC 9449 §4.3): ``algorithms`` allowed (a subset of
    ``SUPPORTED_ALGORITHMS``), ``iat`` at most ``max_age`` seconds old and ``max_skew``
    ahead, replays caught by ``replay``, server nonces required when ``nonces`` is set."""

    def __init__(
        self,
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        max_age: float = 60,
        max_skew: float = 5,
        replay: ReplayGuard | None = None,
        nonces: NonceSource | None = None,
        clock: Callable[[], float] = time.time,
        key_cache_size: int = 1024,
    ) -> None:
        ordered = tuple(dict.fromkeys(algorithms))
        # RFC 9449 §4.3 (5): never "none" or a symmetric algorithm, whatever is configured.
        if not ordered or not set(ordered) <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"DPoP algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        if max_age <= 0 or max_skew < 0:
            raise ValueError("max_age must be positive and max_skew not negative")
        self.algorithms = frozenset(ordered)
        self.algs = " ".join(ordered)  # the algs of a DPoP challenge (RFC 9449 §7.1)
        self.max_age = max_age
        self.max_skew = max_skew
        self.replay = replay if replay is not None else MemoryReplayGuard(clock=clock)
        self.nonces = nonces
        self._clock = clock
        # Header segment -> its checked key. A client signs every proof with one key under
        # one header, so the jwk is parsed and thumbprinted once, not per request.
        self._keys: BoundedCache[str, _ProofKey] = BoundedCache(key_cache_size, lru=False)

    def check(
        self, proof: str, *, method: str, url: str, access_token: str | None = None
    ) -> DPoPProof:
        """Every RFC 9449 §4.3 check but replay: the proof, or DPoPError."""
        # RFC 9449 §4.3 (2): a single well-formed JWT (here also: of bounded size).
        if len(proof) > MAX_PROOF_LENGTH:
            raise _invalid("the proof is too long")
        parts = proof.split(".")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise _invalid("the proof is not a well-formed JWT")
        header_segment, payload_segment, signature_segment = parts
        found = self._keys.get(header_segment)
        if found is None:
            found = self._header_key(header_segment)
            self._keys.put(header_segment, found)
        signing_input = proof[: len(header_segment) + 1 + len(payload_segment)].encode()
        # RFC 9449 §4.3 (6): the signature verifies with the key in the jwk header.
        if not _signature_verifies(found, signing_input, _b64(signature_segment)):
            raise _invalid("the proof's signature does not verify")
        claims = _json_object(payload_segment)
        return self._claims(found, claims, method, url, access_token)

    async def verify(
        self, proof: str, *, method: str, url: str, access_token: str | None = None
    ) -> DPoPProof:
        """``check``, then the replay guard: a proof is used once (RFC 9449 §11.1)."""
        checked = self.check(proof, method=method, url=url, access_token=access_token)
        # RFC 9449 §11.1: a jti seen within the proof's acceptance window is a replay.
        if not await self.replay.first_use(checked.jkt, checked.jti, self.expires_at(checked)):
            raise _invalid("the proof was used before")
        return checked

    def expires_at(self, proof: DPoPProof) -> float:
        """When ``proof`` stops passing the iat check: how long to remember its jti."""
        return proof.iat + self.max_age

    def _header_key(self, segment: str) -> _ProofKey:
        header = _json_object(segment)
        # RFC 9449 §4.3 (4): typ is dpop+jwt (RFC 7515 §4.1.9 allows the application/ form).
        typ = header.get("typ")
        if not isinstance(typ, str) or typ not in ACCEPTED_TYP:
            raise _invalid("the proof's typ is not dpop+jwt")
        alg = header.get("alg")
        # RFC 9449 §4.3 (5): an asymmetric algorithm, not none, allowed by local policy.
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _invalid("the proof's alg is not allowed")
        # RFC 7515 §4.1.11: no extension is understood, so any crit header is fatal.
        if "crit" in header:
            raise _invalid("the proof has an unsupported crit header")
        key, jkt = _public_key(header.get("jwk"), alg)
        return _ProofKey(alg, key, jkt)

    def _claims(
        self,
        found: _ProofKey,
        claims: dict[str, Any],
        method: str,
        url: str,
        access_token: str | None,
    ) -> DPoPProof:
        jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
        # RFC 9449 §4.3 (3): the §4.2 claims are present (jti bounded, iat a NumericDate).
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise _invalid("the proof needs a jti of at most 256 characters")
        if not isinstance(htm, str) or not isinstance(htu, str):
            raise _invalid("the proof needs htm and htu")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise _invalid("the proof needs a numeric iat")
        # RFC 9449 §4.3 (8): htm is the request's method (methods are case-sensitive).
        if htm != method:
            raise _invalid("the proof's htm is not this request's method")
        # RFC 9449 §4.3 (9): htu is the request's URI, without query and fragment.
        if not same_uri(htu, url):
            raise _invalid("the proof's htu is not this request's URL")
        # RFC 9449 §4.3 (11): created within an acceptable window (§11.1).
        now = self._clock()
        if iat < now - self.max_age:
            raise _invalid("the proof is too old")
        if iat > now + self.max_skew:
            raise _invalid("the proof was issued in the future")
        ath = claims.get("ath")
        if access_token is not None:
            # RFC 9449 §4.3 (12): ath is the hash of the access token presented with it.
            expected = access_token_hash(access_token).encode()
            if not isinstance(ath, str) or not hmac.compare_digest(ath.encode(), expected):
                raise _invalid("the proof's ath does not match the access token")
        nonce = claims.get("nonce")
        next_nonce = None
        if self.nonces is not None:
            current = self.nonces.current()
            # RFC 9449 §4.3 (10), §9: the nonce the server provided, else use_dpop_nonce.
            if not isinstance(nonce, str) or len(nonce) > MAX_NONCE_LENGTH:
                raise DPoPError(USE_DPOP_NONCE, "a server nonce is required", current)
            if not self.nonces.accepts(nonce):
                raise DPoPError(USE_DPOP_NONCE, "the nonce is not current", current)
            next_nonce = current if nonce != current else None
        return DPoPProof(
            jkt=found.jkt,
            jti=jti,
            iat=iat,
            htm=htm,
            htu=htu,
            alg=found.alg,
            nonce=nonce if isinstance(nonce, str) else None,
            ath=ath if isinstance(ath, str) else None,
            next_nonce=next_nonce,
        )


def _signature_verifies(found: _ProofKey, signing_input: bytes, signature: bytes) -> bool:
    model = JWSRegistry.algorithms[found.alg]
    try:
        if found.alg == "EdDSA":
            with warnings.catch_warnings():
                # joserfc flags the RFC 9864-deprecated name, which clients still send.
                warnings.simplefilter("ignore", SecurityWarning)
                return bool(model.verify(signing_input, signature, found.key))
        return bool(model.verify(signing_input, signature, found.key))
    except (JoseError, ValueError, TypeError):
        return False
