"""The server's services over an in-memory store: grants and the authorization endpoint's
checks run as the server runs them, with no database, no network and no HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from ostiary.domain.keys import StoredKey
from ostiary.services import Services, build_services
from ostiary.storage.memory import MemoryStore, Tables
from tests.unit.grants.world import SETTINGS


async def _made_keys() -> dict[str, StoredKey]:
    services = build_services(SETTINGS, store=MemoryStore())
    try:
        await services.keys.ensure(services.signing_algs())
        return dict(services.store.tables.keys)
    finally:
        await services.close()


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, StoredKey]:
    """Made once per run: generating RSA keys takes most of a second."""
    return asyncio.run(_made_keys())


@pytest.fixture(scope="module")
async def services(signing_keys: dict[str, StoredKey]) -> AsyncIterator[Services]:
    built = build_services(SETTINGS, store=MemoryStore(Tables(keys=dict(signing_keys))))
    await built.keys.load()
    yield built
    await built.close()


@pytest.fixture(autouse=True)
async def empty_tables(services: Services) -> AsyncIterator[None]:
    """Every test starts from empty tables (but the signing keys): what an earlier test
    queued for the audit trail is written before the tables are emptied."""
    store = services.store
    assert isinstance(store, MemoryStore)
    await services.audit.flush()
    for table in dataclasses.fields(Tables):
        if table.name != "keys" and table.default_factory is not dataclasses.MISSING:
            setattr(store.tables, table.name, table.default_factory())
    yield
