"""ASGI middleware, outermost: a request id, one log line and the request metrics for
every HTTP request, including those answered before the router (web/token_routes.py).

It reads no body and builds nothing per request beyond the id and one wrapper of
``send``: the route template is a dictionary lookup for fixed paths, the metric series are
kept once made, and the log line is a string added to a batch written once per loop
iteration (request_log.py; bench/README.md measures the cost on the token endpoint).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.observability.context import RequestContext, current
from ostiary.observability.metrics import Metrics
from ostiary.observability.request_id import RequestIds, new_id
from ostiary.observability.request_log import WriteLine, log, request_log
from ostiary.observability.route_templates import RouteTemplates

# A request whose client went away before any response (nginx's convention).
CLIENT_GONE = 499
_HEADER = b"x-request-id"
_INFO = logging.INFO


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
        self.fixed_routes = routes.fixed
        self.ids = ids if ids.trusting else None
        self.count = metrics.request if metrics is not None else None
        # Decided when the app first runs, after ``serve`` has set logging up.
        self.write_line: WriteLine | None = request_log() if log_requests else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(new_id() if self.ids is None else self.ids.of(scope))
        token = current.set(context)
        header = (_HEADER, context.request_id.encode("ascii"))
        status = CLIENT_GONE

        # A plain function handing on send's awaitable: no coroutine of its own per message.
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if status == CLIENT_GONE:
                status = 500  # what the server's error handler answers
            raise
        finally:
            current.reset(token)
            seconds = time.perf_counter() - started
            path = scope["path"]
            route = self.fixed_routes.get(path) or self.routes(path)
            if self.count is not None:
                self.count(route, scope["method"], status, seconds)
            if self.write_line is not None and log.isEnabledFor(_INFO):
                self.write_line(scope, context, route, status, seconds)
