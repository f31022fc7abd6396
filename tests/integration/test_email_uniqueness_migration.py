"""Migration 0010 and the unique index on users' addresses, on SQLite and PostgreSQL.

Without shared addresses the index is created; with them the upgrade still succeeds, each
group is reported (usernames and ids, not the address), every door refuses a new shared
address by its own check, and the index appears by itself at the first upgrade after the
addresses are apart. Two writes racing for one address: one wins, the other is told the
address is taken (the index's IntegrityError, never a 500)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.domain.users import DuplicateUserError, EmailTaken
from ostiary.storage import email_index
from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import downgrade, upgrade
from ostiary.storage.repos.users import UserRepository
from ostiary.storage.tables import scim_users, users


async def _insert(engine: AsyncEngine, username: str, email: str | None) -> str:
    """A row as an older release wrote it, past every door."""
    user_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(users),
            {
                "id": user_id,
                "username": username,
                "email": email,
                "disabled": False,
                "created_at": 1,
                "updated_at": 1,
            },
        )
        await conn.execute(
            insert(scim_users), {"user_id": user_id, "user_name_ci": username, "resource": {}}
        )
    return user_id


async def _has_index(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return await conn.run_sync(email_index.has_index)


async def _raw_duplicate_refused(engine: AsyncEngine, email: str) -> bool:
    try:
        await _insert(engine, f"raw-{uuid.uuid4().hex[:8]}", email)
    except IntegrityError:
        return True
    return False


def test_0010_without_shared_addresses_creates_the_index(empty_database: str) -> None:
    async def go() -> None:
        engine = create_engine(empty_database)
        try:
            await upgrade(engine, "0009")
            await _insert(engine, "ann", "Ann@example.com")
            await _insert(engine, "bob", "bob@example.com")
            await _insert(engine, "nomail1", None)
            await _insert(engine, "nomail2", None)
            await upgrade(engine)
            assert await _has_index(engine)
            # The database itself refuses the same address in another case...
            assert await _raw_duplicate_refused(engine, "ANN@EXAMPLE.COM")
            # ...and takes any number of accounts without one.
            assert not await _raw_duplicate_refused(engine, None)  # type: ignore[arg-type]
            await downgrade(engine, "0009")
            assert not await _has_index(engine)
            await upgrade(engine)
            assert await _has_index(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_0010_with_shared_addresses_upgrades_reports_and_indexes_once_apart(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> tuple[str, str, str]:
        engine = create_engine(empty_database)
        try:
            await upgrade(engine, "0009")
            ann = await _insert(engine, "ann", "Ann@example.com")
            ann2 = await _insert(engine, "ann-old", "ann@example.com")
            ann3 = await _insert(engine, "ann-older", "ANN@EXAMPLE.COM")
            await _insert(engine, "bob", "bob@example.com")
            with caplog.at_level(logging.WARNING, logger="ostiary.storage"):
                await upgrade(engine)  # never fails over the rows
            assert not await _has_index(engine)
            async with engine.connect() as conn:
                groups = await conn.run_sync(email_index.duplicate_groups)
            assert [g.address for g in groups] == ["ann@example.com"]
            assert {(i, n) for i, n, _ in groups[0].accounts} == {
                (ann, "ann"),
                (ann2, "ann-old"),
                (ann3, "ann-older"),
            }

            # Meanwhile the doors' own check refuses a fourth account, and a change to it.
            repo = UserRepository(engine)
            with pytest.raises(EmailTaken):
                await repo.add(username="ann-new", email="aNN@example.com", password_hash=None)
            bob = await repo.by_username("bob")
            assert bob is not None
            with pytest.raises(EmailTaken):
                await repo.update_profile(bob.id, email="ann@EXAMPLE.com")
            # An account keeping its own (shared) address may still change other things.
            await repo.update_profile(ann2, email="ann@example.com", email_verified=True)

            # The operator gives each account its own address; the next upgrade (which
            # every command runs first) creates the index.
            await repo.update_profile(ann2, email="ann.old@example.com")
            await repo.update_profile(ann3, email=None)
            await upgrade(engine)
            assert await _has_index(engine)
            assert await _raw_duplicate_refused(engine, "BOB@example.com")
        finally:
            await engine.dispose()
        return ann, ann2, ann3

    ids = asyncio.run(go())
    reported = "\n".join(r.getMessage() for r in caplog.records)
    for user_id in ids:
        assert reported.count(user_id) == 1, "each group is reported once per process"
    assert "ann-old" in reported and "ann-older" in reported
    # The log names accounts, never the address itself.
    assert "example.com" not in reported.lower()
    assert "--duplicate-emails" in reported


def test_racing_creates_for_one_address_one_wins_the_others_are_told(
    empty_database: str,
) -> None:
    """The check and the insert are two statements: writes racing past the check are
    stopped by the index, and told the same as the check would have told them."""

    async def go() -> list[object]:
        engine = create_engine(empty_database)
        try:
            await upgrade(engine)
            repo = UserRepository(engine)

            async def create(i: int) -> object:
                try:
                    return await repo.add(
                        username=f"racer{i}", email="Race@example.com", password_hash=None
                    )
                except (EmailTaken, DuplicateUserError) as exc:
                    return exc

            results = await asyncio.gather(*(create(i) for i in range(6)))
            async with engine.connect() as conn:
                count = (
                    await conn.execute(text("SELECT count(*) FROM users WHERE email IS NOT NULL"))
                ).scalar_one()
            assert count == 1
            return results
        finally:
            await engine.dispose()

    results = asyncio.run(go())
    taken = [r for r in results if isinstance(r, EmailTaken)]
    assert len(taken) == 5, results
    assert str(taken[0]) == "email 'Race@example.com' belongs to another account"
