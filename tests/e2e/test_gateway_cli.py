"""`ostiary gateway` as operators run it: a subprocess, settings from flags and TOML."""

import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import LiveServer, free_port
from tests.e2e.processes import OSTIARY, ServerProcess, clean_env
from tests.e2e.upstream_app import serving, upstream_app


def run_gateway(*args: str, cwd: Path) -> ServerProcess:
    proc = subprocess.Popen(
        [str(OSTIARY), "gateway", *args],
        env=clean_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return ServerProcess(proc, "")


def wait_answering(url: str, process: ServerProcess) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.proc.poll() is None, process.stderr
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the gateway did not answer; stderr:\n{process.stderr}")


def test_cli_gateway_proxies_with_rules_from_flags_and_toml(
    server: LiveServer, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text('rules = ["GET /health public", "GET /api/* scope=orders:read"]\n')
    with serving(upstream_app()) as upstream:
        process = run_gateway(
            "--config", str(config),
            "--port", str(port),
            "--issuer", server.base_url,
            "--upstream", upstream,
            "--rule", "GET /status public",
            "--mode", "api",
            cwd=tmp_path,
        )  # fmt: skip
        try:
            health = wait_answering(f"http://127.0.0.1:{port}/health", process)
            assert health.status_code == 200, health.text
            assert health.json()["raw_path"] == "/health"
            assert httpx.get(f"http://127.0.0.1:{port}/status").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/api/x").status_code == 401
            assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
        finally:
            process.stop()
    assert "rule: GET /api/* scope=orders:read" in process.stderr


def test_cli_gateway_bad_rule_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(OSTIARY), "gateway", "--issuer", "http://127.0.0.1:1", "--upstream",
         "http://127.0.0.1:2", "--rule", "get /x public"],
        env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "'get' is not an HTTP method (methods are case-sensitive" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_gateway_cookie_secret_file_rotation_list(server: LiveServer, tmp_path: Path) -> None:
    port = free_port()
    secrets = tmp_path / "cookie-secrets"
    secrets.write_text("# newest first\n" + "n" * 40 + "\n" + "o" * 40 + "\n")
    with serving(upstream_app()) as upstream:
        proc = subprocess.Popen(
            [str(OSTIARY), "gateway", "--port", str(port), "--issuer", server.base_url,
             "--upstream", upstream, "--mode", "browser", "--client-id", "gw",
             "--client-secret-stdin", "--cookie-secret-file", str(secrets),
             "--rule", "/app/* authenticated"],
            env=clean_env(), cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write("client-secret\n")
        proc.stdin.close()
        process = ServerProcess(proc, "")
        try:
            login = wait_answering(f"http://127.0.0.1:{port}/app/x", process)
            assert login.status_code == 302
            assert login.headers["location"].startswith(server.base_url)
            assert "ostiary_gw_flow_" in login.headers["set-cookie"]
        finally:
            process.stop()
    assert "n" * 40 not in process.stderr and "o" * 40 not in process.stderr


def test_cli_gateway_short_cookie_secret_is_a_clear_error(tmp_path: Path) -> None:
    secrets = tmp_path / "cookie-secrets"
    secrets.write_text("n" * 40 + "\nshort\n")
    result = subprocess.run(
        [str(OSTIARY), "gateway", "--issuer", "http://127.0.0.1:1", "--upstream",
         "http://127.0.0.1:2", "--rule", "/x authenticated", "--mode", "browser",
         "--client-id", "gw", "--client-secret-stdin", "--cookie-secret-file", str(secrets)],
        env=clean_env(), cwd=tmp_path, input="client-secret\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cookie_secret must be at least 32 bytes (secret 2 of 2)" in result.stderr
    assert "Traceback" not in result.stderr and "short" not in result.stderr
