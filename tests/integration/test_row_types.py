"""One mapper per domain type: a row read through SQLAlchemy Core and the same row read on
the driver connection build equal values (JSON columns, booleans and digests included), on
SQLite and PostgreSQL; whole-table rows (the admin API's pages) map the same way."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from ostiary.domain.clients import Client
from ostiary.services import Services
from ostiary.storage.repos.clients import CLIENT
from ostiary.storage.tables import clients
from tests.conftest import unique

pytestmark = pytest.mark.anyio


async def test_user_read_by_core_equals_user_read_by_driver(services: Services) -> None:
    name = unique("rowtype")
    added = await services.store.users.add(
        username=name,
        email=f"{name}@example.com",
        password_hash=None,
        email_verified=True,
        profile={"locale": "fr-CA", "address": {"country": "CA"}},
    )
    await services.store.users.set_disabled(added.id, True)
    by_driver = await services.store.users.get(added.id)
    by_core = await services.store.users.find(name)
    assert by_driver is not None and by_core == by_driver
    assert by_core.disabled is True and by_core.email_verified is True
    assert by_core.profile == {"locale": "fr-CA", "address": {"country": "CA"}}
    assert by_core in await services.store.users.list()


async def test_whole_table_row_maps_like_the_column_list(services: Services) -> None:
    client = await services.store.clients.add(
        name="row types",
        secret_hash=secrets.token_bytes(32),
        public=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=["https://app.example/cb"],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile"],
        audience=["https://api.example"],
        post_logout_redirect_uris=["https://app.example/bye"],
        include_roles=True,
    )
    async with services.engine.connect() as conn:
        whole = (
            await conn.execute(select(clients).where(clients.c.client_id == client.client_id))
        ).one()
        listed = (
            await conn.execute(CLIENT.select().where(clients.c.client_id == client.client_id))
        ).one()
    assert CLIENT.named(whole) == CLIENT.build(listed) == client
    assert isinstance(client, Client) and client.include_roles is True
    assert client.post_logout_redirect_uris == ("https://app.example/bye",)
