"""OpenTelemetry traces over OTLP/HTTP to a real receiver: a span per request named after
its route template, the database statements under it, and never a query string, code or
token in any attribute; without the extra, ``ostiary serve`` says what to install in one
line."""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import SECRET_KEY, free_port, server_settings, start_server
from tests.e2e.helpers import make_client
from tests.e2e.processes import OSTIARY, clean_env


class Receiver:
    """An OTLP/HTTP traces endpoint: POST /v1/traces, protobuf bodies kept as sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if self.path == "/v1/traces":
                    received.append(body)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[Any]:
        found = []
        for body in self.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    found.extend(scope.spans)
        return found

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def attributes(span: Any) -> dict[str, str]:
    return {a.key: str(getattr(a.value, a.value.WhichOneof("value"))) for a in span.attributes}


def test_spans_reach_the_collector_without_query_strings(
    database_url: str, receiver: Receiver
) -> None:
    port = free_port()
    settings = server_settings(database_url, port, tracing={"otlp_endpoint": receiver.url})
    live, stop = start_server(settings, port)
    state = secrets.token_urlsafe(16)
    try:
        client = make_client(live, grant_types=["client_credentials"], redirect_uris=[])
        with httpx.Client(base_url=live.base_url, timeout=10) as http:
            token = http.post(
                "/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
            )
            assert token.status_code == 200
            access = token.json()["access_token"]
            http.get("/authorize", params={"client_id": client.client_id, "state": state})
            http.get("/revocations", params={"after": "0"})
    finally:
        stop()  # the provider exports what it still holds at shutdown
    spans = receiver.spans()
    names = {span.name for span in spans}
    assert {"POST /token", "GET /authorize", "GET /revocations"} <= names, names
    token_span = next(s for s in spans if s.name == "POST /token")
    assert attributes(token_span)["http.route"] == "/token"
    # SQLAlchemy's statements are spans under the request that ran them (the feed reads
    # through SQLAlchemy Core; the token path's raw driver statements are not traced).
    feed = next(s for s in spans if s.name == "GET /revocations")
    statements = [s for s in spans if s.trace_id == feed.trace_id and s is not feed]
    database = {"db.system", "db.system.name"}
    assert any(database & attributes(s).keys() for s in statements), statements
    assert all(s.parent_span_id for s in statements)
    raw = b"".join(receiver.bodies)
    for secret in (state, access, client.secret or "", "state=", "after=0"):
        assert secret.encode() not in raw, secret


def test_serve_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    # A package named opentelemetry that refuses to import: what a venv without it does.
    blocker = tmp_path / "blocker" / "opentelemetry"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_TRACING__OTLP_ENDPOINT="http://127.0.0.1:4318",
        PYTHONPATH=str(blocker.parent),
    )
    done = subprocess.run(
        [str(OSTIARY), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "pip install 'ostiary[otel]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
