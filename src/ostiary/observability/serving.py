"""What ``ostiary serve`` sets up around uvicorn: logging in every worker, the directory
the workers' metrics are added up in, and the separate metrics listener."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from typing import Any

from ostiary.observability.listener import MetricsListener, listen_to_directory
from ostiary.observability.logging_setup import log_config
from ostiary.observability.metrics import MULTIPROC_ENV
from ostiary.observability.tracing import check_installed
from ostiary.settings import Settings, SettingsError


def check(settings: Settings) -> None:
    """Before anything is written: what the observability settings need is there."""
    check_installed(settings.tracing)


def prepare(settings: Settings, workers: int) -> dict[str, Any]:
    """uvicorn's logging options; what is made here is removed when the process exits.

    With several workers and metrics on, a private directory is made for this run and named
    in ``PROMETHEUS_MULTIPROC_DIR`` before the workers start (they inherit it), and removed
    at exit, after they have stopped; a listener on ``metrics.port`` then runs here, in the
    parent, over that directory. With one worker the app starts its own listener.
    """
    check_installed(settings.tracing)
    metrics = settings.metrics
    if metrics.enabled and workers > 1:
        directory = tempfile.mkdtemp(prefix="ostiary-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROC_ENV] = directory
        if metrics.port is not None:
            listener = _listen(metrics.host, metrics.port, directory)
            atexit.register(listener.stop)
    elif metrics.enabled and metrics.port is not None:
        _check_free(metrics.host, metrics.port)
    return {"log_config": log_config(settings.log), "log_level": settings.log.level}


def _listen(host: str, port: int, directory: str) -> MetricsListener:
    try:
        return listen_to_directory(host, port, directory)
    except OSError as exc:
        raise _unusable(host, port, exc) from None


def _check_free(host: str, port: int) -> None:
    """Before the worker starts: its listener's port is free (one line, not a traceback)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise _unusable(host, port, exc) from None


def _unusable(host: str, port: int, exc: OSError) -> SettingsError:
    return SettingsError(
        f"OSTIARY_METRICS__PORT: cannot listen on {host}:{port}: {exc.strerror or exc}"
    )
