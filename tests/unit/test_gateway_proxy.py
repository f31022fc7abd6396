"""The filter that keeps one warning per aborted upstream response, and only for those."""

import asyncio
import contextvars
import logging

import pytest

from ostiary.gateway import proxy
from ostiary.gateway.proxy import AbortedResponseFilter


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, None)


@pytest.mark.parametrize("aborted", [False, True])
def test_only_a_deliberate_abort_hides_the_servers_unfinished_response_error(
    aborted: bool,
) -> None:
    context = contextvars.copy_context()
    if aborted:
        context.run(proxy._aborted.set, True)
    keep = context.run(AbortedResponseFilter().filter, record(proxy._UNFINISHED))
    assert keep is not aborted
    # Anything else the server logs in that request is never hidden.
    assert context.run(AbortedResponseFilter().filter, record("Exception in ASGI application\n"))


@pytest.mark.parametrize("query", [b"a b", b"x=1\r\nInjected: yes", b"x=\x00", b"x=\x7f"])
def test_rfc9112_3_2_a_target_with_whitespace_or_controls_never_goes_upstream(
    query: bytes,
) -> None:
    """The target goes out verbatim, so one that could split the request line is a 400
    before any connection is made (the upstream here would refuse: nothing listens)."""
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        raise AssertionError("the body is never read")

    async def go() -> None:
        upstream = proxy.Upstream(
            "http://127.0.0.1:9", max_body_bytes=1024, connect_timeout=1, read_timeout=1
        )
        try:
            await upstream.forward("GET", "/x", query, [], receive, send, [], has_body=False)
        finally:
            await upstream.aclose()

    asyncio.run(go())
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
