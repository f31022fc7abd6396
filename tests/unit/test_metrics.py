"""Metrics from audit events and requests: bounded labels, the counters the issue names."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from ostiary.accounts.throttle import account_key, client_key, ip_key, lockout_fields
from ostiary.domain.audit import AuditEvent
from ostiary.observability.metrics import LATENCY_BUCKETS, Metrics
from ostiary.observability.plain_metrics import PlainCounter, PlainHistogram
from ostiary.observability.route_templates import RouteTemplates
from ostiary.settings import load_settings
from ostiary.web.app import create_app

SECRET = "unit-test-secret-key-" + "x" * 32


def metrics() -> Metrics:
    return Metrics(lambda: None)


def value(m: Metrics, name: str, **labels: str) -> float:
    assert m.registry is not None
    return m.registry.get_sample_value(name, labels) or 0.0


def event(type: str, **fields: Any) -> AuditEvent:
    return AuditEvent(type=type, actor="test", **fields)


@pytest.mark.parametrize(
    ("raised", "sample", "labels"),
    [
        (
            event("token.issued", details={"grant_type": "authorization_code"}),
            "ostiary_tokens_issued_total",
            {"grant_type": "authorization_code"},
        ),
        (
            event("token.issued", details={"grant_type": "client_credentials"}),
            "ostiary_tokens_issued_total",
            {"grant_type": "client_credentials"},
        ),
        (event("token.refreshed"), "ostiary_tokens_issued_total", {"grant_type": "refresh_token"}),
        (
            event("login.success", details={"method": "pwd"}),
            "ostiary_logins_total",
            {"method": "password"},
        ),
        (
            event("login.success", details={"method": "federation", "provider": "github"}),
            "ostiary_logins_total",
            {"method": "federation"},
        ),
        (
            event("login.failure", outcome="failure", reason="bad_password"),
            "ostiary_login_failures_total",
            {"method": "password", "reason": "bad_password"},
        ),
        (
            event("login.failure", outcome="failure", reason="locked"),
            "ostiary_login_failures_total",
            {"method": "password", "reason": "locked"},
        ),
        (
            event("login.failure", outcome="failure", reason="federation"),
            "ostiary_login_failures_total",
            {"method": "federation", "reason": "federation"},
        ),
        # A reason this table does not know is "other", never the text itself.
        (
            event("login.failure", outcome="failure", reason="some new reason"),
            "ostiary_login_failures_total",
            {"method": "password", "reason": "other"},
        ),
        (
            event("lockout.started", outcome="failure", reason="account"),
            "ostiary_lockouts_total",
            {"scope": "account"},
        ),
        (event("client_auth.failure", outcome="failure"), "ostiary_client_auth_failures_total", {}),
        (
            event("refresh_token.reuse_detected", outcome="failure"),
            "ostiary_refresh_token_reuse_total",
            {},
        ),
        (
            event("consent.granted"),
            "ostiary_audit_events_total",
            {"type": "consent.granted", "outcome": "success"},
        ),
        (
            event("Not A Type!"),
            "ostiary_audit_events_total",
            {"type": "other", "outcome": "success"},
        ),
    ],
)
def test_audit_events_move_their_counter(
    raised: AuditEvent, sample: str, labels: dict[str, str]
) -> None:
    m = metrics()
    assert value(m, sample, **labels) == 0
    m.observe(raised)
    m.observe(raised)
    assert value(m, sample, **labels) == 2


def test_requests_are_counted_by_route_method_and_status() -> None:
    m = metrics()
    m.request("/token", "POST", 200, 0.003)
    m.request("/token", "POST", 200, 0.2)
    m.request("/token", "POST", 400, 0.001)
    # A method nobody defined is one label, whatever a client sends.
    m.request("other", "BREW", 405, 0.001)
    count = "ostiary_http_request_duration_seconds_count"
    bucket = "ostiary_http_request_duration_seconds_bucket"
    assert value(m, count, route="/token", method="POST", status="200") == 2
    assert value(m, count, route="/token", method="POST", status="400") == 1
    assert value(m, count, route="other", method="other", status="405") == 1
    assert value(m, bucket, route="/token", method="POST", status="200", le="0.005") == 1


def test_token_responses_are_not_counted_twice() -> None:
    m = metrics()
    m.observe(event("token.issued", details={"grant_type": "client_credentials"}))
    assert value(m, "ostiary_audit_events_total", type="token.issued", outcome="success") == 0


def test_feed_lag_counts_only_polls_resuming_from_a_cursor() -> None:
    m = metrics()
    m.feed_page(0, 1)  # catching up from the start: history, not lateness
    m.feed_page(42, None)  # nothing new
    assert value(m, "ostiary_revocation_feed_lag_seconds_count") == 0
    m.feed_page(42, 1)
    assert value(m, "ostiary_revocation_feed_lag_seconds_count") == 1


@pytest.mark.parametrize(
    ("key", "reason", "ip", "client_id"),
    [
        (account_key("Alice"), "account", None, None),
        (ip_key("203.0.113.7"), "address", "203.0.113.7", None),
        (ip_key("203.0.113.7", "token"), "address", "203.0.113.7", None),
        (client_key("app-1", "203.0.113.7"), "client", "203.0.113.7", "app-1"),
    ],
)
def test_lockout_event_names_what_is_locked(
    key: str, reason: str, ip: str | None, client_id: str | None
) -> None:
    fields = lockout_fields(key, 60)
    assert fields["reason"] == reason
    assert fields.get("ip") == ip
    assert fields.get("client_id") == client_id
    assert fields["details"]["seconds"] == 60


@pytest.fixture(scope="module")
def templates() -> RouteTemplates:
    settings = load_settings(secret_key=SECRET, database_url="sqlite+aiosqlite:///:memory:")
    return create_app(settings).state.observability.routes


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/token", "/token"),
        ("/jwks.json", "/jwks.json"),
        ("/.well-known/openid-configuration", "/.well-known/openid-configuration"),
        ("/authorize", "/authorize"),
        ("/health/ready", "/health/ready"),
        ("/metrics", "/metrics"),
        ("/interaction/abc123/login", "/interaction/{interaction_id}/login"),
        ("/interaction/abc123", "/interaction/{interaction_id}"),
        ("/federation/github/callback", "/federation/{name}/callback"),
        ("/admin/api/v1/users", "/admin/api/v1/users"),
        ("/admin/api/v1/users/u-123", "/admin/api/v1/users/{user_id}"),
        ("/scim/v2/Users/u-123", "/scim/v2/{kind}/{ident}"),
        ("/admin/api/v1/no/such/thing", "/admin/api/v1/{path}"),
        ("/static/style.css", "/static/{path}"),
        ("/wp-login.php", "other"),
        ("/token/extra", "other"),
    ],
)
def test_route_template_never_the_raw_path(
    templates: RouteTemplates, path: str, template: str
) -> None:
    assert templates(path) == template


def test_plain_metrics_expose_what_prometheus_client_would() -> None:
    # One process keeps plain numbers; a scrape must read exactly as prometheus_client's
    # (without the *_created series, which Metrics turns off).
    disable_created_metrics()
    plain, reference = CollectorRegistry(), CollectorRegistry()
    kinds = [(PlainHistogram, PlainCounter, plain), (Histogram, Counter, reference)]
    for histogram_of, counter_of, registry in kinds:
        latency = histogram_of(
            "t_seconds", "Latency.", ["route"], registry=registry, buckets=LATENCY_BUCKETS
        )
        for seconds in (0.0, 0.001, 0.0011, 0.0025, 0.3, 10.0, 11.0):
            latency.labels("/token").observe(seconds)
        latency.labels("/jwks.json").observe(0.002)
        bare = histogram_of("u_seconds", "Unlabelled.", registry=registry, buckets=(1, 2))
        bare.observe(1.5)
        counter = counter_of("t_events", "Events.", ["kind"], registry=registry)
        counter.labels("a").inc()
        counter.labels("a").inc()
        counter.labels("b").inc()
        counter_of("t_failures", "Failures.", registry=registry).inc()
        counter_of("t_never", "Never counted.", registry=registry)
    assert generate_latest(plain).decode() == generate_latest(reference).decode()


def test_plain_metrics_refuse_a_wrong_number_of_labels() -> None:
    counter = PlainCounter("t_events", "Events.", ["kind"])
    with pytest.raises(ValueError, match="expected labels"):
        counter.labels("a", "b")
