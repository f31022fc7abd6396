"""A user's second factors and recovery codes as the admin API shows them: never a
secret, a key or a code."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field

FactorId = Annotated[str, Path(max_length=200, description="The factor's id.")]


class FactorOut(BaseModel):
    """``Factor.public_view``: what the user sees on their security page."""

    id: str
    kind: Literal["totp", "passkey"]
    name: str
    created_at: int
    last_used_at: int | None = Field(description="Last sign-in with it; null: never.")
    confirmed: bool = Field(
        description="False for an authenticator app whose setup was not finished: not used."
    )
    synced: bool | None = Field(
        None,
        description="Passkeys only: backed up to a sync service (WebAuthn backup state, "
        "§6.1.3 BS flag).",
    )


class MfaOut(BaseModel):
    factors: list[FactorOut]
    recovery_codes_left: int = Field(description="Unused recovery codes.")


class MfaResetOut(BaseModel):
    factors_removed: list[str] = Field(description="Ids of the factors removed.")
    recovery_codes_deleted: bool
    sessions_ended: int = Field(description="The user's SSO sessions ended by the reset.")
