"""Prometheus metrics: requests, security events and the state of one node.

One ``Metrics`` per app. Alone (one process), it keeps its figures as plain numbers that
its own registry reads when scraped (plain_metrics.py: no lock per increment).
Under ``ostiary serve --workers N`` each worker writes them to files in the directory named
by ``PROMETHEUS_MULTIPROC_DIR`` (``serve_support`` makes one per run) and a scrape adds up
every worker's files (prometheus_client's multiprocess mode). Label values are fixed sets:
route templates, grant types, methods, reasons; never a raw path or a user's input.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.audit import AuditEvent
from ostiary.observability.plain_metrics import PlainCounter, PlainHistogram

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FEED_LAG_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
# A stall of the event loop or a collection: from a tenth of a millisecond (a young
# generation's collection) to a second (a process that cannot keep up).
STALL_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LOGIN_METHODS = {"pwd": "password", "federation": "federation"}
FAILURE_REASONS = frozenset(
    {"locked", "unknown_user", "bad_password", "disabled", "local_login_disabled", "federation"}
)
LOCKOUT_SCOPES = frozenset({"account", "address", "client"})
_EVENT_TYPE = re.compile(r"[a-z_]{1,32}\.[a-z_]{1,32}")

# Events this module counts by name (ostiary.events raises them).
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
TOKEN_ISSUED = "token.issued"
TOKEN_REFRESHED = "token.refreshed"
LOCKOUT = "lockout.started"
CLIENT_AUTH_FAILURE = "client_auth.failure"
REFRESH_TOKEN_REUSE = "refresh_token.reuse_detected"
# Raised with every token response: counted by ostiary_tokens_issued_total only.
FREQUENT = frozenset({TOKEN_ISSUED, TOKEN_REFRESHED})

NodeState = Callable[[], tuple[AsyncEngine, dict[str, int]] | None]


def multiprocess_dir() -> str | None:
    """The directory the workers of this ``serve`` share, when there is one."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    def __init__(self, node: NodeState, directory: str | None = None) -> None:
        """``node``: this node's engine and the activation time of each algorithm's signing
        key, read at scrape time (None before start-up). ``directory``: multiprocess mode."""
        self.directory = directory
        # The *_created series double every counter and say nothing a scrape needs.
        disable_created_metrics()
        registry = None if directory else CollectorRegistry()
        self.registry = registry
        # One process: plain numbers read at scrape time (plain_metrics.py); several: the
        # values in the workers' shared files, prometheus_client's multiprocess mode.
        counter: Any = PlainCounter if registry is not None else Counter
        histogram: Any = PlainHistogram if registry is not None else Histogram
        # One histogram: its _count is the requests by route, method and status, its buckets
        # their latency (one observation per request, the cheapest way to have both).
        self.requests = histogram(
            "ostiary_http_request_duration_seconds",
            "HTTP requests answered, by route template, method and status code: count and "
            "time from arrival to the end of the response.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens_issued = counter(
            "ostiary_tokens_issued",
            "Token responses, by grant type.",
            ["grant_type"],
            registry=registry,
        )
        self.logins = counter(
            "ostiary_logins", "Successful sign-ins, by method.", ["method"], registry=registry
        )
        self.login_failures = counter(
            "ostiary_login_failures",
            "Refused sign-ins, by method and reason.",
            ["method", "reason"],
            registry=registry,
        )
        self.lockouts = counter(
            "ostiary_lockouts",
            "Locks set after repeated failures, by what is locked (account, address, client).",
            ["scope"],
            registry=registry,
        )
        self.client_auth_failures = counter(
            "ostiary_client_auth_failures",
            "Failed client authentications at the token, revocation and introspection endpoints.",
            registry=registry,
        )
        self.refresh_token_reuse = counter(
            "ostiary_refresh_token_reuse",
            "Rotated-out refresh tokens presented again; each revoked its token family "
            "(RFC 9700 §4.14.2).",
            registry=registry,
        )
        self.audit_events = counter(
            "ostiary_audit_events",
            "Audit events raised, by type and outcome (token issuance: see "
            "ostiary_tokens_issued_total).",
            ["type", "outcome"],
            registry=registry,
        )
        self.feed_lag = histogram(
            "ostiary_revocation_feed_lag_seconds",
            "For each revocation-feed poll that resumes from a cursor and gets events: the age "
            "of the oldest event the poller had not seen yet, i.e. how late that resource "
            "server learns of a revocation.",
            buckets=FEED_LAG_BUCKETS,
            registry=registry,
        )
        self.loop_lag = histogram(
            "ostiary_event_loop_lag_seconds",
            "How late the event loop woke a task that asked to wake every 0.1 s: time in which "
            "no request could run (a blocking call, a long callback, a garbage collection).",
            buckets=STALL_BUCKETS,
            registry=registry,
        )
        self.gc_pauses = histogram(
            "ostiary_gc_pause_seconds",
            "Collections of Python's cyclic garbage collector, by generation (0, 1, 2 = full): "
            "each pauses every request of the process while it runs.",
            ["generation"],
            buckets=STALL_BUCKETS,
            registry=registry,
        )
        self._gc_children = tuple(self.gc_pauses.labels(str(g)) for g in range(3))
        self._node = node
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._handlers: dict[str, Callable[[AuditEvent], None]] = {
            TOKEN_ISSUED: self._token_issued,
            TOKEN_REFRESHED: self._token_refreshed,
            LOGIN_SUCCESS: self._login_success,
            LOGIN_FAILURE: self._login_failure,
            LOCKOUT: self._lockout,
            CLIENT_AUTH_FAILURE: lambda _event: self.client_auth_failures.inc(),
            REFRESH_TOKEN_REUSE: lambda _event: self.refresh_token_reuse.inc(),
        }
        self._children: dict[tuple[Any, ...], Any] = {}
        if registry is not None:
            registry.register(NodeCollector(node))
            ProcessCollector(registry=registry)
            self.node_gauges: NodeGauges | None = None
        else:
            self.node_gauges = NodeGauges()

    # -- requests --------------------------------------------------------------------

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the request middleware)."""
        child = self._request_children.get((route, method, status))
        if child is None:
            label = method if method in METHODS else "other"
            child = self.requests.labels(route, label, str(status))
            self._request_children[(route, method, status)] = child
        child.observe(seconds)

    # -- audit events ----------------------------------------------------------------

    def observe(self, event: AuditEvent) -> None:
        """Audit observer (``events.AuditLog.observers``)."""
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event)
        if event.type not in FREQUENT:
            kind = event.type if _EVENT_TYPE.fullmatch(event.type) else "other"
            self._child(self.audit_events, kind, event.outcome[:16]).inc()

    def gc_pause(self, generation: int, seconds: float) -> None:
        self._gc_children[generation].observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _token_issued(self, event: AuditEvent) -> None:
        grant = event.details.get("grant_type")
        label = grant if isinstance(grant, str) and len(grant) <= 64 else "other"
        self._child(self.tokens_issued, label).inc()

    def _token_refreshed(self, event: AuditEvent) -> None:
        self._child(self.tokens_issued, "refresh_token").inc()

    def _login_success(self, event: AuditEvent) -> None:
        self._child(self.logins, _login_method(event)).inc()

    def _login_failure(self, event: AuditEvent) -> None:
        reason = event.reason if event.reason in FAILURE_REASONS else "other"
        self._child(self.login_failures, _login_method(event), reason).inc()

    def _lockout(self, event: AuditEvent) -> None:
        scope = event.reason if event.reason in LOCKOUT_SCOPES else "other"
        self._child(self.lockouts, scope).inc()

    # -- the revocation feed ---------------------------------------------------------

    def feed_page(self, after: int, oldest_not_before: int | None) -> None:
        """A feed page served: its oldest event's age, for polls resuming from a cursor (a
        poller reading from 0 is catching up on history, not late)."""
        if after > 0 and oldest_not_before is not None:
            self.feed_lag.observe(max(0, clock.now() - oldest_not_before))

    # -- exposition ------------------------------------------------------------------

    def refresh_node_gauges(self) -> None:
        """Multiprocess mode: write this worker's node state to its files."""
        if self.node_gauges is not None:
            self.node_gauges.write(self._node())

    def render(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        assert self.directory is not None
        self.refresh_node_gauges()
        return render_directory(self.directory)

    def forget_this_process(self) -> None:
        """Multiprocess mode, at shutdown: this worker's live gauges stop counting."""
        if self.directory:
            mark_process_dead(os.getpid(), self.directory)


def _login_method(event: AuditEvent) -> str:
    method = event.details.get("method")
    if isinstance(method, str):
        return LOGIN_METHODS.get(method, "other")
    # A federation failure names its provider, a password failure never does.
    return "federation" if event.reason == "federation" else "password"


# -- node state: the database pool and the signing keys -----------------------------------

POOL_IN_USE = ("ostiary_db_pool_connections_in_use", "Database connections checked out now.")
POOL_OPEN = ("ostiary_db_pool_connections_open", "Database connections open (in use or idle).")
POOL_SIZE = ("ostiary_db_pool_size", "Connections the database pool keeps (database_pool_size).")
KEY_AGE = (
    "ostiary_signing_key_age_seconds",
    "Seconds since the signing key in use for each algorithm started signing.",
)


def pool_figures(engine: AsyncEngine) -> dict[str, float]:
    """The pool's figures, read at scrape time (nothing for a pool without them)."""
    pool: Any = engine.pool
    try:
        in_use, idle, size = pool.checkedout(), pool.checkedin(), pool.size()
    except AttributeError:
        return {}
    return {POOL_IN_USE[0]: in_use, POOL_OPEN[0]: in_use + idle, POOL_SIZE[0]: size}


def key_ages(activations: dict[str, int]) -> dict[str, float]:
    now = clock.now()
    return {alg: max(0, now - at) for alg, at in activations.items()}


class NodeCollector(Collector):
    """One process: the node's state read when scraped."""

    def __init__(self, node: NodeState) -> None:
        self._node = node

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._node()
        if state is None:
            return
        engine, activations = state
        figures = pool_figures(engine)
        for name, documentation in (POOL_IN_USE, POOL_OPEN, POOL_SIZE):
            if name in figures:
                yield GaugeMetricFamily(name, documentation, value=figures[name])
        ages = GaugeMetricFamily(*KEY_AGE, labels=["alg"])
        for alg, age in sorted(key_ages(activations).items()):
            ages.add_metric([alg], age)
        yield ages


class NodeGauges:
    """Multiprocess mode: the node's state as gauges in this worker's files, written every
    few seconds and before each scrape this worker answers. Pools add up over the live
    workers; a key's age is the youngest any worker reports (one that has not reloaded the
    key ring since a rotation still reports the old key)."""

    def __init__(self) -> None:
        self.pool = {
            name: Gauge(name, documentation, registry=None, multiprocess_mode="livesum")
            for name, documentation in (POOL_IN_USE, POOL_OPEN, POOL_SIZE)
        }
        self.key_age = Gauge(*KEY_AGE, ["alg"], registry=None, multiprocess_mode="livemin")

    def write(self, state: tuple[AsyncEngine, dict[str, int]] | None) -> None:
        if state is None:
            return
        engine, activations = state
        for name, value in pool_figures(engine).items():
            self.pool[name].set(value)
        for alg, age in key_ages(activations).items():
            self.key_age.labels(alg).set(age)


# -- multiprocess exposition ------------------------------------------------------------

_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of workers that are gone (killed, or replaced by uvicorn)
    without saying so: their pool would otherwise count for ever. Counters stay: their
    totals must never go down."""
    pids = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(path)
        if match:
            pids.add(int(match.group(1)))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, directory)
        except PermissionError:
            pass  # alive, under another user


def render_directory(directory: str) -> bytes:
    """Every worker's figures, added up (the serve process's listener calls this too)."""
    forget_dead_processes(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


class DirectoryCollector(Collector):
    """A registry's view of a multiprocess directory, for a listener in another process."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, path=directory)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        forget_dead_processes(self._directory)
        yield from self._files.collect()
