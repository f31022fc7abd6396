"""An independent SCIM compliance checker (scim2-tester) against a live server.

Every check it runs must end SUCCESS, COMPLIANT or ACCEPTABLE (or SKIPPED for a feature
we advertise as unsupported); any DEVIATION, ERROR or CRITICAL fails.
The checker looks for the resources it created in the first page of an unfiltered list,
so it gets a server over a database of its own (RFC 7644 §3.4.2.4 lets a provider cap a
page, and the session's shared database holds thousands of users from other tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.conftest import (
    LiveServer,
    free_port,
    server_settings,
    start_server,
)
from tests.databases import backend_of, fresh_database
from tests.e2e.scim_fixtures import SCIM, scim_token

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}
# Checks whose expectation departs from RFC 7643 as Ostiary reads it, each with the text:
JUSTIFIED = {
    # RFC 7643 §4.2: "sub-attributes of members are 'immutable'"; the member's display is
    # the service provider's (the user's userName / the group's displayName), so a
    # display sent by the client is not echoed back.
    ("check_add_attribute", "members"),
    ("check_replace_attribute", "members"),
    # RFC 7643 §4.1.1: active is the account's administrative status; an Ostiary account
    # always has one, so removing the attribute leaves it (enabled) rather than unset.
    ("check_remove_attribute", "'active'"),
}


def _justified(title: str, reason: str) -> bool:
    return any(title == t and needle in reason for t, needle in JUSTIFIED)


@pytest.fixture
def fresh_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server like ``server``, of the same backend, over an empty database."""
    with fresh_database(backend_of(database_url), tmp_path) as url:
        port = free_port()
        live, stop = start_server(server_settings(url, port), port)
        try:
            yield live
        finally:
            stop()


def test_scim2_tester_finds_no_failure(fresh_server: LiveServer) -> None:
    server = fresh_server
    token = scim_token(server)
    http = httpx2.Client(
        base_url=server.base_url + SCIM,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    with http:
        client = SyncSCIMClient(http)
        client.discover()
        results = check_server(client, raise_exceptions=False)
    assert results, "the checker ran no check"
    failed = [
        f"{r.title}: {r.status.name}: {r.reason}"
        for r in results
        if r.status not in PASSING and not _justified(r.title, str(r.reason))
    ]
    passed = [r for r in results if r.status in {Status.SUCCESS, Status.COMPLIANT}]
    assert failed == [], "\n".join(failed)
    assert len(passed) > 20
