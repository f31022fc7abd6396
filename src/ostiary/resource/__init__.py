"""Resource-server kit: verify Ostiary access tokens in any Python HTTP app.

Imports nothing of the server (database, templates) and no web framework; the FastAPI
adapter lives in ``ostiary.resource.fastapi`` and is imported only by those who use it.
"""

from ostiary.resource.bearer import bearer_token
from ostiary.resource.challenge import challenge
from ostiary.resource.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ResourceError,
)
from ostiary.resource.revocations import RevocationFeed, RevocationList
from ostiary.resource.verifier import Claims, SyncTokenVerifier, TokenVerifier

__all__ = [
    "Claims",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "MissingToken",
    "ResourceError",
    "RevocationFeed",
    "RevocationList",
    "SyncTokenVerifier",
    "TokenVerifier",
    "bearer_token",
    "challenge",
]
