"""ASGI middleware, outermost: a request id, one log line and the request metrics for
every HTTP request, including those answered before the router (web/token_routes.py).

It reads no body and builds nothing per request beyond the id and one wrapper of
``send``: the route template is a dictionary lookup for fixed paths, and the metric label
children are kept once made (bench/README.md measures the cost on the token endpoint).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.observability.context import RequestContext, current
from ostiary.observability.metrics import Metrics
from ostiary.observability.request_id import RequestIds
from ostiary.observability.route_templates import RouteTemplates

log = logging.getLogger("ostiary.request")
# A request whose client went away before any response (nginx's convention).
CLIENT_GONE = 499
_HEADER = b"x-request-id"


class ObserveRequests:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: RouteTemplates,
        ids: RequestIds,
        metrics: Metrics | None,
        log_requests: bool,
    ) -> None:
        self.app = app
        self.routes = routes
        self.ids = ids
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(self.ids.of(scope))
        token = current.set(context)
        header = (_HEADER, context.request_id.encode("ascii"))
        status = CLIENT_GONE

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if status == CLIENT_GONE:
                status = 500  # what the server's error handler answers
            raise
        finally:
            current.reset(token)
            seconds = time.perf_counter() - started
            route = self.routes(scope["path"])
            if self.metrics is not None:
                self.metrics.request(route, scope["method"], status, seconds)
            if self.log_requests and log.isEnabledFor(logging.INFO):
                _log_request(scope, context, route, status, seconds)


def _log_request(
    scope: Scope, context: RequestContext, route: str, status: int, seconds: float
) -> None:
    # The route template, never the path or its query: codes, tokens and ids stay out.
    method = scope["method"]
    milliseconds = round(seconds * 1000, 2)
    client = scope.get("client")
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
    # Made here rather than by log.info: no search of the stack for the caller, once per
    # request on the token endpoint.
    log.handle(record)
