"""Adding an account, as both user repositories take it."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from typing import Any

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.domain.users import User


class AddsUsers(ABC):
    """``Users.add``: the account as the domain holds it, stored by ``_store``."""

    async def add(
        self,
        *,
        username: str,
        email: str | None,
        password_hash: str | None,
        email_verified: bool = False,
        phone_number: str | None = None,
        phone_number_verified: bool = False,
        profile: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> User:
        # Each door checks first and answers in its own words; this is the backstop.
        username = identifiers.username(username)
        email = identifiers.email(email) if email is not None else None
        now = clock.now()
        user = User(
            id=user_id or str(uuid.uuid4()),
            username=username,
            email=email,
            password_hash=password_hash,
            disabled=False,
            created_at=now,
            updated_at=now,
            email_verified=email_verified,
            phone_number=phone_number,
            phone_number_verified=phone_number_verified,
            profile=profile or {},
        )
        await self._store(user)
        return user

    @abstractmethod
    async def _store(self, user: User) -> None:
        """Store the new account, or raise ``EmailTaken`` or ``DuplicateUserError``."""
