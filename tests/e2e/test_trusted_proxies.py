"""X-Forwarded-For is believed only from configured proxies (``OSTIARY_TRUSTED_PROXIES``).

Failed logins are counted per client address (lockout) and audited with it: behind a
reverse proxy every request would otherwise come from the proxy, and without a proxy a
client must never choose its own address by sending the header.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ostiary.settings import Settings
from tests.conftest import SECRET_KEY, free_port, unique
from tests.e2e.processes import Servers, clean_env
from tests.e2e.test_serve import ostiary


def _failed_login_ip(servers: Servers, tmp_path: Path, **settings: str) -> str | None:
    port = free_port()
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        **settings,
    )
    server = servers.start(port=port, env=env, cwd=tmp_path)
    username = unique("nobody")
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        page = http.get("/account/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = http.post(
            "/account/login",
            data={"csrf": csrf, "username": username, "password": "wrong password here"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    assert answer.status_code == 401, answer.text
    server.stop()
    events = ostiary(env, tmp_path, "audit", "--type", "login.failure", "--json")
    assert events.returncode == 0, events.stderr
    mine = [e for e in json.loads(events.stdout) if e["details"].get("username") == username]
    assert len(mine) == 1, mine
    return mine[0]["ip"]


def test_forwarded_for_is_ignored_by_default(servers: Servers, tmp_path: Path) -> None:
    assert _failed_login_ip(servers, tmp_path) == "127.0.0.1"


def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    servers: Servers, tmp_path: Path
) -> None:
    ip = _failed_login_ip(servers, tmp_path, OSTIARY_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1")
    assert ip == "203.0.113.9"


@pytest.mark.parametrize("value", ["*", "not-an-ip", "10.0.0.0/99"])
def test_trusted_proxies_must_be_addresses_or_networks(value: str) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies=value)


def test_trusted_proxies_are_normalised_to_networks() -> None:
    settings = Settings(trusted_proxies=" 10.1.2.3/8 ,::1,")
    assert settings.trusted_proxies == "10.0.0.0/8,::1/128"
