"""Statements and CPU per password login, in process, beside its Argon2id verification.

    .venv/bin/python bench/login_cpu.py [--backend postgresql|sqlite] [-n 200]

One login is the flow ``bench/login_load.py`` drives over HTTP: GET /authorize (the login
page) → POST the password (the redirect with the code: the seeded client is first-party) →
POST /token. Here the ASGI app is called directly (no sockets, no
HTTP client), one login after another, on a fresh database seeded with ``ostiary dev seed``.

For each step it prints the database statements per login (what SQLAlchemy executed plus what
reached the driver directly, BEGIN/COMMIT included on PostgreSQL, every statement SQLite ran)
and the CPU time of this process per login (``time.process_time``: insensitive to other load
on the machine) with the Argon2id verification taken out: the verification's own CPU is
measured in the thread that runs it (``time.thread_time``) and reported on its own line.

Run it against another tree to compare: ``PYTHONPATH=/path/to/other/src python bench/...``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from hot_paths import Counter, _pg_admin
from starlette.applications import Starlette

from ostiary.cli.dev import REDIRECT_URI, seed
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade
from ostiary.web.app import create_app
from ostiary.web.browser import Browser

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_FORM = re.compile(r'action="(/interaction/[^"/]+)/login"')
STEPS = (
    "GET /authorize (login page)",
    "POST password (→ code)",
    "GET → code (consent)",
    "POST /token",
)


class Argon2Clock:
    """CPU seconds spent inside the Argon2id verifications, in the threads that ran them."""

    def __init__(self, services: Services) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        passwords = services.passwords
        verify: Callable[[str | None, str], bool] = passwords._verify_sync

        def timed(stored_hash: str | None, password: str) -> bool:
            started = time.thread_time()
            try:
                return verify(stored_hash, password)
            finally:
                with self._lock:
                    self.seconds += time.thread_time() - started

        passwords._verify_sync = timed  # type: ignore[method-assign]


class Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k == name)


class Browser_:
    """Just enough of a browser: a cookie jar and direct ASGI calls."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    async def call(
        self, method: str, url: str, form: dict[str, str] | None = None, auth: str | None = None
    ) -> Response:
        parts = urlsplit(url)
        body = urlencode(form).encode() if form is not None else b""
        headers = [(b"host", b"127.0.0.1")]
        if self.cookies:
            jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            headers.append((b"cookie", jar.encode()))
        if form is not None:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
            headers.append((b"content-length", str(len(body)).encode()))
        if auth is not None:
            headers.append((b"authorization", auth.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 9),
            "state": {},
        }
        sent = False
        response = Response()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.headers = [(k.decode(), v.decode()) for k, v in message["headers"]]
            elif message["type"] == "http.response.body":
                response.body += message.get("body", b"")

        await self.app(scope, receive, send)
        for name, value in response.headers:
            if name == "set-cookie":
                for morsel in SimpleCookie(value).values():
                    self.cookies[morsel.key] = morsel.value
        return response


def expect(response: Response, status: int, step: str) -> Response:
    if response.status != status:
        raise RuntimeError(f"{step}: {response.status} {response.body[:300]!r}")
    return response


async def run(url: str, n: int) -> dict[str, Any]:
    settings = load_settings(
        database_url=url,
        issuer="http://127.0.0.1:9",
        secret_key=secrets.token_urlsafe(48),
        # One address drives every request: no per-address limits (bench/README.md).
        rate_limits={"enabled": False},
    )
    services = build_services(settings)
    counter = Counter()
    counter.attach(services)
    argon2 = Argon2Clock(services)
    app = create_app(settings, services)
    app.state.services = services
    app.state.browser = Browser(settings)
    statements = dict.fromkeys(STEPS, 0)
    cpu = dict.fromkeys(STEPS, 0.0)
    try:
        await upgrade(services.engine)
        await services.keys.ensure(services.signing_algs())
        seeded = await seed(services, users=1, clients=1, prefix="login")
        client_id = seeded.client_ids[0]
        basic = base64.b64encode(f"{client_id}:{seeded.client_secret}".encode()).decode()
        user, password = seeded.usernames[0], seeded.password

        async def login(measured: bool) -> None:
            browser = Browser_(app)

            async def step(
                name: str, method: str, url: str, status: int, redirected: bool = False, **kw: Any
            ) -> Response:
                count, started, hashing = counter.count, time.process_time(), argon2.seconds
                response = await browser.call(method, url, **kw)
                if redirected and response.status == 303:  # a tree before the page was shown
                    response = await browser.call("GET", response.header("location"))  # at once
                if measured:
                    used = time.process_time() - started - (argon2.seconds - hashing)
                    cpu[name] += used
                    statements[name] += counter.count - count
                return expect(response, status, name)

            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": REDIRECT_URI,
                    "scope": "read",
                    "state": secrets.token_urlsafe(8),
                    "code_challenge": challenge.rstrip(b"=").decode(),
                    "code_challenge_method": "S256",
                }
            )
            page = await step(STEPS[0], "GET", f"/authorize?{query}", 200, redirected=True)
            match, action = CSRF.search(page.body.decode()), LOGIN_FORM.search(page.body.decode())
            assert match and action, "no login form on the login page"
            interaction = action.group(1)
            form = {"csrf": match.group(1), "username": user, "password": password}
            posted = await step(STEPS[1], "POST", f"{interaction}/login", 303, form=form)
            back = posted.header("location")
            if back == interaction:  # a consent page or another step (else: the client)
                back = (await step(STEPS[2], "GET", interaction, 303)).header("location")
            code = parse_qs(urlsplit(back).query)["code"][0]
            token = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
            await step(STEPS[3], "POST", "/token", 200, form=token, auth=f"Basic {basic}")
            # The background task of a server writes queued audit rows once a second.
            await services.audit.flush()

        for _ in range(min(20, max(1, n // 10))):  # warm caches and prepared statements
            await login(False)
        argon2.seconds = 0.0
        for _ in range(n):
            await login(True)
        argon2_cpu = argon2.seconds
        steps = [
            {
                "step": name,
                "statements_per_login": round(statements[name] / n, 2),
                "cpu_us_per_login": round(cpu[name] / n * 1e6),
            }
            for name in STEPS
        ]
        return {
            "logins": n,
            "steps": steps,
            "statements_per_login": round(sum(statements.values()) / n, 2),
            "cpu_us_per_login_without_argon2id": round(sum(cpu.values()) / n * 1e6),
            "argon2id_cpu_us_per_login": round(argon2_cpu / n * 1e6),
        }
    finally:
        await services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("-n", type=int, default=200, help="logins")
    args = parser.parse_args(argv)
    if args.backend == "postgresql":
        name = f"ostiary_login_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            result = asyncio.run(
                run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args.n)
            )
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        with tempfile.TemporaryDirectory(prefix="ostiary-login-") as tmp:
            result = asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/login.db", args.n))
    print(f"{args.backend}: {result['logins']} logins")
    print(f"{'step':28} {'statements':>10} {'CPU µs':>8}")
    for s in result["steps"]:
        print(f"{s['step']:28} {s['statements_per_login']:10.2f} {s['cpu_us_per_login']:8d}")
    print(
        f"{'login (no Argon2)':28} {result['statements_per_login']:10.2f} "
        f"{result['cpu_us_per_login_without_argon2id']:8d}"
    )
    print(f"{'Argon2id verify':28} {'':10} {result['argon2id_cpu_us_per_login']:8d}")
    print(json.dumps({"backend": args.backend, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
