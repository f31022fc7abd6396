"""User accounts in memory: the SQL repository's uniqueness rules, without its tables."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.domain.users import DuplicateUserError, EmailTaken, User
from ostiary.storage.common.users import AddsUsers
from ostiary.storage.memory.tables import Tables

_PROFILE_FIELDS = frozenset(
    {"email", "email_verified", "phone_number", "phone_number_verified", "profile"}
)


class MemoryUsers(AddsUsers):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def _store(self, user: User) -> None:
        if user.email is not None and self._t.email_holders(user.email):
            raise EmailTaken(user.email)
        key = identifiers.username_key(user.username)
        if user.id in self._t.users or (key is not None and self._t.user_named(key)):
            raise DuplicateUserError(f"user {user.username!r} already exists")
        self._t.users[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self._t.users.get(user_id)

    async def by_username(self, username: str) -> User | None:
        key = identifiers.username_key(username)
        return self._t.user_named(key) if key is not None else None

    async def find(self, key: str) -> User | None:
        name_key = identifiers.username_key(key)
        if name_key is None:
            return None
        for user in self._t.users.values():
            if key in (user.id, user.username):
                return user
        return self._t.user_named(name_key)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._change(user_id, password_hash=password_hash)

    async def update_profile(self, user_id: str, **changes: Any) -> None:
        if set(changes) - _PROFILE_FIELDS:
            raise ValueError(f"cannot update {sorted(set(changes) - _PROFILE_FIELDS)}")
        email = changes.get("email")
        if email is not None:
            email = changes["email"] = identifiers.email(email)
            own = self._t.users.get(user_id)
            keeps_own = own is not None and (own.email or "").lower() == email.lower()
            if not keeps_own and self._t.email_holders(email, other_than=user_id):
                raise EmailTaken(email)
        self._change(user_id, **changes)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        self._change(user_id, disabled=disabled)

    async def delete(self, user_id: str) -> bool:
        return self._t.drop_user(user_id)

    async def list(self) -> list[User]:
        return sorted(self._t.users.values(), key=lambda u: u.username)

    def _change(self, user_id: str, **values: Any) -> None:
        user = self._t.users.get(user_id)
        if user is not None:
            self._t.users[user_id] = dataclasses.replace(user, **values, updated_at=clock.now())
