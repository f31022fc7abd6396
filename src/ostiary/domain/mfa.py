"""Second factors (TOTP, passkeys), recovery codes, and the authentication levels they reach.

The levels are the ``acr`` values Ostiary issues and accepts in ``acr_values`` (OIDC Core
§2, §3.1.2.1), ordered weakest first; the methods are RFC 8176 ``amr`` values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

FactorKind = Literal["totp", "passkey"]

# One factor (a password, or an upstream provider not trusted for MFA).
ACR_PWD = "urn:ostiary:acr:pwd"
# Two factors.
ACR_MFA = "urn:ostiary:acr:mfa"
# Phishing-resistant: a passkey with user verification (OpenID EAP ACR Values §2).
ACR_PHR = "phr"
ACR_LEVELS = (ACR_PWD, ACR_MFA, ACR_PHR)

# RFC 8176 §2 methods Ostiary records.
AMR_PASSWORD = "pwd"
AMR_OTP = "otp"
AMR_HARDWARE_KEY = "hwk"
AMR_SOFTWARE_KEY = "swk"
AMR_USER_PRESENCE = "user"
AMR_MFA = "mfa"
# A recovery code stands in for the second factor; RFC 8176 has no value of its own for it.
AMR_RECOVERY = "otp"
KEY_METHODS = frozenset({AMR_HARDWARE_KEY, AMR_SOFTWARE_KEY})

RECOVERY_CODE_COUNT = 10


@dataclass(frozen=True, slots=True)
class Factor:
    """One enrolled second factor of a user."""

    id: str
    user_id: str
    kind: FactorKind
    name: str
    created_at: int
    last_used_at: int | None = None
    # A TOTP secret counts once the user has typed a current code from it.
    confirmed: bool = True
    # TOTP: the secret, sealed with the server key; the last time step accepted (a code of
    # that step or an earlier one is refused: RFC 6238 §5.2, single use).
    secret: bytes | None = None
    last_step: int | None = None
    # Passkey (WebAuthn Level 3): the credential, its public key (COSE), the signature
    # counter last seen, the transports the browser named, and the backup flags (§6.1).
    credential_id: bytes | None = None
    public_key: bytes | None = None
    sign_count: int = 0
    transports: tuple[str, ...] = ()
    backup_eligible: bool = False
    backup_state: bool = False
    # A discoverable credential (resident key): usable without a username.
    discoverable: bool = False

    def public_view(self) -> dict[str, object]:
        """What an administrator or the user sees: never the secret or the key."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "confirmed": self.confirmed,
            **({"synced": self.backup_state} if self.kind == "passkey" else {}),
        }


def level_of(amr: Iterable[str], *, user_verified_key: bool = False) -> str:
    """The acr an authentication with these methods reaches: ``phr`` for a passkey with
    user verification, ``mfa`` for two factors, else ``pwd``."""
    methods = set(amr)
    if user_verified_key or (methods & KEY_METHODS and AMR_USER_PRESENCE in methods):
        return ACR_PHR
    if AMR_MFA in methods:
        return ACR_MFA
    return ACR_PWD


def meets(reached: str | None, wanted: Iterable[str]) -> bool:
    """Whether a session at level ``reached`` satisfies a request for any of ``wanted``
    (a higher level satisfies a lower one; values Ostiary does not know never match)."""
    if reached not in ACR_LEVELS:
        return False
    rank = ACR_LEVELS.index(reached)
    return any(w in ACR_LEVELS and ACR_LEVELS.index(w) <= rank for w in wanted)
