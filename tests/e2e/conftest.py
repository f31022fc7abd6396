"""Fixtures shared by the federation end-to-end files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, free_port, server_settings, start_server
from tests.e2e.upstream_authlib import AuthlibProvider, running_provider


@pytest.fixture(scope="module")
def upstream() -> Iterator[AuthlibProvider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def no_passwords(database_url: str) -> Iterator[LiveServer]:
    """An Ostiary with local passwords switched off (OSTIARY_LOCAL_LOGIN=false)."""
    port = free_port()
    live, stop = start_server(server_settings(database_url, port, local_login=False), port)
    yield live
    stop()
