"""Log formats for ``ostiary serve``: text for people, one JSON object per line for
collectors, the same for uvicorn's own loggers and for every worker process.

A record may carry ``fields`` (a dict, passed as ``extra={"fields": ...}``): the request
and security logs put their structured values there. JSON writes them as members of the
line's object; text appends them as ``key=value``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from ostiary.settings import LogSettings

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


_second: list[Any] = [None, ""]


def _timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC with milliseconds; the seconds part formatted once per second."""
    whole = int(record.created)
    if _second[0] != whole:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int(record.msecs):03d}Z"


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
            pairs = " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
            if pairs:
                head, newline, rest = line.partition("\n")
                line = f"{head} {pairs}{newline}{rest}"
        return line


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else orjson.dumps(value).decode()
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
            "stderr": {
                "class": "logging.StreamHandler",
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
