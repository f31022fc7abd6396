"""Database errors never carry statement parameters (password hashes, token digests)."""

import asyncio
import uuid

from sqlalchemy.exc import IntegrityError

from ostiary.storage.engine import create_engine
from ostiary.storage.repos.users import UserRepository
from ostiary.storage.tables import users


def test_integrity_errors_hide_statement_parameters(database_url: str) -> None:
    secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$" + uuid.uuid4().hex
    username = f"dup-{uuid.uuid4().hex[:8]}"

    async def go() -> str:
        engine = create_engine(database_url)
        try:
            repo = UserRepository(engine)
            await repo.add(username=username, email=None, password_hash=secret_hash)
            async with engine.begin() as conn:
                try:
                    await conn.execute(
                        users.insert().values(
                            id=str(uuid.uuid4()),
                            username=username,
                            password_hash=secret_hash,
                            disabled=False,
                            created_at=0,
                            updated_at=0,
                        )
                    )
                except IntegrityError as exc:
                    return str(exc)
            raise AssertionError("a duplicate username was accepted")
        finally:
            await engine.dispose()

    message = asyncio.run(go())
    assert "parameters hidden" in message
    assert secret_hash not in message
