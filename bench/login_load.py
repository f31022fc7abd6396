"""Password login end to end, and the bare Argon2id rate it is measured against.

A login is the whole authorization-code flow a person's browser and the client drive:
GET /authorize (the login page) → POST the password (the seeded clients are first-party, so
no consent page: the answer is the redirect to the client with the code) → POST /token.
The load generator runs on the load core; the Argon2id rate is measured in a process
pinned to the server core, with Ostiary's configured parameters.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
from servers import SERVER_CORE

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_FORM = re.compile(r'action="(/interaction/[^"/]+)/login"')


@dataclass
class LoginResult:
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    first_error: str | None
    # The bare Argon2id rate measured on the server core just before and just after this
    # run (their mean): the same machine load as the logins saw, as far as one can.
    argon2id_rate: float | None = None
    # CPU seconds the server spent per login, and one bare verification's CPU seconds: their
    # ratio does not depend on what else the machine runs (throughput does).
    server_cpu_per_login: float | None = None
    argon2id_cpu: float | None = None
    # With ``probe``: latency of a light request sent every PROBE_GAP seconds meanwhile
    # (how long other requests wait while logins, and their hashes, hold the core).
    probe_p50_ms: float | None = None
    probe_p99_ms: float | None = None


PROBE_GAP = 0.005


class FlowError(Exception):
    pass


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        path = response.request.url.path
        raise FlowError(f"{path}: {response.status_code} {response.text[:200]}")
    return response


async def one_login(
    http: httpx.AsyncClient, client_id: str, secret: str, redirect_uri: str, user: str, pw: str
) -> None:
    http.cookies.clear()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "read",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    # The login page is the answer of /authorize; its form posts to the interaction.
    page = await http.get("/authorize", params=params)
    if page.status_code == 303:  # a tree before the page was shown by /authorize itself
        page = await http.get(page.headers["location"])
    _expect(page, 200)
    match, action = CSRF.search(page.text), LOGIN_FORM.search(page.text)
    if not match or not action:
        raise FlowError("no login form on the login page")
    interaction = action.group(1)
    form = {"csrf": match.group(1), "username": user, "password": pw}
    back = _expect(await http.post(f"{interaction}/login", data=form), 303).headers["location"]
    if back == interaction:  # a consent page or another step follows (else: the client)
        back = _expect(await http.get(interaction), 303).headers["location"]
    query = parse_qs(urlsplit(back).query)
    if "code" not in query:
        raise FlowError(f"no code in the redirect: {back[:200]}")
    token = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    _expect(await http.post("/token", data=token, auth=(client_id, secret)), 200)


def _percentile(samples: list[float], p: float) -> float:
    """The p-th fraction of sorted samples (seconds), in milliseconds; 0 when none."""
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, int(p * len(samples)))] * 1000


async def _load(
    base_url: str,
    connections: int,
    seconds: float,
    login: dict[str, str],
    probe: str | None = None,
) -> LoginResult:
    latencies: list[float] = []
    probed: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    await one_login(http, **login)
                except (FlowError, httpx.HTTPError) as exc:
                    errors.append(str(exc))
                    continue
                latencies.append(time.perf_counter() - started)

    async def prober(path: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await http.get(path)
                if response.status_code != 200:
                    errors.append(f"probe {path}: {response.status_code}")
                probed.append(time.perf_counter() - started)
                await asyncio.sleep(PROBE_GAP)

    started = time.perf_counter()
    probing = [prober(probe)] if probe else []
    await asyncio.gather(*(worker() for _ in range(connections)), *probing)
    elapsed = time.perf_counter() - started
    latencies.sort()
    probed.sort()
    return LoginResult(
        connections=connections,
        rps=len(latencies) / elapsed,
        p50_ms=_percentile(latencies, 0.5),
        p99_ms=_percentile(latencies, 0.99),
        requests=len(latencies) + len(errors),
        errors=len(errors),
        first_error=errors[0] if errors else None,
        probe_p50_ms=_percentile(probed, 0.5) if probe else None,
        probe_p99_ms=_percentile(probed, 0.99) if probe else None,
    )


def run_logins(
    base_url: str,
    connections: int,
    seconds: float,
    login: dict[str, str],
    probe: str | None = None,
) -> LoginResult:
    """Drive logins from this process, pinned to the load core meanwhile; with ``probe``
    (a path), also time a GET of it every ``PROBE_GAP`` seconds."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    try:
        return asyncio.run(_load(base_url, connections, seconds, login, probe))
    finally:
        os.sched_setaffinity(0, previous)


ARGON2_PROBE = """
import sys, time
from argon2 import PasswordHasher, Type
from ostiary.settings import load_settings
s = load_settings(secret_key="x" * 40).passwords
hasher = PasswordHasher(time_cost=s.time_cost, memory_cost=s.memory_cost,
                        parallelism=s.parallelism, type=Type.ID)
stored = hasher.hash("correct horse battery staple")
seconds = float(sys.argv[1])
n, started, cpu = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - started < seconds:
    hasher.verify(stored, "correct horse battery staple")
    n += 1
print(n / (time.perf_counter() - started))
print(f"m={s.memory_cost} t={s.time_cost} p={s.parallelism}")
print((time.process_time() - cpu) / n)
"""


def argon2_rate(seconds: float) -> tuple[float, str]:
    """Bare Argon2id verifications per second on the server core; and the parameters."""
    rate, params, _cpu = argon2_probe(seconds)
    return rate, params


def argon2_probe(seconds: float) -> tuple[float, str, float]:
    """As ``argon2_rate``, plus the CPU seconds one verification took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    out = subprocess.run(
        ["taskset", "-c", SERVER_CORE, sys.executable, "-c", ARGON2_PROBE, str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split("\n")
    return float(out[0]), out[1], float(out[2])
