"""The admin API's request bodies, checked before FastAPI parses them.

FastAPI reads JSON with the standard library, which accepts an escaped lone surrogate
(``"\\ud800"``, RFC 8259 §8.2: no Unicode character) and hands it on as a ``str`` that no
UTF-8 encoder can write: the database driver or the response would fail with a 500, or
worse, a value would be stored that no later response can serve. orjson parses by the
stricter rule, so a body FastAPI would read as JSON is parsed once here: text that is
JSON but holds invalid Unicode or a NUL (PostgreSQL cannot store it) is an RFC 9457
problem 400. Text that is not JSON at all goes on to FastAPI, whose answer (a 422
problem listing the error) clients already rely on.
"""

from __future__ import annotations

import email.message

from starlette.types import Message, Receive, Scope

from ostiary import strict_json
from ostiary.admin.problems import Problem

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _read_as_json(scope: Scope) -> bool:
    """FastAPI's own rule: no Content-Type, ``application/json`` or ``application/*+json``."""
    values = [v for k, v in scope["headers"] if k == b"content-type"]
    if not values:
        return True
    message = email.message.Message()
    message["content-type"] = values[0].decode("latin-1")
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def check(body: bytes) -> None:
    """Raise a 400 Problem for JSON text that holds invalid Unicode or a NUL."""
    try:
        strict_json.loads(body)
    except strict_json.InvalidJson as exc:
        if exc.unicode:
            raise Problem(400, f"the body is not valid UTF-8 JSON: {exc.reason}") from None


async def checked_receive(scope: Scope, receive: Receive) -> Receive:
    """Read the whole body, check it, and hand FastAPI a ``receive`` that replays it."""
    if scope["method"] not in _WITH_BODY or not _read_as_json(scope):
        return receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away before sending it all: let FastAPI see that.
            return _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if body:
        check(body)
    return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
