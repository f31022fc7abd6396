"""The request line made directly is the formatters' line for the record, byte for byte;
it is made so only where serve's handler alone receives it; log.level still applies."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ostiary.observability import request_log
from ostiary.observability.context import RequestContext
from ostiary.observability.line_writer import LineHandler
from ostiary.observability.logging_setup import JsonFormatter, TextFormatter
from ostiary.observability.middleware import ObserveRequests
from ostiary.observability.request_id import RequestIds
from ostiary.observability.route_templates import RouteTemplates

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Recording:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def request_logger() -> Iterator[logging.Logger]:
    """ostiary.request on its own, as a test leaves it: no handlers, no propagation."""
    logger = request_log.log
    saved = logger.handlers[:], logger.level, logger.propagate, logger.filters[:]
    logger.handlers[:], logger.filters[:] = [], []
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.handlers[:], logger.filters[:] = saved[0], saved[3]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def serve_handler(logger: logging.Logger, formatter: logging.Formatter) -> Recording:
    stream = Recording()
    handler = LineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    # In place of any other (pytest attaches its capture to loggers that do not propagate).
    logger.handlers[:] = [handler]
    return stream


CASES = [
    (0.0, None, None, None),
    (0.0031, "app-1", "u_7Hq", ("203.0.113.9", 5000)),
    (1.234567, 'odd "client" \\ é', "a b", ("::1", 1)),
    (0.000005, None, "u_1", ("127.0.0.1", 2)),
    (0.1, "", "", ("", 3)),
    (0.01005, "x", None, None),
    (12.5, "x\ny", None, None),
    (3600.0, None, None, ("10.0.0.1", 4)),
]


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
@pytest.mark.parametrize(("seconds", "client_id", "subject", "client"), CASES)
def test_the_direct_line_is_the_formatters_line(
    request_logger: logging.Logger,
    formatter: logging.Formatter,
    seconds: float,
    client_id: str | None,
    subject: str | None,
    client: tuple[str, int] | None,
) -> None:
    stream = serve_handler(request_logger, formatter)
    write = request_log.request_log()
    assert write is not request_log.log_record
    routes = [("POST", "/interaction/{interaction_id}/login", 303), ("BREW", "other", 405)]
    context = RequestContext("lb-1.a_B", client_id, subject)
    for method, route, status in routes * 2:  # the second time from the cache
        write({"method": method, "client": client}, context, route, status, seconds)
    request_log.flush()

    records = Records()
    request_logger.handlers[:] = [records]
    for method, route, status in routes * 2:
        scope = {"method": method, "client": client}
        request_log.log_record(scope, context, route, status, seconds)
    expected = [formatter.format(record) for record in records.records]
    # Made a moment apart: all but the time must be the same.
    assert [TIME.sub("T", line) for line in stream.lines] == [
        TIME.sub("T", line) for line in "\n".join(expected).splitlines()
    ]
    assert all(TIME.match(line) or TIME.search(line) for line in stream.lines)


def test_json_line_fields(request_logger: logging.Logger) -> None:
    stream = serve_handler(request_logger, JsonFormatter())
    write = request_log.request_log()
    write({"method": "GET", "client": None}, RequestContext("id-1"), "/jwks.json", 200, 0.0004)
    request_log.flush()
    document = json.loads(stream.lines[0])
    assert document["logger"] == "ostiary.request"
    assert document["message"] == "GET /jwks.json 200 0.40ms"
    assert document["duration_ms"] == 0.4
    assert document["client_id"] is None and document["ip"] is None


def test_another_handler_or_a_filter_gets_records(request_logger: logging.Logger) -> None:
    serve_handler(request_logger, JsonFormatter())
    request_logger.addHandler(Records())
    assert request_log.request_log() is request_log.log_record
    request_logger.handlers.pop()
    request_logger.addFilter(lambda record: True)
    assert request_log.request_log() is request_log.log_record
    request_logger.filters.clear()
    # A formatter of someone else's: its own format, so records.
    request_logger.handlers[0].setFormatter(logging.Formatter())
    assert request_log.request_log() is request_log.log_record


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _request(app: ObserveRequests) -> None:
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "client": None}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def run() -> None:
        await app(scope, receive, send)
        request_log.flush()

    asyncio.run(run())


@pytest.mark.parametrize(("level", "written"), [(logging.INFO, 1), (logging.WARNING, 0)])
def test_log_level_applies_to_the_direct_line(
    request_logger: logging.Logger, level: int, written: int
) -> None:
    stream = serve_handler(request_logger, JsonFormatter())
    app = ObserveRequests(
        _answer,
        routes=RouteTemplates([], ["/x"]),
        ids=RequestIds(""),
        metrics=None,
        log_requests=True,
    )
    request_logger.setLevel(level)  # after the app was made: asked per request
    _request(app)
    assert len(stream.lines) == written


def test_request_log_off_writes_nothing(request_logger: logging.Logger) -> None:
    stream = serve_handler(request_logger, JsonFormatter())
    app = ObserveRequests(
        _answer,
        routes=RouteTemplates([], ["/x"]),
        ids=RequestIds(""),
        metrics=None,
        log_requests=False,
    )
    _request(app)
    assert stream.lines == []
