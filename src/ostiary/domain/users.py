"""A local or federated user account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DuplicateUserError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str | None
    password_hash: str | None
    disabled: bool
    created_at: int
    updated_at: int
    email_verified: bool = False
    phone_number: str | None = None
    phone_number_verified: bool = False
    profile: dict[str, Any] = field(default_factory=dict)

    def public_view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "disabled": self.disabled,
            "email_verified": self.email_verified,
            "phone_number": self.phone_number,
            "phone_number_verified": self.phone_number_verified,
            "profile": self.profile,
            "has_password": self.password_hash is not None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class EmailTaken(Exception):
    """Another account holds this address (compared case-insensitively)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"email {email!r} belongs to another account")
        self.email = email
