"""Resource-server kit: verify Ostiary access tokens in any Python HTTP app.

Imports nothing of the server (database, templates) and no web framework; the FastAPI
adapter lives in ``ostiary.resource.fastapi`` and is imported only by those who use it.
Bearer tokens (RFC 6750) always; DPoP-bound tokens with their proofs (RFC 9449) when the
verifier is made with ``dpop=True`` (or a ``DPoPVerifier``); certificate-bound tokens
(RFC 8705) when an adapter is given the ``CertificateHeader`` a TLS proxy fills.
"""

from ostiary.resource.bearer import bearer_token
from ostiary.resource.challenge import challenge
from ostiary.resource.claims import Claims
from ostiary.resource.client_cert import CertificateError, CertificateHeader, ClientCertificate
from ostiary.resource.dpop import DPoPError, DPoPProof, DPoPVerifier
from ostiary.resource.dpop_nonce import TimedNonces
from ostiary.resource.dpop_replay import MemoryReplayGuard, ReplayGuard
from ostiary.resource.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ResourceError,
    UseDPoPNonce,
)
from ostiary.resource.revocations import RevocationFeed, RevocationList
from ostiary.resource.sync_verifier import SyncTokenVerifier
from ostiary.resource.verifier import TokenVerifier

__all__ = [
    "CertificateError",
    "CertificateHeader",
    "Claims",
    "ClientCertificate",
    "DPoPError",
    "DPoPProof",
    "DPoPVerifier",
    "InsufficientScope",
    "InvalidDPoPProof",
    "InvalidRequest",
    "InvalidToken",
    "MemoryReplayGuard",
    "MissingToken",
    "ReplayGuard",
    "ResourceError",
    "RevocationFeed",
    "RevocationList",
    "SyncTokenVerifier",
    "TimedNonces",
    "TokenVerifier",
    "UseDPoPNonce",
    "bearer_token",
    "challenge",
]
