"""Migration 0009 rewrites each stored username's comparison key to its RFC 8265 §3.3
UsernameCaseMapped form when the two differ, on SQLite and PostgreSQL: such accounts can
sign in again; a name the rule refuses, or a key another account holds, is left alone."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select

from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import upgrade
from ostiary.storage.repos.users import UserRepository
from ostiary.storage.tables import scim_users, users

FULL_WIDTH_ABC = "\uff21\uff22\uff23"
FULL_WIDTH_XYZ = "\uff38\uff39\uff3a"

# (id, username as stored, key as the older release stored it: its plain lowercase)
ROWS = [
    ("u1", FULL_WIDTH_ABC, FULL_WIDTH_ABC.lower()),  # width-mapped: "abc"
    ("u2", "Jose\u0301", "jose\u0301"),  # NFC: "josé"
    ("u3", "Dave Smith", "dave smith"),  # refused by today's rule: kept
    ("u4", FULL_WIDTH_XYZ, FULL_WIDTH_XYZ.lower()),  # "xyz" is u5's: kept
    ("u5", "xyz", "xyz"),
]


def test_0009_rewrites_comparison_keys_the_rule_changes(empty_database: str) -> None:
    async def go() -> tuple[dict[str, str], list[str | None]]:
        engine = create_engine(empty_database)
        try:
            await upgrade(engine, "0008")
            async with engine.begin() as conn:
                for user_id, username, key in ROWS:
                    await conn.execute(
                        insert(users),
                        {
                            "id": user_id,
                            "username": username,
                            "disabled": False,
                            "created_at": 1,
                            "updated_at": 1,
                        },
                    )
                    await conn.execute(
                        insert(scim_users),
                        {"user_id": user_id, "user_name_ci": key, "resource": {}},
                    )
            await upgrade(engine)
            async with engine.connect() as conn:
                rows = await conn.execute(select(scim_users.c.user_id, scim_users.c.user_name_ci))
                keys = {user_id: key for user_id, key in rows}
            repo = UserRepository(engine)
            found = [
                user.id if (user := await repo.by_username(typed)) else None
                for typed in ("abc", "JOSÉ", "dave smith", FULL_WIDTH_XYZ, "XYZ")
            ]
        finally:
            await engine.dispose()
        return keys, found

    keys, found = asyncio.run(go())
    assert keys == {
        "u1": "abc",
        "u2": "josé",
        "u3": "dave smith",
        "u4": FULL_WIDTH_XYZ.lower(),
        "u5": "xyz",
    }
    # Sign-in finds each by what a person types; full-width XYZ is "xyz", which is u5.
    assert found == ["u1", "u2", "u3", "u5", "u5"]
