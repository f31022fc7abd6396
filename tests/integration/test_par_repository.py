"""The pushed-authorization repository (RFC 9126) on SQLite and PostgreSQL: a pushed
request is kept under the digest of its request_uri, bound to the client that pushed it
(§2.2), taken once (§4: single use, even by two takers at once) and never after it
expired (§4); retention forgets the expired ones."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from ostiary import clock, retention
from ostiary.crypto.tokens import digest
from ostiary.services import Services
from ostiary.storage.tables import pushed_authorizations
from tests.conftest import unique

pytestmark = pytest.mark.anyio

PARAMS = {
    "response_type": "code",
    "redirect_uri": "https://app.example.com/cb",
    "scope": "openid read",
    "state": "af0ifjsldkj",
    "claims": '{"userinfo": {"email": null}}',
}


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], Any]:
    real = clock.now

    @contextmanager
    def shifted(seconds: int) -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(clock, "now", lambda: real() + seconds)
            yield

    return shifted


def request_uri() -> tuple[str, bytes]:
    uri = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)
    return uri, digest(uri)


async def push(services: Services, client_id: str, ttl: int = 60) -> bytes:
    _, uri_hash = request_uri()
    params = {"client_id": client_id, **PARAMS}
    await services.store.pushed_authorizations.add(
        uri_hash=uri_hash, client_id=client_id, params=params, ttl=ttl
    )
    return uri_hash


async def test_rfc9126_2_2_stored_under_the_digest_with_its_client_and_expiry(
    services: Services,
) -> None:
    client_id = unique("pusher")
    uri, uri_hash = request_uri()
    before = clock.now()
    await services.store.pushed_authorizations.add(
        uri_hash=uri_hash, client_id=client_id, params={"client_id": client_id}, ttl=60
    )
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(pushed_authorizations).where(pushed_authorizations.c.client_id == client_id)
            )
        ).all()
    assert len(rows) == 1
    row = rows[0]._mapping
    # The request_uri itself is never stored: only its SHA-256 digest.
    assert bytes(row["uri_hash"]) == uri_hash != uri.encode()
    assert before + 60 <= row["expires_at"] <= clock.now() + 60


async def test_rfc9126_4_taken_once_with_every_parameter_as_pushed(services: Services) -> None:
    client_id = unique("pusher")
    uri_hash = await push(services, client_id)
    repository = services.store.pushed_authorizations

    assert await repository.take(uri_hash, client_id) == {"client_id": client_id, **PARAMS}
    assert await repository.take(uri_hash, client_id) is None


async def test_rfc9126_4_two_takers_at_once_one_wins(services: Services) -> None:
    """Two nodes on one database given the same request_uri at the same moment: the
    delete-returning statement hands the request to exactly one of them."""
    client_id = unique("pusher")
    uri_hash = await push(services, client_id)
    results: list[dict[str, str] | None] = []

    async def take() -> None:
        results.append(await services.store.pushed_authorizations.take(uri_hash, client_id))

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(take)

    assert sum(r is not None for r in results) == 1


async def test_rfc9126_2_2_bound_to_the_client_that_pushed_it(services: Services) -> None:
    client_id = unique("pusher")
    uri_hash = await push(services, client_id)
    repository = services.store.pushed_authorizations

    assert await repository.take(uri_hash, unique("other")) is None
    # Another client's attempt does not use it up.
    assert await repository.take(uri_hash, client_id) is not None


async def test_rfc9126_4_an_expired_request_is_not_taken(
    services: Services, travel: Callable[[int], Any]
) -> None:
    client_id = unique("pusher")
    uri_hash = await push(services, client_id, ttl=60)

    with travel(60):
        assert await services.store.pushed_authorizations.take(uri_hash, client_id) is None
    with travel(59):
        assert await services.store.pushed_authorizations.take(uri_hash, client_id) is not None


async def test_retention_purges_expired_pushed_requests_and_keeps_live_ones(
    services: Services,
) -> None:
    client_id = unique("pusher")
    expired = await push(services, client_id, ttl=-1)
    live = await push(services, client_id, ttl=60)

    removed = await retention.purge(services)

    assert removed["pushed_authorizations"] >= 1
    async with services.engine.connect() as conn:
        kept = (
            await conn.execute(
                select(pushed_authorizations.c.uri_hash).where(
                    pushed_authorizations.c.uri_hash.in_([expired, live])
                )
            )
        ).all()
    assert {bytes(row[0]) for row in kept} == {live}
