"""Local user accounts.

``get`` and ``by_username`` run on the driver connection: every authorization and login
reads the account (speed); the rest is SQLAlchemy Core over the same columns and mapper.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.domain.users import DuplicateUserError, EmailTaken, User
from ostiary.storage.common.users import AddsUsers
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.repos._driver import Row, json_value
from ostiary.storage.repos.scim_users import add_scim_view, set_primary_email
from ostiary.storage.repos.user_emails import check_free, taken_after_conflict
from ostiary.storage.tables import refresh_tokens, scim_users, users


def _user(values: Row) -> User:
    (id_, username, email, password_hash, disabled, created_at, updated_at) = values[:7]
    email_verified, phone_number, phone_number_verified, profile = values[7:11]
    return User(
        id_,
        username,
        email,
        password_hash,
        bool(disabled),
        created_at,
        updated_at,
        bool(email_verified),
        phone_number,
        bool(phone_number_verified),
        json_value(profile) or {},
    )


USER = RowType(users, User.__slots__, _user)
# The columns (aliased ``u``) for hand-written statements that read the account beside
# other rows (tokens, codes, sessions, interactions), and the mapper for their slice.
USER_COLUMNS = USER.sql("u")
user_from_driver = _user

# USER_COLUMNS is a constant; the value is a bound parameter.
_BY_ID = f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"  # noqa: S608
# Usernames are found by their comparison form (``identifiers.username_key``), which the
# unique scim_users.user_name_ci column holds for every account.
_BY_USERNAME_KEY = (
    f"SELECT {USER_COLUMNS} FROM scim_users s JOIN users u ON u.id = s.user_id"  # noqa: S608
    " WHERE s.user_name_ci = $1"
)


class UserRepository(AddsUsers, Repository):
    async def _store(self, user: User) -> None:
        values = {name: getattr(user, name) for name in User.__slots__}
        try:
            async with self._engine.begin() as conn:
                # One account per address; the unique index catches a write racing this.
                await check_free(conn, user.email, None)
                await conn.execute(insert(users).values(**values))
                # Visible to SCIM at once; usernames are unique by their comparison form.
                await add_scim_view(conn, user.id, user.username, user.email)
        except IntegrityError:
            if await taken_after_conflict(self._engine, user.email, user.id):
                raise EmailTaken(user.email or "") from None
            raise DuplicateUserError(f"user {user.username!r} already exists") from None

    async def get(self, user_id: str) -> User | None:
        row = await self._driver.fetchrow(_BY_ID, user_id)
        return _user(row) if row else None

    async def by_username(self, username: str) -> User | None:
        """The account ``username`` names under RFC 8265 §3.3 (case and width folded)."""
        key = identifiers.username_key(username)
        if key is None:
            return None
        row = await self._driver.fetchrow(_BY_USERNAME_KEY, key)
        return _user(row) if row else None

    async def find(self, key: str) -> User | None:
        """By id or username: what the command line accepts."""
        name_key = identifiers.username_key(key)
        if name_key is None:
            return None  # text no database can hold names no account
        named = select(scim_users.c.user_id).where(scim_users.c.user_name_ci == name_key)
        row = await self._first(
            USER.select().where(
                or_(users.c.id == key, users.c.username == key, users.c.id.in_(named))
            )
        )
        return _user(row) if row else None

    async def list(self) -> list[User]:
        return USER.all(await self._rows(USER.select().order_by(users.c.username)))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._touch(user_id, password_hash=password_hash)

    async def _touch(self, user_id: str, **values: Any) -> None:
        """Change columns of the account, its ``updated_at`` with them."""
        await self._write(
            update(users).where(users.c.id == user_id).values(**values, updated_at=clock.now())
        )

    async def update_profile(self, user_id: str, **changes: Any) -> None:
        allowed = {"email", "email_verified", "phone_number", "phone_number_verified", "profile"}
        if set(changes) - allowed:
            raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
        email = changes.get("email")
        if email is not None:
            email = changes["email"] = identifiers.email(email)
        try:
            async with self._engine.begin() as conn:
                await check_free(conn, email, user_id)
                await conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(**changes, updated_at=clock.now())
                )
                if "email" in changes:
                    await set_primary_email(conn, user_id, email)
        except IntegrityError:
            if await taken_after_conflict(self._engine, email, user_id):
                raise EmailTaken(email or "") from None
            raise

    async def delete(self, user_id: str) -> bool:
        async with self._engine.begin() as conn:
            # Refresh tokens carry no foreign key (they outlive users only as revoked rows).
            await conn.execute(delete(refresh_tokens).where(refresh_tokens.c.user_id == user_id))
            result = await conn.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount > 0

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        await self._touch(user_id, disabled=disabled)
