"""Log formats, request ids and the security log: what a line holds and never holds."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from typing import Any

import pytest

from ostiary.domain.audit import AuditEvent
from ostiary.observability import security_log
from ostiary.observability.logging_setup import JsonFormatter, TextFormatter, announce, log_config
from ostiary.observability.request_id import PEER, RequestIds
from ostiary.observability.tracing import INSTALL, check_installed, traces_url
from ostiary.settings import LogSettings, SettingsError, TracingSettings


def record(message: str = "hello %s", *args: Any, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("ostiary.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_json_line_holds_message_and_fields() -> None:
    line = JsonFormatter().format(record("GET %s", "/token", fields={"status": 200, "x": None}))
    assert "\n" not in line
    document = json.loads(line)
    assert document["message"] == "GET /token"
    assert document["logger"] == "ostiary.test"
    assert document["level"] == "info"
    assert document["status"] == 200
    assert document["time"].endswith("Z")


def test_json_line_carries_a_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = record("failed")
        made.exc_info = sys.exc_info()
    document = json.loads(JsonFormatter().format(made))
    assert "ValueError: boom" in document["exception"]


def test_text_line_appends_fields_as_pairs() -> None:
    line = TextFormatter().format(
        record("done", fields={"route": "/token", "who": "a b", "n": None})
    )
    assert line.endswith('ostiary.test: done route=/token who="a b"')


def test_text_line_quotes_a_value_that_could_forge_a_line_or_a_field() -> None:
    fields = {"client_id": "x\n2026-01-01T00:00:00.000Z INFO forged", "subject": "a=b", "n": ""}
    line = TextFormatter().format(record("done", fields=fields))
    assert "\n" not in line
    assert line.endswith(
        'done client_id="x\\n2026-01-01T00:00:00.000Z INFO forged" subject="a=b" n=""'
    )


@pytest.mark.parametrize("kind", ["json", "text"])
def test_log_config_is_a_valid_dict_config(kind: str) -> None:
    config = log_config(LogSettings(format=kind, level="warning"))  # type: ignore[arg-type]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        assert root.level == logging.WARNING
        assert logging.getLogger("uvicorn.error").propagate
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def scope(client: str, peer: str | None = None, request_id: bytes | None = None) -> dict[str, Any]:
    headers = [(b"x-request-id", request_id)] if request_id is not None else []
    given: dict[str, Any] = {"client": (client, 1234), "headers": headers}
    if peer is not None:
        given[PEER] = (peer, 1234)
    return given


@pytest.mark.parametrize(
    ("trusted", "given", "honoured"),
    [
        # A trusted proxy's id in the allowed shape is kept.
        ("10.0.0.0/8", scope("203.0.113.9", peer="10.0.0.2", request_id=b"abc-123.X_y"), True),
        # Without the protocol's peer, a trusted client address is the peer itself.
        ("127.0.0.1", scope("127.0.0.1", request_id=b"from-proxy"), True),
        # Anyone else's id is replaced: a client must not write its own log lines' id.
        ("10.0.0.0/8", scope("203.0.113.9", peer="203.0.113.9", request_id=b"mine"), False),
        ("", scope("127.0.0.1", request_id=b"mine"), False),
        # Wrong shape (spaces, too long, non-ASCII), even from a trusted proxy.
        ("10.0.0.0/8", scope("1.2.3.4", peer="10.0.0.2", request_id=b"a b"), False),
        ("10.0.0.0/8", scope("1.2.3.4", peer="10.0.0.2", request_id=b"a" * 129), False),
        ("10.0.0.0/8", scope("1.2.3.4", peer="10.0.0.2", request_id="é".encode()), False),
    ],
)
def test_request_id_from_trusted_proxies_only(
    trusted: str, given: dict[str, Any], honoured: bool
) -> None:
    sent = dict(given["headers"]).get(b"x-request-id")
    chosen = RequestIds(trusted).of(given)
    assert (chosen.encode() == sent) is honoured
    assert 1 <= len(chosen) <= 128


def test_security_log_scrubs_and_leaves_personal_details_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = AuditEvent(
        type="login.failure",
        actor="anonymous",
        outcome="failure",
        reason="bad_password",
        ip="203.0.113.9",
        details={"username": "alice@example.com", "leak": "ost_rt_abcdef", "purpose": "login"},
    )
    with caplog.at_level(logging.INFO, logger="ostiary.security"):
        security_log.log_event(event)
    (line,) = caplog.records
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["event"] == "login.failure"
    assert fields["reason"] == "bad_password"
    assert fields["details"] == {"leak": "[redacted]", "purpose": "login"}
    assert "alice" not in JsonFormatter().format(line)


def test_frequent_events_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ostiary.security"):
        security_log.log_event(AuditEvent(type="token.issued", actor="client:x"))
    assert caplog.records == []


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://c.example/v1/traces", "https://c.example/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_tracing_without_the_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as a missing package does.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(SettingsError) as raised:
        check_installed(TracingSettings(otlp_endpoint="http://127.0.0.1:4318"))
    assert INSTALL in str(raised.value)
    assert "\n" not in str(raised.value)
    check_installed(TracingSettings())  # not asked for: nothing needed


def test_serve_start_up_lines_are_log_lines_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    settings = LogSettings(format="json")
    announce(settings, "generated signing key k1", kid="k1")
    announce(settings, "serving an http issuer beyond loopback", logging.WARNING)
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["logger"] == "ostiary.serve"
    assert first["level"] == "info"
    assert first["message"] == "generated signing key k1"
    assert first["kid"] == "k1"
    assert second["level"] == "warning"


def test_serve_start_up_lines_follow_the_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    settings = LogSettings(format="json", level="warning")
    announce(settings, "listening on http://127.0.0.1:8080")
    announce(settings, "plain http beyond loopback", logging.WARNING)
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "plain http beyond loopback"


def test_serve_start_up_lines_in_text_are_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    settings = LogSettings()
    announce(settings, "Ostiary http://127.0.0.1:8080 listening on http://127.0.0.1:8080")
    announce(settings, "serving the http issuer", logging.WARNING)
    assert capsys.readouterr().err.splitlines() == [
        "Ostiary http://127.0.0.1:8080 listening on http://127.0.0.1:8080",
        "WARNING: serving the http issuer",
    ]
