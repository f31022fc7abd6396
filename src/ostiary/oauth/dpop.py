"""DPoP at the authorization server (RFC 9449 §5, §8, §10): a token request's proof,
checked by the resource kit's ``DPoPVerifier`` (one rule for the kit and the server), with
a replay guard every node shares and, when asked for, server nonces every node accepts."""

from __future__ import annotations

from collections.abc import Sequence

from ostiary.crypto.sealing import derive_key
from ostiary.domain.repositories import UsedJtis
from ostiary.errors import OAuthError
from ostiary.resource.dpop import DEFAULT_ALGORITHMS, DPoPError, DPoPProof, DPoPVerifier, one_proof
from ostiary.resource.dpop_nonce import TimedNonces
from ostiary.resource.dpop_replay import replay_key
from ostiary.settings import Settings

# RFC 9449 §5.1: the algorithms advertised in dpop_signing_alg_values_supported.
SIGNING_ALGS = [alg for alg in DEFAULT_ALGORITHMS if alg != "Ed25519"]
# A base64url SHA-256 JWK thumbprint (RFC 7638): what dpop_jkt carries.
JKT_LENGTH = 43
# How long one server nonce is handed out (it is accepted for twice that).
NONCE_LIFETIME = 300


class SharedReplayGuard:
    """A proof's jti is used once per key across every node (RFC 9449 §11.1): the
    ``used_jtis`` rows client assertions use too, under a digest of their own."""

    def __init__(self, used: UsedJtis) -> None:
        self._used = used

    async def first_use(self, jkt: str, jti: str, expires_at: float) -> bool:
        return await self._used.first_use(replay_key(jkt, jti), int(expires_at) + 1)


def verifier(settings: Settings, used: UsedJtis) -> DPoPVerifier:
    """The node's proof checker; with ``OSTIARY_CLIENT_SECURITY__DPOP_NONCE``, nonces
    under a key derived from the root secret, so every node accepts every node's."""
    security = settings.client_security
    nonces = None
    if security.dpop_nonce:
        secret = derive_key(settings.require_secret_key(), "dpop-nonce")
        nonces = TimedNonces(secret, lifetime=NONCE_LIFETIME)
    return DPoPVerifier(
        algorithms=SIGNING_ALGS,
        max_age=security.dpop_proof_max_age,
        replay=SharedReplayGuard(used),
        nonces=nonces,
    )


def as_oauth_error(error: DPoPError) -> OAuthError:
    """RFC 9449 §5.10 and §8: invalid_dpop_proof or use_dpop_nonce, 400, with the nonce to
    use in ``DPoP-Nonce``."""
    headers = {"DPoP-Nonce": error.nonce} if error.nonce else None
    return OAuthError(error.error, error.description, headers=headers)


async def request_proof(checker: DPoPVerifier, values: Sequence[str], url: str) -> DPoPProof | None:
    """The checked proof of a POST to ``url`` (the token or PAR endpoint), if the request
    carries one."""
    if not values:
        return None
    try:
        # RFC 9449 §4.3 (1): exactly one DPoP header.
        return await checker.verify(one_proof(values), method="POST", url=url)
    except DPoPError as error:
        raise as_oauth_error(error) from None


def is_jkt(value: str) -> bool:
    """A base64url JWK SHA-256 thumbprint (RFC 7638), as dpop_jkt carries (RFC 9449 §10)."""
    return (
        len(value) == JKT_LENGTH
        and value.isascii()
        and value.replace("-", "").replace("_", "").isalnum()
    )
