"""Log formats for ``ostiary serve``: text for people, one JSON object per line for
collectors, the same for uvicorn's own loggers and for every worker process.

A record may carry ``fields`` (a dict, passed as ``extra={"fields": ...}``): the request
and security logs put their structured values there. JSON writes them as members of the
line's object; text appends them as ``key=value``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from ostiary.observability.line_writer import LineHandler
from ostiary.settings import LogSettings

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


_second: list[Any] = [None, ""]


def timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds; the seconds part formatted once per second."""
    whole = int(created)
    if _second[0] != whole:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    # The milliseconds as logging.LogRecord.msecs has them.
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


def _timestamp(record: logging.LogRecord) -> str:
    return timestamp(record.created)


def _lighter_records() -> None:
    # Neither format shows the thread or process names: not looking them up makes every
    # record cheaper (one per request on the token endpoint).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


_LEVELS = {level: logging.getLevelName(level).lower() for level in (10, 20, 30, 40, 50)}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self) -> None:
        super().__init__()
        _lighter_records()

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": _LEVELS.get(record.levelno) or record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        return orjson.dumps(document, default=str, option=_JSON_OPTIONS).decode()


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        _lighter_records()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            pairs = " ".join(f"{k}={text_value(v)}" for k, v in fields.items() if v is not None)
            if pairs:
                head, newline, rest = line.partition("\n")
                line = f"{head} {pairs}{newline}{rest}"
        return line


def text_value(value: Any) -> str:
    """A field's value in a text line: quoted (JSON) when it is empty or holds a space, a
    quote, ``=`` or a character that is not printable, so no value can end a line early
    or pass for another field (a client id is whatever a client sent)."""
    if isinstance(value, str):
        if value.isprintable() and " " not in value and '"' not in value and "=" not in value:
            return value or '""'
        return orjson.dumps(value).decode()
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return str(value)


FORMATTERS = {
    "json": f"{__name__}.JsonFormatter",
    "text": f"{__name__}.TextFormatter",
}


def log_config(settings: LogSettings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; uvicorn applies it in every worker."""
    level = settings.level.upper()
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": FORMATTERS[settings.format]}},
        "handlers": {
            # Batched writes; the request lines join them (line_writer.py, request_log.py).
            "stderr": {
                "class": f"{LineHandler.__module__}.{LineHandler.__qualname__}",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {**propagate, "level": level},
            "uvicorn.error": {**propagate, "level": level},
            # Off in any case (serve passes access_log=False): its lines hold query strings,
            # and those carry authorization codes. ostiary.request replaces it.
            "uvicorn.access": {**propagate, "level": "WARNING"},
            # Alembic announces its plugins at info whenever a migration context is made.
            "alembic": {**propagate, "level": "WARNING"},
        },
    }


def announce(settings: LogSettings, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """One of ``ostiary serve``'s own lines before uvicorn starts (a key generated, the
    address it listens on) in the format its log has: with ``json``, a line of the log
    (logger ``ostiary.serve``, ``log.level`` applies, ``fields`` as members), so that every
    line a collector reads is JSON; with ``text``, the message as the CLI says it."""
    if settings.format != "json":
        prefix = "WARNING: " if level >= logging.WARNING else ""
        print(f"{prefix}{message}", file=sys.stderr, flush=True)
        return
    if level < logging.getLevelName(settings.level.upper()):
        return
    record = logging.LogRecord("ostiary.serve", level, __file__, 0, message, None, None)
    record.fields = fields
    sys.stderr.write(JsonFormatter().format(record) + "\n")
    sys.stderr.flush()
