"""Drive the real server like a client application and a person with a browser would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import Services
from tests.conftest import LiveServer, unique

PASSWORD = "correct horse battery staple"


@dataclass
class RegisteredClient:
    client_id: str
    secret: str | None
    redirect_uri: str | None

    def basic_auth(self) -> tuple[str, str]:
        assert self.secret is not None
        return (self.client_id, self.secret)


def make_client(server: LiveServer, **spec: object) -> RegisteredClient:
    values: dict[str, object] = {
        "name": unique("app"),
        "redirect_uris": ["https://app.example.com/callback"],
        "grant_types": [],
        "scopes": ["read", "write"],
    }
    values.update(spec)
    client_spec = ClientSpec(**values)  # type: ignore[arg-type]

    async def create(services: Services):  # type: ignore[no-untyped-def]
        return await register(services.store.clients, client_spec, services.client_keys.seal_secret)

    client, secret = server.call(create)
    redirect = client.redirect_uris[0] if client.redirect_uris else None
    return RegisteredClient(client.client_id, secret, redirect)


def make_user(server: LiveServer, password: str = PASSWORD) -> str:
    username = unique("user")

    async def create(services: Services) -> None:
        await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=await services.passwords.hash(password),
        )

    server.call(create)
    return username


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def interaction_of(html: str) -> str:
    """The interaction a login page belongs to (``/interaction/<id>``), from its form."""
    match = re.search(r'action="(/interaction/[^"/]+)/login"', html)
    assert match, "no login form on the page"
    return match.group(1)


def login_page(web: httpx.Client, params: dict[str, str]) -> tuple[str, httpx.Response]:
    """/authorize in a browser that must sign in: the interaction's URL and the login page
    /authorize answered with (200, its forms post to the interaction)."""
    page = web.get("/authorize", params=params)
    assert page.status_code == 200 and 'name="password"' in page.text, page.text
    return interaction_of(page.text), page


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)


def login_and_consent(
    web: httpx.Client,
    authorize_params: dict[str, str],
    username: str,
    password: str = PASSWORD,
    decision: str = "allow",
) -> httpx.Response:
    """Walk /authorize → login form → consent form; return the redirect to the client."""
    response = web.get("/authorize", params=authorize_params)
    if response.status_code == 200:
        # The login page, shown by /authorize itself; its form posts to the interaction.
        page = response
        location = interaction_of(page.text)
    else:
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        if not location.startswith("/interaction/"):
            return response
        page = web.get(location)
    if 'name="password"' in page.text:
        response = web.post(
            f"{location}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": password},
        )
        assert response.status_code == 303, response.text
        if not response.headers["location"].startswith("/interaction/"):
            return response  # nothing left to ask: the code went straight to the client
        page = web.get(location)
    if page.status_code == 303:
        return page
    assert 'name="decision"' in page.text, page.text
    return web.post(f"{location}/consent", data={"csrf": csrf_of(page.text), "decision": decision})


def authorize_params(
    client: RegisteredClient, challenge: str | None, **extra: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri or "",
        "scope": "read",
        "state": secrets.token_urlsafe(8),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def obtain_code(
    server: LiveServer, client: RegisteredClient, username: str, **extra: str
) -> tuple[str, str, dict[str, str]]:
    """A fresh code for ``username``; returns (code, verifier, params sent)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **extra)
    with browser(server) as web:
        response = login_and_consent(web, params, username)
    assert response.status_code == 303, response.text
    query = query_of(response.headers["location"])
    assert query.get("state") == params["state"], query
    assert "code" in query, query
    return query["code"], verifier, params


def redeem_code(
    http: httpx.Client, client: RegisteredClient, code: str, verifier: str, params: dict[str, str]
) -> httpx.Response:
    """RFC 6749 §4.1.3: the token request for a code ``obtain_code`` returned."""
    return http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=client.basic_auth(),
    )
