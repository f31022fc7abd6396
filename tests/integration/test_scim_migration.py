"""Migration 0006 gives accounts made before it their SCIM row (RFC 7643 §4.1.1: userName
unique whatever its case), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, insert, select

from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import upgrade
from ostiary.storage.tables import scim_user_emails, scim_users, users


def test_0006_backfills_scim_rows_oldest_name_wins(empty_database: str) -> None:
    async def go() -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
        engine = create_engine(empty_database)
        try:
            await upgrade(engine, "0005")
            async with engine.begin() as conn:
                await conn.execute(
                    insert(users),
                    [
                        {
                            "id": "u1",
                            "username": "Alice",
                            "email": "Alice@Example.com",
                            "disabled": False,
                            "created_at": 1,
                            "updated_at": 1,
                        },
                        {
                            "id": "u2",
                            "username": "alice",
                            "email": None,
                            "disabled": False,
                            "created_at": 2,
                            "updated_at": 2,
                        },
                        {
                            "id": "u3",
                            "username": "bob",
                            "email": None,
                            "disabled": False,
                            "created_at": 3,
                            "updated_at": 3,
                        },
                    ],
                )
            await upgrade(engine)
            async with engine.connect() as conn:
                views = (
                    await conn.execute(
                        select(scim_users.c.user_id, scim_users.c.user_name_ci).order_by(
                            scim_users.c.user_id
                        )
                    )
                ).all()
                mails = (
                    await conn.execute(
                        select(scim_user_emails.c.user_id, scim_user_emails.c.value_ci)
                    )
                ).all()
                versions = (await conn.execute(select(func.min(scim_users.c.version)))).scalar()
        finally:
            await engine.dispose()
        return [tuple(v) for v in views], [tuple(m) for m in mails], int(versions or 0)

    views, mails, version = asyncio.run(go())
    # "alice" differs from the older "Alice" only in case: the older one keeps the name.
    assert views == [("u1", "alice"), ("u3", "bob")]
    assert mails == [("u1", "alice@example.com")]
    assert version == 1
