"""The filter that keeps one warning per aborted upstream response, and only for those."""

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
