"""What each install brings (docs/deployment.md, "Extras"), installed for real.

``pip install ostiary`` is the resource-server kit alone: none of the server's or the
gateway's dependencies, yet the kit and its adapters verify real tokens, and the
``ostiary`` command says in one line which extra to install. ``ostiary[gateway]`` runs
the gateway without the server.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import free_port
from tests.e2e import packaging_fixtures
from tests.e2e.packaging_fixtures import Venv, pip, requirement_names
from tests.e2e.processes import ServerProcess, clean_env
from tests.e2e.upstream_app import serving, upstream_app

light_venv = packaging_fixtures.light_venv
gateway_venv = packaging_fixtures.gateway_venv

KIT_CHECK = Path(__file__).parent / "kit_check.py"
ISSUER = "https://id.example.com"
AUDIENCE = "https://orders.example.com"


def server_only() -> set[str]:
    """Distributions the server brings that neither the kit nor the gateway needs."""
    return requirement_names("server") - requirement_names("gateway") - requirement_names()


def gateway_only() -> set[str]:
    return requirement_names("gateway") - requirement_names()


def sign(key: ECKey, **claims: Any) -> str:
    now = int(time.time())
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, **claims}
    return jwt.encode(header, body, key)


def tokens() -> dict[str, Any]:
    """A token signed by the JWKS's key, and one of the same ``kid`` signed by another."""
    key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"}, private=True)
    impostor = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"}, private=True)
    claims = {"sub": "alice", "client_id": "orders-app", "scope": "orders:read", "jti": "j1"}
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks": {"keys": [key.as_dict(private=False)]},
        "good": sign(key, **claims),
        "forged": sign(impostor, **claims),
    }


def kit_check(venv: Venv, tmp_path: Path, **env: str) -> dict[str, Any]:
    done = venv.run("python", str(KIT_CHECK), cwd=tmp_path, stdin=json.dumps(tokens()), **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def assert_verified(report: dict[str, Any]) -> None:
    assert report["direct"]["sub"] == "alice"
    assert report["direct"]["scopes"] == ["orders:read"]
    assert report["direct"]["forged"] is not None
    assert report["wsgi"] == ["200 OK", "401 Unauthorized"]
    assert report["asgi"] == [200, 401]


def assert_one_line_error(done: subprocess.CompletedProcess[str], extra: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert f"pip install 'ostiary[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr


# -- pip install ostiary: the kit ---------------------------------------------------------


def test_the_light_install_has_the_kit_and_nothing_of_the_server(light_venv: Venv) -> None:
    installed = light_venv.distributions()
    assert {"ostiary", "httpx", "joserfc", "cryptography"} <= installed
    assert server_only() & installed == set()
    assert gateway_only() & installed == set()
    # The names come from pyproject.toml: make sure they are the ones meant.
    assert {"sqlalchemy", "alembic", "argon2-cffi", "jinja2", "asyncpg"} <= server_only()
    assert {"uvicorn", "pydantic", "websockets"} <= gateway_only()


def test_the_light_install_verifies_tokens_with_the_kit_and_its_adapters(
    light_venv: Venv, tmp_path: Path
) -> None:
    report = kit_check(light_venv, tmp_path)
    assert_verified(report)
    assert report["fastapi"] is None  # not installed: the adapter is only imported on use


def test_the_fastapi_adapter_needs_fastapi_alone(light_venv: Venv, tmp_path: Path) -> None:
    """FastAPI is the application's own dependency: put beside the light install (on
    PYTHONPATH, leaving the shared environment as it is), the adapter works."""
    own = tmp_path / "app-deps"
    pip("install", "--quiet", "--target", str(own), "fastapi")
    report = kit_check(light_venv, tmp_path, PYTHONPATH=str(own))
    assert_verified(report)
    assert report["fastapi"] == [200, 401]


def test_ostiary_without_the_server_says_which_extra_to_install(
    light_venv: Venv, tmp_path: Path
) -> None:
    for command in (["serve"], ["db", "upgrade"], ["user", "list"], ["--help"]):
        assert_one_line_error(light_venv.run("ostiary", *command, cwd=tmp_path), "server")
    assert_one_line_error(light_venv.run("ostiary", "gateway", "--help", cwd=tmp_path), "gateway")
    version = light_venv.run("ostiary", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("ostiary ")
    assert list(tmp_path.iterdir()) == []  # nothing created on the way


# -- pip install 'ostiary[gateway]' -------------------------------------------------------


def test_the_gateway_install_has_no_server(gateway_venv: Venv) -> None:
    installed = gateway_venv.distributions()
    assert gateway_only() <= installed
    assert server_only() & installed == set()


def test_the_gateway_runs_without_the_server(gateway_venv: Venv, tmp_path: Path) -> None:
    assert_one_line_error(gateway_venv.run("ostiary", "serve", cwd=tmp_path), "server")
    port = free_port()
    with serving(upstream_app()) as upstream:
        command = [
            str(gateway_venv.program("ostiary")), "gateway",
            "--port", str(port),
            # Never contacted: only a request with a token sends the gateway to the issuer.
            "--issuer", "http://127.0.0.1:9",
            "--upstream", upstream,
            "--rule", "GET /status public",
            "--rule", "GET /api/* scope=orders:read",
            "--mode", "api",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command,
            env=clean_env(),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        process = ServerProcess(proc, f"http://127.0.0.1:{port}")
        try:
            status = answer(process, "/status")
            assert status.status_code == 200, status.text
            assert status.json()["raw_path"] == "/status"
            refused = httpx.get(process.base_url + "/api/orders", timeout=5)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
        finally:
            process.stop()


def test_a_gateway_config_error_is_one_line(gateway_venv: Venv, tmp_path: Path) -> None:
    done = gateway_venv.run(
        "ostiary", "gateway", "--issuer", "http://127.0.0.1:9", "--upstream",
        "http://127.0.0.1:10", "--rule", "get /x public", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "is not an HTTP method" in done.stderr


def answer(process: ServerProcess, path: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise AssertionError(f"the gateway exited; stderr:\n{process.stderr}")
        try:
            return httpx.get(process.base_url + path, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the gateway did not answer; stderr:\n{process.stderr}")


@pytest.mark.parametrize("extra", ["server", "postgres", "gateway", "redis", "otel"])
def test_all_names_every_deployment_extra(extra: str) -> None:
    assert requirement_names(extra) <= requirement_names("all")
