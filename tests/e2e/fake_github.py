"""A stand-in for GitHub's OAuth app flow and REST API, on a free loopback port.

It behaves as GitHub documents it: ``/login/oauth/authorize`` (approves at once),
``/login/oauth/access_token`` (PKCE S256 checked; errors come with HTTP 200 and an
``error`` member, GitHub's quirk), ``/user`` and ``/user/emails`` behind the access token.
Each endpoint checks what the real one would refuse, so the connector is exercised as
GitHub would exercise it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import free_port
from tests.e2e.upstream_app import serving


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str = "The Octocat"
    emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    user: GitHubUser


class FakeGitHub:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client_id = "Iv1." + secrets.token_hex(8)
        self.client_secret = secrets.token_hex(20)
        self.redirect_uris: list[str] = []
        self.user = GitHubUser(id=1, login="octocat")
        self.token_error: str | None = None
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, GitHubUser] = {}
        self.authorize_params: list[dict[str, str]] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self.authorize),
                Route("/login/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/user", self.user_api),
                Route("/user/emails", self.emails_api),
            ]
        )

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_params.append(params)
        if params.get("client_id") != self.client_id:
            return JSONResponse({"message": "unknown client"}, 404)
        redirect = params.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return JSONResponse({"message": "redirect_uri mismatch"}, 400)
        code = secrets.token_hex(10)
        self._codes[code] = _Grant(
            self.client_id, redirect, params.get("code_challenge"), self.user
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{redirect}?{query}", 302)

    async def access_token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id or secret != self.client_secret:
            return JSONResponse({"error": "incorrect_client_credentials"})
        if self.token_error:
            return JSONResponse({"error": self.token_error})
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "bad_verification_code"})
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if grant.challenge != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
            return JSONResponse({"error": "bad_verification_code"})
        token = "gho_" + secrets.token_hex(18)
        self._tokens[token] = grant.user
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "user:email"})

    def _bearer(self, request: Request) -> GitHubUser | None:
        header = request.headers.get("authorization", "")
        return self._tokens.get(header.removeprefix("Bearer ")) if header else None

    async def user_api(self, request: Request) -> Response:
        user = self._bearer(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, 401)
        return JSONResponse({"id": user.id, "login": user.login, "name": user.name})

    async def emails_api(self, request: Request) -> Response:
        user = self._bearer(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, 401)
        return JSONResponse(user.emails)


@contextmanager
def running_github() -> Iterator[FakeGitHub]:
    port = free_port()
    github = FakeGitHub(f"http://127.0.0.1:{port}")
    with serving(github.app(), port):
        yield github
