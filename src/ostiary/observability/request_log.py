"""The request log line (logger ``ostiary.request``, info): made as bytes and added to the
batch of the handler ``ostiary serve`` logs through, or as a record anywhere else.

Where the logger's only handler is ``serve``'s (``LineHandler`` with one of our two
formats, no filters), the line is that format's line for the record, made directly: no
``LogRecord``, no handler lock, no write of its own, one f-string with the parts that
repeat (the timestamp's second, the route's message and fields) made once
(bench/README.md measures it on the token endpoint; tests/unit/test_request_log.py holds
it to the formatters' own output). Anywhere else (an app embedded with its own logging,
a test capturing records) it is a record handled by the logger as usual. The level is
asked per request, so ``log.level`` and a later ``setLevel`` apply either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ostiary.cache.bounded import BoundedCache
from ostiary.observability.context import RequestContext
from ostiary.observability.line_writer import LineHandler, LineWriter
from ostiary.observability.logging_setup import JsonFormatter, TextFormatter, text_value

log = logging.getLogger("ostiary.request")

# (scope, request context, route template, status, seconds)
WriteLine = Callable[[Mapping[str, Any], RequestContext, str, int, float], None]


def request_log() -> WriteLine:
    """How this app writes its request lines, given how logging is set up now."""
    handler = _sole_handler(log)
    if handler is not None and type(handler.formatter) is JsonFormatter:
        return JsonLines(handler.writer)
    if handler is not None and type(handler.formatter) is TextFormatter:
        return TextLines(handler.writer)
    return log_record


def flush() -> None:
    """Write the request lines kept for this loop iteration (the app's shutdown)."""
    handler = _sole_handler(log)
    if handler is not None:
        handler.flush()


def _sole_handler(logger: logging.Logger) -> LineHandler | None:
    """The one handler every record of ``logger`` reaches, when it is a plain LineHandler."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        handlers.extend(current.handlers)
        current = current.parent if current.propagate else None
    if len(handlers) != 1:
        return None
    (handler,) = handlers
    if type(handler) is not LineHandler or handler.filters or handler.level > logging.INFO:
        return None
    return handler


# Formatting numbers and building dictionaries cost more than the rest of a line: the
# pieces that repeat are made once, a line is one f-string. Request ids need no escaping
# in either format: they are [A-Za-z0-9._-] (request_id.py).
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
# Hundredths of a millisecond as f"{ms:.2f}" shows them, and as JSON writes the float.
_CENTS = tuple(f".{cents:02d}" for cents in range(100))
_CENTS_JSON = tuple(f".{cents:02d}".rstrip("0") if cents else ".0" for cents in range(100))
# route/method/status: fixed sets (route_templates.py), so this stays small.
_MAX_CACHED = 4096
# A route's line text made once: (the message up to its duration, the method, route and
# status fields).
RouteParts = tuple[str, str]
# The ASGI scope's client: (host, port), or None when the server does not know it.
Peer = tuple[str, int] | None


def _quoted(value: str | None) -> str:
    return orjson.dumps(value, default=str).decode()


class _Lines:
    def __init__(self, writer: LineWriter) -> None:
        self._add = writer.add
        self._whole = -1
        self._second = ""
        self._parts: BoundedCache[tuple[str, str, int], RouteParts] = BoundedCache(
            _MAX_CACHED, lru=False
        )

    def _timestamp(self) -> str:
        """Now, as the formatters' timestamp has it; the second formatted once."""
        created = time.time()
        whole = int(created)
        if whole != self._whole:
            self._second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._whole = whole
        # The milliseconds as logging.LogRecord.msecs has them.
        return self._second + _MILLIS[int((created - whole) * 1000)]

    def _made_parts(self, method: str, route: str, status: int) -> RouteParts:
        parts = self._route_parts(method, route, status)
        self._parts.put((method, route, status), parts)
        return parts

    def _route_parts(self, method: str, route: str, status: int) -> RouteParts:
        raise NotImplementedError

    def __call__(
        self,
        scope: Mapping[str, Any],
        context: RequestContext,
        route: str,
        status: int,
        seconds: float,
    ) -> None:
        method = scope["method"]
        parts = self._parts.get((method, route, status)) or self._made_parts(method, route, status)
        # The duration in hundredths of a millisecond, split for the digits tables.
        whole, cents = divmod(int(seconds * 100_000 + 0.5), 100)
        self._add(self._line(parts, whole, cents, context, scope.get("client")))

    def _line(
        self, parts: RouteParts, whole: int, cents: int, context: RequestContext, client: Peer
    ) -> bytes:
        raise NotImplementedError


class JsonLines(_Lines):
    """JsonFormatter's line for a request record, without the record."""

    def _route_parts(self, method: str, route: str, status: int) -> RouteParts:
        # The message up to its duration (its closing quote comes after it).
        message = _quoted(f"{method} {route} {status} ")[:-1]
        fields = f',"method":{_quoted(method)},"route":{_quoted(route)},"status":{status}'
        return message, fields

    def _line(
        self, parts: RouteParts, whole: int, cents: int, context: RequestContext, client: Peer
    ) -> bytes:
        client_id, subject = context.client_id, context.subject
        line = (
            f'{{"time":"{self._timestamp()}","level":"info","logger":"ostiary.request",'
            f'"message":{parts[0]}{whole}{_CENTS[cents]}ms",'
            f'"request_id":"{context.request_id}"{parts[1]},'
            f'"duration_ms":{whole}{_CENTS_JSON[cents]},'
            f'"client_id":{"null" if client_id is None else _quoted(client_id)},'
            f'"subject":{"null" if subject is None else _quoted(subject)},'
            f'"ip":{_quoted(client[0]) if client else "null"}}}\n'
        )
        return line.encode()


class TextLines(_Lines):
    """TextFormatter's line for a request record, without the record."""

    def _route_parts(self, method: str, route: str, status: int) -> RouteParts:
        message = f" INFO ostiary.request: {method} {route} {status} "
        fields = (
            f" method={text_value(method)} route={text_value(route)} status={status} duration_ms="
        )
        return message, fields

    def _line(
        self, parts: RouteParts, whole: int, cents: int, context: RequestContext, client: Peer
    ) -> bytes:
        line = (
            f"{self._timestamp()}{parts[0]}{whole}{_CENTS[cents]}ms"
            f" request_id={context.request_id}{parts[1]}{whole}{_CENTS_JSON[cents]}"
        )
        # Fields without a value are left out, as TextFormatter does.
        if context.client_id is not None:
            line += f" client_id={text_value(context.client_id)}"
        if context.subject is not None:
            line += f" subject={text_value(context.subject)}"
        if client:
            line += f" ip={text_value(client[0])}"
        return (line + "\n").encode("utf-8", "backslashreplace")


def log_record(
    scope: Mapping[str, Any], context: RequestContext, route: str, status: int, seconds: float
) -> None:
    """The request line as a record, for whatever handlers the logger has."""
    method = scope["method"]
    milliseconds = round(seconds * 1000, 2)
    client = scope.get("client")
    # The route template, never the path or its query: codes, tokens and ids stay out.
    message = f"{method} {route} {status} {milliseconds:.2f}ms"
    record = logging.LogRecord(log.name, logging.INFO, __file__, 0, message, None, None)
    record.fields = {
        "request_id": context.request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": milliseconds,
        "client_id": context.client_id,
        "subject": context.subject,
        "ip": client[0] if client else None,
    }
    # Made here rather than by log.info: no search of the stack for the caller.
    log.handle(record)
