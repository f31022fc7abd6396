"""SCIM view of users: the row in ``users`` plus its indexed SCIM columns and entries.

Every account has its SCIM row from the moment it exists: ``UserRepository.add`` (CLI,
admin API, federation) writes it in the same transaction through ``add_scim_view``, so
no door leaves a user SCIM cannot see, and filters stay on indexed columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.domain.users import EmailTaken
from ostiary.storage.repos._scim_queries import ScimRepository, bump_version
from ostiary.storage.repos.scim_user_batch import DuplicateInBatch, NewUser, batcher
from ostiary.storage.repos.user_emails import check_free, taken_after_conflict
from ostiary.storage.tables import (
    group_members,
    groups,
    scim_user_emails,
    scim_user_phones,
    scim_users,
    users,
)

_ROW_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.password_hash,
    users.c.disabled,
    users.c.created_at,
    users.c.updated_at,
    scim_users.c.resource,
    scim_users.c.version,
)


class DuplicateScimUser(Exception):
    pass


@dataclass
class ScimUserRecord:
    """What one write stores: ``users`` columns, ``scim_users`` columns, entries."""

    user: dict[str, Any]
    scim: dict[str, Any]
    emails: list[dict[str, Any]] = field(default_factory=list)
    phones: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScimUserRow:
    id: str
    username: str
    has_password: bool
    disabled: bool
    created_at: int
    updated_at: int
    resource: dict[str, Any]
    groups: list[tuple[str, str]]
    version: int = 1


async def add_scim_view(
    conn: AsyncConnection, user_id: str, username: str, email: str | None
) -> None:
    """The SCIM row of an account created outside SCIM, in the caller's transaction.

    RFC 7643 §4.1.1: userName is unique with caseExact=false; the column holds the RFC 8265
    §3.3 comparison form, so a name differing only in case or width from an existing one
    fails here (an ``IntegrityError`` the caller reports)."""
    resource: dict[str, Any] = {"emails": [{"value": email, "primary": True}]} if email else {}
    key = identifiers.username_key(username)
    await conn.execute(
        insert(scim_users), {"user_id": user_id, "user_name_ci": key, "resource": resource}
    )
    if email:
        await conn.execute(
            insert(scim_user_emails),
            {"user_id": user_id, "value_ci": email.lower(), "type": None, "primary": True},
        )


async def set_primary_email(conn: AsyncConnection, user_id: str, email: str | None) -> None:
    """An address changed outside SCIM (admin API, command line), in the caller's
    transaction: the SCIM view's primary entry (else its first) takes the new value, or
    goes when it is None, so every door reads the same address; the version moves on
    (RFC 7644 §3.14: the representation changed)."""
    resource = (
        await conn.execute(select(scim_users.c.resource).where(scim_users.c.user_id == user_id))
    ).scalar_one_or_none()
    if resource is None:
        return
    entries = [e for e in (resource or {}).get("emails", []) if isinstance(e, dict)]
    chosen = next((e for e in entries if e.get("primary")), entries[0] if entries else None)
    others = [e for e in entries if e is not chosen]
    if email is not None:
        others.insert(0, {**(chosen or {}), "value": email, "primary": True})
    changed = (
        {**resource, "emails": others}
        if others
        else {k: v for k, v in resource.items() if k != "emails"}
    )
    await conn.execute(
        update(scim_users)
        .where(scim_users.c.user_id == user_id)
        .values(resource=changed, version=scim_users.c.version + 1)
    )
    await conn.execute(delete(scim_user_emails).where(scim_user_emails.c.user_id == user_id))
    rows = [
        {
            "user_id": user_id,
            "value_ci": str(e["value"]).lower(),
            "type": str(e["type"]).lower() if e.get("type") else None,
            "primary": bool(e.get("primary")),
        }
        for e in others
        if e.get("value")
    ]
    if rows:
        await conn.execute(insert(scim_user_emails), rows)


class ScimUserRepository(ScimRepository):
    id_column = users.c.id
    searched = select(users.c.id).join(scim_users, scim_users.c.user_id == users.c.id)

    async def add(self, record: ScimUserRecord) -> ScimUserRow:
        """Written by group commit (``scim_user_batch``); the answer is built from what
        was written, not read back."""
        user_id = str(uuid.uuid4())
        now = clock.now()
        values = {"id": user_id, "created_at": now, "updated_at": now, **record.user}
        new = NewUser(
            values,
            {"user_id": user_id, **record.scim},
            (
                (scim_user_emails, [{"user_id": user_id, **e} for e in record.emails]),
                (scim_user_phones, [{"user_id": user_id, **e} for e in record.phones]),
            ),
        )
        email = values.get("email")
        if email is not None:
            async with self._engine.connect() as conn:
                await check_free(conn, email, None)
        try:
            await batcher(self._engine).add(new)
        except DuplicateInBatch:
            # The unique index caught two writes racing (or two in one batch).
            if await taken_after_conflict(self._engine, email, user_id):
                raise EmailTaken(email or "") from None
            raise DuplicateScimUser(record.scim["user_name_ci"]) from None
        return ScimUserRow(
            user_id,
            values["username"],
            values.get("password_hash") is not None,
            bool(values.get("disabled", False)),
            now,
            now,
            record.scim["resource"],
            [],
        )

    async def replace(self, user_id: str, record: ScimUserRecord, expected: int) -> int:
        """Write ``record`` if the version is still ``expected`` (RFC 7644 §3.14): the
        check and the write are one conditional UPDATE in the write's transaction."""
        email = record.user.get("email")
        try:
            async with self._engine.begin() as conn:
                await check_free(conn, email, user_id)
                await bump_version(
                    conn, scim_users, scim_users.c.user_id, user_id, expected, **record.scim
                )
                await conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(**record.user, updated_at=clock.now())
                )
                await self._write_entries(conn, user_id, record, new=False)
        except IntegrityError:
            if await taken_after_conflict(self._engine, email, user_id):
                raise EmailTaken(email or "") from None
            raise DuplicateScimUser(record.scim["user_name_ci"]) from None
        return expected + 1

    async def claim(self, user_id: str, expected: int) -> None:
        """Bump the version if it is still ``expected`` (before a DELETE), else
        ``VersionConflict``: of two writers holding the same version, one wins."""
        async with self._engine.begin() as conn:
            await bump_version(conn, scim_users, scim_users.c.user_id, user_id, expected)

    async def _write_entries(
        self, conn: AsyncConnection, user_id: str, record: ScimUserRecord, *, new: bool
    ) -> None:
        for table, entries in (
            (scim_user_emails, record.emails),
            (scim_user_phones, record.phones),
        ):
            if not new:
                await conn.execute(delete(table).where(table.c.user_id == user_id))
            if entries:
                await conn.execute(insert(table), [{"user_id": user_id, **e} for e in entries])

    async def get(self, user_id: str) -> ScimUserRow | None:
        found = await self.fetch([user_id])
        return found[0] if found else None

    async def fetch(self, ids: Sequence[str]) -> list[ScimUserRow]:
        """Rows for ``ids``, in that order (missing ids are left out)."""
        if not ids:
            return []
        query = (
            select(*_ROW_COLUMNS)
            .join(scim_users, scim_users.c.user_id == users.c.id)
            .where(users.c.id.in_(ids))
        )
        member_of = (
            select(group_members.c.user_id, groups.c.id, groups.c.name)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(group_members.c.user_id.in_(ids))
            .order_by(groups.c.name)
        )
        async with self._engine.connect() as conn:
            rows = {r.id: r for r in (await conn.execute(query)).all()}
            memberships: dict[str, list[tuple[str, str]]] = {}
            for m in (await conn.execute(member_of)).all():
                memberships.setdefault(m.user_id, []).append((m.id, m.name))
        return [
            ScimUserRow(
                r.id,
                r.username,
                r.password_hash is not None,
                r.disabled,
                r.created_at,
                r.updated_at,
                dict(r.resource or {}),
                memberships.get(r.id, []),
                r.version,
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    async def id_by_name(self, user_name: str) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    select(scim_users.c.user_id).where(
                        scim_users.c.user_name_ci == identifiers.username_key(user_name)
                    )
                )
            ).scalar_one_or_none()
