"""``ostiary serve`` behind a TLS-terminating reverse proxy (docs/deployment.md).

From a proxy in ``OSTIARY_TRUSTED_PROXIES``, X-Forwarded-For names the client (what the
lockout counts) and X-Forwarded-Proto the scheme the client used; from any other peer both
are ignored. Host and X-Forwarded-Host are believed from nobody: every URL Ostiary
publishes comes from the issuer. (test_trusted_proxies.py checks the audited address,
test_rate_limits.py the per-address limits.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET_KEY, free_port, unique
from tests.e2e.processes import ServerProcess, Servers, clean_env

ISSUER = "https://id.example.test"
THRESHOLD = 3


def proxied_server(servers: Servers, tmp_path: Path, trusted: str) -> ServerProcess:
    """An https issuer served in plain http on loopback, as behind a TLS proxy, with an
    address locked after ``THRESHOLD`` failed logins."""
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        OSTIARY_ISSUER=ISSUER,
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_TRUSTED_PROXIES=trusted,
        OSTIARY_LOCKOUT__IP_THRESHOLD=str(THRESHOLD),
        OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="1000",
        OSTIARY_HSTS__MAX_AGE="600",
        OSTIARY_HSTS__INCLUDE_SUBDOMAINS="true",
    )
    return servers.start(port=free_port(), env=env, cwd=tmp_path)


def failed_login(server: ServerProcess, forwarded_for: str) -> int:
    """A wrong password on the account login form, with this X-Forwarded-For: 401 when
    refused, 429 once the address is locked."""
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        page = web.get("/account/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        # The cookies are Secure (the issuer is https): the browser sends them over the
        # proxy's https, the proxy on to us; httpx keeps them from plain http, so by hand.
        cookies = "; ".join(c.split(";", 1)[0] for c in page.headers.get_list("set-cookie"))
        answer = web.post(
            "/account/login",
            data={"csrf": csrf, "username": unique("nobody"), "password": "not the password"},
            headers={"X-Forwarded-For": forwarded_for, "Cookie": cookies},
        )
    return answer.status_code


def redirect_scheme(server: ServerProcess, headers: dict[str, str]) -> str:
    """The scheme of an absolute URL built from the request (Starlette's redirect of a
    path with a trailing slash), i.e. the scheme Ostiary believes the client used."""
    answer = httpx.get(server.base_url + "/health/", headers=headers, timeout=10)
    assert answer.status_code == 307, answer.text
    return answer.headers["location"].split("://", 1)[0]


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose proxy, on 127.0.0.1, is trusted."""
    pool = Servers()
    try:
        yield proxied_server(pool, tmp_path_factory.mktemp("proxied"), trusted="127.0.0.1")
    finally:
        pool.stop_all()


def test_a_trusted_proxy_names_the_client_and_its_scheme(behind_proxy: ServerProcess) -> None:
    server = behind_proxy

    assert redirect_scheme(server, {"X-Forwarded-Proto": "https"}) == "https"
    assert redirect_scheme(server, {}) == "http"

    # The lockout counts the forwarded address: one client locks itself out, and only itself.
    attacker, neighbour = "203.0.113.7", "203.0.113.8"
    assert [failed_login(server, attacker) for _ in range(THRESHOLD)] == [401] * THRESHOLD
    assert failed_login(server, attacker) == 429
    assert failed_login(server, neighbour) == 401
    # A chain of proxies: the address the trusted proxy saw is the last one.
    assert failed_login(server, f"198.51.100.1, {attacker}") == 429

    # The public URL is https (the proxy's TLS), so HSTS is sent, as configured.
    answer = httpx.get(server.base_url + "/.well-known/openid-configuration", timeout=10)
    assert answer.headers["strict-transport-security"] == "max-age=600; includeSubDomains"


def test_host_headers_never_change_a_published_url(behind_proxy: ServerProcess) -> None:
    server = behind_proxy
    spoofed = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        document = httpx.get(server.base_url + path, headers=spoofed, timeout=10).json()
        urls = [value for value in document.values() if isinstance(value, str) and "://" in value]
        assert document["issuer"] == ISSUER
        assert len(urls) > 5
        assert all(url.startswith(ISSUER + "/") or url == ISSUER for url in urls), urls


def test_an_untrusted_peer_cannot_choose_its_address_or_scheme(
    servers: Servers, tmp_path: Path
) -> None:
    # Proxies are configured, but this peer (127.0.0.1) is not one of them.
    server = proxied_server(servers, tmp_path, trusted="10.0.0.0/8")

    assert redirect_scheme(server, {"X-Forwarded-Proto": "https"}) == "http"

    # Every failure counts against the peer, whatever address it claims for each.
    claimed = [f"203.0.113.{n}" for n in range(1, THRESHOLD + 1)]
    assert [failed_login(server, address) for address in claimed] == [401] * THRESHOLD
    assert failed_login(server, "203.0.113.200") == 429
