"""The separate metrics listener (``metrics.port``): /metrics on its own address, so the
main port need not expose it.

One process: the app starts it in a thread, over its own registry. With ``--workers``,
the ``ostiary serve`` process starts it before the workers, over the directory they all
write to (a worker cannot: the port is one, the workers are many and come and go).
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from ostiary.observability.metrics import DirectoryCollector


class MetricsListener:
    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def listen(host: str, port: int, registry: CollectorRegistry) -> MetricsListener:
    """Serve ``registry`` on host:port in a daemon thread; OSError if the port is taken."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsListener(server, thread)


def listen_to_directory(host: str, port: int, directory: str) -> MetricsListener:
    registry = CollectorRegistry()
    registry.register(DirectoryCollector(directory))
    return listen(host, port, registry)
