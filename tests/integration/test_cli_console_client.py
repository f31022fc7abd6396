"""The admin console's own client cannot be changed or deleted from the command line either
(the admin API and the console refuse it with 409): one rule at every door."""

from __future__ import annotations

import pytest

from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID
from ostiary.admin.console import setup
from tests.conftest import LiveServer
from tests.e2e.processes import clean_env
from tests.integration.test_cli import SECRET_KEY, failed, ok, ostiary


@pytest.mark.parametrize(
    "command",
    [
        ["client", "delete", CONSOLE_CLIENT_ID],
        ["client", "update", CONSOLE_CLIENT_ID, "--name", "mine now"],
    ],
)
def test_the_consoles_client_is_refused_on_the_command_line(
    server: LiveServer, database_url: str, command: list[str]
) -> None:
    server.call(setup.ensure)  # made at the first sign-in to the console
    env = clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)
    failed(ostiary(env, *command), "admin console's own")
    shown = ok(ostiary(env, "client", "show", CONSOLE_CLIENT_ID, "--json"))
    assert '"client_name": "Ostiary admin console"' in shown.stdout.replace(":  ", ": ")
