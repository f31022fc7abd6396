"""SCIM view of users: the row in ``users`` plus its indexed SCIM columns and entries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary import clock
from ostiary.storage.repos.scim_groups import chunks
from ostiary.storage.tables import (
    group_members,
    groups,
    scim_user_emails,
    scim_user_phones,
    scim_users,
    users,
)

USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.password_hash,
    users.c.disabled,
    users.c.created_at,
    users.c.updated_at,
    scim_users.c.resource,
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


class ScimUserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def adopt(self) -> int:
        """Give users created elsewhere (CLI, admin API, federation) their SCIM row."""
        missing = (
            select(users.c.id, users.c.username, users.c.email)
            .outerjoin(scim_users, scim_users.c.user_id == users.c.id)
            .where(scim_users.c.user_id.is_(None))
        )
        added = 0
        async with self._engine.connect() as conn:
            rows = (await conn.execute(missing)).all()
        for row in rows:
            resource: dict[str, Any] = {}
            if row.email:
                resource["emails"] = [{"value": row.email, "primary": True}]
            record = ScimUserRecord(
                {},
                {"user_name_ci": row.username.lower(), "resource": resource},
                [{"value_ci": row.email.lower(), "type": None, "primary": True}]
                if row.email
                else [],
            )
            try:
                async with self._engine.begin() as conn:
                    await self._write_scim(conn, row.id, record, new=True)
                added += 1
            except IntegrityError:
                # Two accounts differing only in case: the first keeps the SCIM name.
                continue
        return added

    async def add(self, record: ScimUserRecord) -> str:
        user_id = str(uuid.uuid4())
        now = clock.now()
        values = {"id": user_id, "created_at": now, "updated_at": now, **record.user}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(users).values(**values))
                await self._write_scim(conn, user_id, record, new=True)
        except IntegrityError:
            raise DuplicateScimUser(record.scim["user_name_ci"]) from None
        return user_id

    async def replace(self, user_id: str, record: ScimUserRecord) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(**record.user, updated_at=clock.now())
                )
                await self._write_scim(conn, user_id, record, new=False)
        except IntegrityError:
            raise DuplicateScimUser(record.scim["user_name_ci"]) from None

    async def _write_scim(
        self, conn: AsyncConnection, user_id: str, record: ScimUserRecord, *, new: bool
    ) -> None:
        if new:
            await conn.execute(insert(scim_users).values(user_id=user_id, **record.scim))
        else:
            await conn.execute(
                update(scim_users).where(scim_users.c.user_id == user_id).values(**record.scim)
            )
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
            select(*USER_COLUMNS)
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
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    async def search(
        self,
        where: ColumnElement[bool] | None,
        order_by: Sequence[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[str]]:
        """Total matches and one page of ids; filter and order run in the database."""
        base = select(users.c.id).join(scim_users, scim_users.c.user_id == users.c.id)
        if where is not None:
            base = base.where(where)
        async with self._engine.connect() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(base.subquery()))
            ).scalar_one()
            ids: list[str] = []
            if limit > 0:
                page = base.order_by(*order_by, users.c.id).offset(offset).limit(limit)
                ids = list((await conn.execute(page)).scalars())
        return total, ids

    async def id_by_name(self, user_name: str) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    select(scim_users.c.user_id).where(
                        scim_users.c.user_name_ci == user_name.lower()
                    )
                )
            ).scalar_one_or_none()

    async def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for part in chunks(set(ids)):
                rows = await conn.execute(select(users.c.id).where(users.c.id.in_(part)))
                found.update(rows.scalars())
        return found
