"""A browser's pending authorization request while it signs in and consents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.domain.access import Gates
from ostiary.domain.throttles import ThrottleState
from ostiary.domain.users import User


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    browser_hash: bytes
    client_id: str
    request: dict[str, Any]
    expires_at: int
    authenticated: bool = False
    # Who passed the first factor and owes a second one (None: nobody yet).
    pending_user_id: str | None = None
    # The second factor's state: "amr" (methods passed), "challenge" (WebAuthn), "enrol".
    pending: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InteractionState:
    interaction: Interaction
    # Which of the requested scopes a role gates, and the roles that may have them.
    gates: Gates
    # (name, display name) of each enabled upstream provider, for a login page.
    buttons: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class MfaReads:
    """What an account's sign-in owes, read with the account."""

    # The kinds of the account's confirmed second factors ("totp", "passkey").
    factor_kinds: tuple[str, ...]
    # One of its roles or groups requires MFA.
    required_by_access: bool


@dataclass(frozen=True, slots=True)
class LoginReads:
    """What a password login POST decides on, read in one round trip."""

    # None: no such live interaction.
    state: InteractionState | None
    throttle: ThrottleState
    # The account the username names (None: none, or no username looked up).
    account: User | None
    # With an account: its factors and whether its access requires MFA.
    mfa: MfaReads | None = None
