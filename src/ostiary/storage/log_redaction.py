"""Database exceptions reach the logs only as ``errors.describe`` writes them.

``hide_parameters`` keeps statement parameters out of SQLAlchemy's messages, but the
driver's own message still quotes values: a unique violation's DETAIL names the duplicate
key, a data error the rejected input. Any code may log an exception (``log.exception``,
``%s`` of an exception, uvicorn's "Exception in ASGI application"), so the redaction sits
where every log record is made: the log record factory. A record whose exception, or one
of whose arguments, is or wraps a database exception keeps its stack (file, line,
function) and loses every exception message.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from ostiary.storage.errors import describe, is_database_error

_MARK = "_ostiary_redacts_database_errors"


def _printed_chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exceptions a traceback prints, outermost first, each with the line that links
    it to the one printed before it."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, "\nThe above exception was the direct cause of:\n\n"))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, "\nDuring handling of the above exception, another:\n\n"))
            current = current.__context__
        else:
            chain.append((current, ""))
            current = None
    return chain


def _carries_database_error(exc: BaseException) -> bool:
    return any(is_database_error(e) for e, _ in _printed_chain(exc))


def _safe_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, each exception's message replaced: by
    ``describe`` for database exceptions, withheld for the others of the chain."""
    lines: list[str] = []
    for error, joiner in reversed(_printed_chain(exc)):
        lines.append(joiner)
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(error.__traceback__))
        message = describe(error) if is_database_error(error) else "(message withheld)"
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}: {message}\n")
    return "".join(lines).rstrip("\n")


def redact(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place if it carries a database exception."""
    if isinstance(record.msg, BaseException) and _carries_database_error(record.msg):
        record.msg = describe(record.msg)
    args = record.args
    if isinstance(args, tuple) and any(
        isinstance(a, BaseException) and _carries_database_error(a) for a in args
    ):
        record.args = tuple(
            describe(a) if isinstance(a, BaseException) and _carries_database_error(a) else a
            for a in args
        )
    exc_info = record.exc_info
    if exc_info and exc_info[1] is not None and _carries_database_error(exc_info[1]):
        record.exc_text = _safe_traceback(exc_info[1])
        # The formatter would print the original exception; exc_text takes its place.
        record.exc_info = None


def install() -> None:
    """Wrap the process's log record factory once (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        if record.exc_info or record.args or isinstance(record.msg, BaseException):
            redact(record)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
