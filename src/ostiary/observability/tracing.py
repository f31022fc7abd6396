"""OpenTelemetry traces over OTLP/HTTP, when ``tracing.otlp_endpoint`` is set: a span per
request (the ASGI instrumentation) with the database statements under it (the SQLAlchemy
instrumentation). Needs the ``otel`` extra.

Span attributes never hold a query string (codes, states and tokens travel there): the
instrumentation is shown the request without it, and the span is named after the route
template. Request and response headers are never recorded, whatever the
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` variables say.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary.observability.route_templates import RouteTemplates
from ostiary.settings import SettingsError, TracingSettings

INSTALL = "pip install 'ostiary[otel]'"
NEEDED = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.asgi",
    "opentelemetry.instrumentation.sqlalchemy.engine",
)
_QUERY = "ostiary.query_string"


def check_installed(settings: TracingSettings) -> None:
    """Raise SettingsError, in one line, when tracing is asked for and cannot be done."""
    if settings.otlp_endpoint is None:
        return
    for module in NEEDED:
        try:
            importlib.import_module(module)
        except ImportError:
            raise SettingsError(
                f"tracing.otlp_endpoint is set but {module} cannot be imported: {INSTALL}"
            ) from None


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL under a collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


class Tracing:
    """The tracer provider of one app, its ASGI middleware and its engine hook."""

    def __init__(self, settings: TracingSettings, routes: RouteTemplates) -> None:
        check_installed(settings)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        assert settings.otlp_endpoint is not None
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name})
        )
        exporter = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.routes = routes

    def middleware(self, app: ASGIApp) -> ASGIApp:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
            route = self.routes(scope.get("path", ""))
            method = scope.get("method", "")
            return f"{method} {route}".strip(), {"http.route": route}

        traced = OpenTelemetryMiddleware(
            _RestoreQuery(app),
            tracer_provider=self.provider,
            default_span_details=span_details,
            exclude_spans=["receive", "send"],
            http_capture_headers_server_request=[],
            http_capture_headers_server_response=[],
        )
        return _HideQuery(traced)

    def instrument(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import NoOpMeter

        usage = NoOpMeter("ostiary").create_up_down_counter("db.client.connections.usage")
        EngineTracer(self.provider.get_tracer("ostiary.storage"), engine.sync_engine, usage)

    def shutdown(self) -> None:
        """Export what is still queued, then stop."""
        self.provider.shutdown()


class _HideQuery:
    """The instrumentation sees the request without its query string..."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": b"", _QUERY: scope["query_string"]}
        await self.app(scope, receive, send)


class _RestoreQuery:
    """...and the application behind it gets it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hidden = scope.pop(_QUERY, None)
        if hidden is not None:
            scope = {**scope, "query_string": hidden}
        await self.app(scope, receive, send)
