"""A person's browser across two sites: one cookie jar per origin, redirects followed by hand."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ostiary.domain.federation import Provider, redirect_uri
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from tests.conftest import LiveServer, unique
from tests.e2e.upstream_authlib import AuthlibProvider


class Browser:
    def __init__(self) -> None:
        self.jars: dict[str, httpx.Client] = {}

    def _client(self, url: str) -> httpx.Client:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.jars:
            self.jars[origin] = httpx.Client(base_url=origin, follow_redirects=False, timeout=30)
        return self.jars[origin]

    def get(self, url: str) -> httpx.Response:
        return self._client(url).get(url)

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self._client(url).post(url, data=data)

    def follow(self, response: httpx.Response, *, stop_at: str | None = None) -> httpx.Response:
        """Follow 303s across origins until a page, or a redirect to ``stop_at``."""
        for _ in range(20):
            if response.status_code not in (302, 303):
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if stop_at and location.startswith(stop_at):
                return response
            response = self.get(location)
        raise AssertionError("redirect loop")

    def close(self) -> None:
        for client in self.jars.values():
            client.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def interaction_form(page: httpx.Response, step: str) -> str:
    """The absolute URL an interaction page's form for ``step`` (login, abort) posts to."""
    action = re.search(rf'action="(/interaction/[^"/]+/{step})"', page.text)
    assert action, page.text
    return urljoin(str(page.url), action.group(1))


def button_href(html: str, name: str) -> str:
    match = re.search(rf'href="(/federation/{name}/login\?interaction=[^"]+)"', html)
    assert match, html
    return match.group(1)


def password_login(
    browser: Browser, page: httpx.Response, username: str, password: str
) -> httpx.Response:
    return browser.post(
        interaction_form(page, "login"),
        {"csrf": csrf_of(page.text), "username": username, "password": password},
    )


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def add_provider(server: LiveServer, provider: Provider) -> Provider:
    async def add(services: Services) -> Provider:
        repo = ProviderRepository(services.engine, client_secrets(services.settings))
        return await repo.add(provider)

    return server.call(add)


# -- an Authlib upstream registered as a provider ---------------------------------------


def add_oidc_provider(
    server: LiveServer,
    upstream: AuthlibProvider,
    *,
    enabled: bool = True,
    label: str = "Corp",
    mapping: tuple[str, ...] = (),
) -> str:
    """Register ``upstream`` with ``server`` as a generic OIDC provider (display name
    ``"<label> <name>"``, claim ``mapping`` rules); its name."""
    name = unique(label).lower()
    client = upstream.add_client(redirect_uri(server.base_url, name))
    add_provider(
        server,
        Provider(
            name=name,
            display_name=f"{label} {name}",
            preset="oidc",
            issuer=upstream.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            scopes=("openid", "email", "profile"),
            enabled=enabled,
            mapping=mapping,
        ),
    )
    return name
