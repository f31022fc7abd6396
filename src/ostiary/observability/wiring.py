"""One app's observability: built with the app, started and stopped by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from ostiary.domain.revocation import RevocationEvent
from ostiary.events import AuditObserver
from ostiary.keys.manager import NoSigningKeyError
from ostiary.observability import context, request_log, security_log, stalls
from ostiary.observability.listener import MetricsListener, listen
from ostiary.observability.metrics import Metrics, multiprocess_dir
from ostiary.observability.middleware import ObserveRequests
from ostiary.observability.readiness import Readiness
from ostiary.observability.request_id import RequestIds
from ostiary.observability.route_templates import RouteTemplates
from ostiary.observability.tracing import Tracing
from ostiary.services import Services
from ostiary.settings import Settings

log = logging.getLogger("ostiary.metrics")
# Multiprocess mode: how often a worker writes its pool and key figures for the others.
NODE_GAUGE_INTERVAL = 5.0


def metrics_on_main_port(settings: Settings) -> bool:
    return settings.metrics.enabled and settings.metrics.port is None


class Observability:
    def __init__(
        self, settings: Settings, routes: Iterable[BaseRoute], fixed_paths: Iterable[str]
    ) -> None:
        self.settings = settings
        self.routes = RouteTemplates(routes, fixed_paths)
        self.readiness = Readiness()
        self.metrics = Metrics(self._node, multiprocess_dir()) if settings.metrics.enabled else None
        self.tracing = (
            Tracing(settings.tracing, self.routes) if settings.tracing.otlp_endpoint else None
        )
        self._services: Services | None = None
        self._observers: list[AuditObserver] = []
        self._listener: MetricsListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gc_pauses: stalls.GcPauses | None = None

    def middleware(self) -> list[Middleware]:
        """Outermost first: the trace around everything, then the request's id, log line
        and metrics (so an outage's 503 and a rate limit's 429 are counted too)."""
        stack = []
        if self.tracing is not None:
            stack.append(Middleware(self.tracing.middleware))
        stack.append(
            Middleware(
                ObserveRequests,
                routes=self.routes,
                ids=RequestIds(self.settings.trusted_proxies),
                metrics=self.metrics,
                log_requests=self.settings.log.requests,
            )
        )
        return stack

    async def start(self, services: Services) -> None:
        self._services = services
        self._observers = [context.note_event, security_log.log_event]
        if self.metrics is not None:
            self._observers.append(self.metrics.observe)
        services.audit.observers.extend(self._observers)
        if self.tracing is not None:
            self.tracing.instrument(services.engine)
        metrics = self.metrics
        if metrics is None:
            return
        port = self.settings.metrics.port
        if metrics.registry is not None and port is not None:
            self._listener = listen(self.settings.metrics.host, port, metrics.registry)
        if metrics.node_gauges is not None:
            self._tasks.append(asyncio.create_task(self._write_node_gauges(metrics)))
        pauses = self._gc_pauses = stalls.GcPauses(metrics.gc_pause)
        pauses.install()
        lag = stalls.sample_lag(metrics.loop_lag.observe, then=pauses.drain)
        self._tasks.append(asyncio.create_task(lag))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._gc_pauses is not None:
            self._gc_pauses.remove()
            self._gc_pauses.drain()
        if self._listener is not None:
            self._listener.stop()
        if self.metrics is not None:
            self.metrics.forget_this_process()
        if self._services is not None:
            observers = self._services.audit.observers
            observers[:] = [o for o in observers if o not in self._observers]
        if self.tracing is not None:
            self.tracing.shutdown()
        request_log.flush()

    def feed_page(self, after: int, events: Sequence[RevocationEvent]) -> None:
        """A revocation-feed page served after cursor ``after``."""
        if self.metrics is not None and events:
            self.metrics.feed_page(after, events[0].not_before)

    async def _write_node_gauges(self, metrics: Metrics) -> None:
        while True:
            try:
                metrics.refresh_node_gauges()
            except Exception:
                log.exception("writing this worker's pool and key figures failed")
            await asyncio.sleep(NODE_GAUGE_INTERVAL)

    def _node(self) -> tuple[AsyncEngine, dict[str, int]] | None:
        """The engine and each algorithm's signing key activation time, from memory."""
        services = self._services
        if services is None:
            return None
        activations = {}
        for alg in sorted(services.signing_algs()):
            try:
                activations[alg] = services.keys.signing_key(alg).activates_at
            except NoSigningKeyError:
                continue
        return services.engine, activations
