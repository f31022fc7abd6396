"""The protected-resource registry (RFC 8707) on SQLite and PostgreSQL: registered by URI
(the token audience, unique), its scopes kept as a set, listed by URI, deleted; read
through each node's cache, which a deletion on another node empties at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, insert

from ostiary import clock
from ostiary.services import Services
from ostiary.storage.tables import resources
from tests.conftest import open_services, unique

pytestmark = pytest.mark.anyio


def new_uri() -> str:
    return f"https://{unique('api')}.example.com/v1"


async def test_rfc8707_2_registered_by_uri_with_its_scopes(services: Services) -> None:
    uri = new_uri()
    before = clock.now()

    added = await services.store.resources.add(
        uri=uri, name="Orders", scopes=["orders:write", "orders:read", "orders:read"]
    )

    assert added is not None
    assert (added.uri, added.name, added.scopes) == (
        uri,
        "Orders",
        frozenset({"orders:read", "orders:write"}),
    )
    assert before <= added.created_at <= clock.now()
    assert await services.store.resources.get(uri) == added
    assert await services.store.resources.get(uri + "/") is None


async def test_a_uri_is_registered_once(services: Services) -> None:
    uri = new_uri()
    first = await services.store.resources.add(uri=uri, name="first", scopes=["a"])

    assert await services.store.resources.add(uri=uri, name="second", scopes=["b"]) is None
    assert await services.store.resources.get(uri) == first


async def test_listed_by_uri_and_deleted(services: Services) -> None:
    uris = sorted(new_uri() for _ in range(3))
    for uri in reversed(uris):
        await services.store.resources.add(uri=uri, name="", scopes=[])

    listed = [r.uri for r in await services.store.resources.list() if r.uri in uris]
    assert listed == uris
    assert await services.store.resources.delete(uris[1])
    assert not await services.store.resources.delete(uris[1])
    assert await services.store.resources.get(uris[1]) is None
    remaining = {r.uri for r in await services.store.resources.list()}
    assert uris[0] in remaining and uris[2] in remaining and uris[1] not in remaining


@pytest.fixture
async def other_node(database_url: str) -> AsyncIterator[Services]:
    """A second node's services on the same database (its own caches and channel)."""
    async with open_services(database_url) as services:
        yield services


async def _until(condition: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def test_a_deletion_on_one_node_reaches_the_other_nodes_cache(
    services: Services, other_node: Services
) -> None:
    """The token endpoint reads resources through a per-node cache: a resource deleted on
    one node must stop being accepted on every other at once, not after the cache's TTL."""
    uri = new_uri()
    await services.store.resources.add(uri=uri, name="", scopes=["s"])
    cached = services.store.resources
    # PostgreSQL: the cache serves nothing until its LISTEN connection is up.
    await _until(lambda: _cache_usable(services, uri))
    assert await cached.get(uri) is not None

    # A row changed behind the repositories' back is not seen: the cache answers.
    async with services.engine.begin() as conn:
        await conn.execute(delete(resources).where(resources.c.uri == uri))
    assert await cached.get(uri) is not None
    async with services.engine.begin() as conn:
        row = {"uri": uri, "name": "", "scopes": ["s"], "created_at": clock.now()}
        await conn.execute(insert(resources).values(**row))

    assert await other_node.store.resources.delete(uri)

    async def forgotten() -> bool:
        return await cached.get(uri) is None

    await _until(forgotten)


async def _cache_usable(services: Services, uri: str) -> bool:
    repository = services.store.resources
    await repository.get(uri)  # the first read starts the channel
    return bool(repository._cache.usable)  # type: ignore[attr-defined]
