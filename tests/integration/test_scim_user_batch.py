"""Group commit of SCIM user creation: a batch that fails is retried member by member, so
one row the database refuses fails only its own request, and nothing of a failed batch is
left half-written. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.engine import create_engine
from ostiary.storage.repos.scim_users import (
    DuplicateScimUser,
    ScimUserRecord,
    ScimUserRepository,
)
from ostiary.storage.tables import scim_users, users
from tests.conftest import unique


def _record(name: str, email: str | None = None) -> ScimUserRecord:
    return ScimUserRecord(
        user={"username": name, "email": email, "profile": {}},
        scim={"user_name_ci": name.lower(), "resource": {}},
        emails=[{"value_ci": email.lower(), "type": "work", "primary": True}] if email else [],
    )


async def _names(engine: AsyncEngine, names: list[str]) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(select(users.c.username).where(users.c.username.in_(names)))
        return {row[0] for row in found}


async def _count(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        one = await conn.scalar(select(func.count()).select_from(users))
        two = await conn.scalar(select(func.count()).select_from(scim_users))
        return int(one or 0), int(two or 0)


def _run(database_url: str, body: Any) -> Any:
    async def main() -> Any:
        engine = create_engine(database_url)
        try:
            return await body(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.mark.parametrize("bad_at", [0, 5, 11])
def test_one_refused_row_fails_only_its_own_create(database_url: str, bad_at: int) -> None:
    """A string no database driver can encode (a lone surrogate that escaped validation)
    makes the batched INSERT fail; each other create still commits."""
    names = [unique("grp") for _ in range(12)]

    async def body(engine: AsyncEngine) -> None:
        repo = ScimUserRepository(engine)
        records = [_record(n, f"{n}@example.com") for n in names]
        records[bad_at] = _record(names[bad_at] + "\ud800")
        before = await _count(engine)
        answers = await asyncio.gather(*(repo.add(r) for r in records), return_exceptions=True)
        failed = [i for i, a in enumerate(answers) if isinstance(a, BaseException)]
        assert failed == [bad_at], answers
        assert not isinstance(answers[bad_at], DuplicateScimUser)
        expected = {n for i, n in enumerate(names) if i != bad_at}
        assert await _names(engine, names) == expected
        after = await _count(engine)
        assert after == (before[0] + 11, before[1] + 11)

    _run(database_url, body)


def test_duplicate_in_a_batch_is_a_duplicate_and_the_rest_commit(database_url: str) -> None:
    names = [unique("dup") for _ in range(6)]

    async def body(engine: AsyncEngine) -> None:
        repo = ScimUserRepository(engine)
        records = [_record(n) for n in names] + [_record(names[2].upper())]
        answers = await asyncio.gather(*(repo.add(r) for r in records), return_exceptions=True)
        assert [type(a).__name__ for a in answers][-1] == "DuplicateScimUser"
        assert not any(isinstance(a, BaseException) for a in answers[:-1]), answers
        assert await _names(engine, [*names, names[2].upper()]) == set(names)

    _run(database_url, body)
