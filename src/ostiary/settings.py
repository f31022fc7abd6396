"""One settings model: ``OSTIARY_*`` environment variables and an optional TOML file.

Nested sections use a double underscore in the environment, e.g.
``OSTIARY_TOKENS__ACCESS_TOKEN_TTL=600``. The TOML file named by ``OSTIARY_CONFIG``
uses the same names as tables (``[tokens] access_token_ttl = 600``); environment
variables win over the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError


class SettingsError(Exception):
    """Raised at start-up when a setting is missing or invalid; the message names it."""


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    # A misspelt nested setting is an error, as a misspelt top-level one is.
    model_config = ConfigDict(extra="forbid")


class TokenSettings(_Section):
    access_token_ttl: int = Field(
        3600, ge=60, le=86400, description="Default access-token lifetime in seconds."
    )
    refresh_token_ttl: int = Field(
        30 * 86400, ge=300, description="Default refresh-token lifetime in seconds."
    )
    authorization_code_ttl: int = Field(
        60, ge=10, le=600, description="Authorization-code lifetime in seconds (RFC 6749 §4.1.2)."
    )
    access_token_alg: Literal["ES256", "RS256", "EdDSA"] = Field(
        "ES256", description="JWS algorithm for JWT access tokens (RFC 9068)."
    )
    default_audience: str | None = Field(
        None,
        description="`aud` of access tokens for clients without a registered audience; "
        "defaults to the issuer.",
    )


class KeySettings(_Section):
    publish_ahead: int = Field(
        300,
        ge=0,
        description="Seconds a rotated-in key is published in the JWKS before it signs.",
    )
    cache_ttl: int = Field(
        30, ge=1, description="Seconds a node keeps the signing keys in memory before reloading."
    )


class SessionSettings(_Section):
    ttl: int = Field(8 * 3600, ge=60, description="SSO session lifetime in seconds.")
    interaction_ttl: int = Field(
        900, ge=60, description="Seconds a pending login/consent interaction stays valid."
    )


class PasswordSettings(_Section):
    """Argon2id parameters; defaults are OWASP's minimum (m=19 MiB, t=2, p=1)."""

    min_length: int = Field(12, ge=8, le=128, description="Shortest password accepted.")
    memory_cost: int = Field(19456, ge=19456, description="Argon2id memory in KiB.")
    time_cost: int = Field(2, ge=2, description="Argon2id iterations.")
    parallelism: int = Field(1, ge=1, description="Argon2id lanes.")


class LockoutSettings(_Section):
    """Brute-force protection on the login form and the token endpoint."""

    account_threshold: int = Field(
        5, ge=1, description="Failed logins for one account before it is locked."
    )
    ip_threshold: int = Field(
        20, ge=1, description="Failed attempts from one IP address before it is locked."
    )
    window: int = Field(900, ge=60, description="Seconds after which a quiet counter starts over.")
    base_lock: int = Field(
        30, ge=1, description="First lock in seconds; it doubles with each further failure."
    )
    max_lock: int = Field(900, ge=1, description="Longest lock in seconds.")


class RateLimit(_Section):
    requests: int = Field(
        ..., ge=0, description="Requests one address may make per window; 0: no limit."
    )
    window: int = Field(60, ge=1, le=86400, description="Length of the counting window in seconds.")


# Per endpoint group: (requests, window). A group set only in part keeps the rest.
RATE_LIMIT_DEFAULTS = {
    "authorize": (600, 60),
    "login": (300, 60),
    "consent": (300, 60),
    "recovery": (30, 600),
    "federation": (300, 60),
    "token": (0, 60),
}


def _limit(group: str) -> Any:
    requests, window = RATE_LIMIT_DEFAULTS[group]
    return Field(
        default_factory=lambda: RateLimit(requests=requests, window=window),
        description=f"Requests per address per window on the {group} endpoints.",
    )


class RateLimitSettings(_Section):
    """Per-address request limits on the unauthenticated endpoints, shared by every node.

    The defaults leave a busy office behind one NAT address alone and stop a flood."""

    enabled: bool = Field(True, description="Apply the limits below (false: count nothing).")
    backend: Literal["database", "redis"] = Field(
        "database",
        description="Where the nodes add up their counts: the database (every deployment "
        "has one) or Redis (`pip install ostiary[redis]`).",
    )
    redis_url: str | None = Field(
        None, description="Redis URL (redis:// or rediss://), for `backend = redis`."
    )
    redis_prefix: str = Field(
        "ostiary:rl:", min_length=1, description="Prefix of every Redis key the limits write."
    )
    sync_interval: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description="Seconds between two exchanges of counts with the shared store; a node "
        "decides between them from the last total it read plus its own new requests.",
    )
    max_addresses: int = Field(
        100_000, ge=100, description="Counters one node keeps in memory (oldest dropped first)."
    )
    authorize: RateLimit = _limit("authorize")
    login: RateLimit = _limit("login")
    consent: RateLimit = _limit("consent")
    recovery: RateLimit = _limit("recovery")
    federation: RateLimit = _limit("federation")
    token: RateLimit = _limit("token")

    @model_validator(mode="before")
    @classmethod
    def _groups_set_in_part(cls, values: Any) -> Any:
        # OSTIARY_RATE_LIMITS__LOGIN__WINDOW=30 alone keeps the login group's default count.
        if isinstance(values, dict):
            for group, (requests, window) in RATE_LIMIT_DEFAULTS.items():
                given = values.get(group)
                if isinstance(given, dict):
                    values[group] = {"requests": requests, "window": window, **given}
        return values

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _redis_needs_url(self) -> RateLimitSettings:
        if self.enabled and self.backend == "redis" and not self.redis_url:
            raise ValueError("backend redis needs rate_limits.redis_url")
        return self


class AuditSettings(_Section):
    retention_days: int = Field(
        365, ge=1, description="Days audit events are kept before the purge deletes them."
    )


class SmtpSettings(_Section):
    host: str | None = Field(None, description="SMTP server; unset means no mail is sent.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    username: str | None = Field(None, description="SMTP login, if the server needs one.")
    password: SecretStr | None = Field(None, description="SMTP password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    use_tls: bool = Field(False, description="Connect with implicit TLS (port 465).")
    sender: str = Field("ostiary@localhost", description="From address of Ostiary's mail.")
    timeout: float = Field(10.0, gt=0, description="Seconds to wait for the SMTP server.")


class OidcSettings(_Section):
    id_token_ttl: int = Field(3600, ge=60, le=86400, description="ID-token lifetime in seconds.")
    id_token_scope_claims: bool = Field(
        True,
        description="Put the claims of the granted scopes (profile, email...) in the ID token "
        "too, as Keycloak does; false releases them only at the UserInfo endpoint.",
    )
    backchannel_logout_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to wait for a client's back-channel logout URI."
    )
    backchannel_logout_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per back-channel logout before it is recorded failed."
    )


class CacheSettings(_Section):
    client_ttl: float = Field(
        10.0,
        ge=0,
        description="Seconds a node may keep a client registration in memory for client "
        "authentication; 0 disables the cache. Changes reach every node at once (PostgreSQL "
        "LISTEN/NOTIFY, or a stamp file beside a SQLite database); this is only the backstop.",
    )
    resource_ttl: float = Field(
        10.0,
        ge=0,
        description="Seconds a node may keep a protected resource's registration (RFC 8707) "
        "in memory for the resource parameter at /authorize and /token; 0 disables the cache. "
        "A deleted resource is forgotten on every node at once, as a client is; this is only "
        "the backstop.",
    )


class HttpSettings(_Section):
    """How long a client may take to send a request (slow senders hold a connection)."""

    header_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds from a connection's start (or a request's first byte on a reused "
        "connection) to the end of the request headers; later, the connection is closed "
        "with 408 (RFC 9110 §15.5.9).",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds from the end of the headers to the end of the request body; "
        "later, 408 and the connection is closed.",
    )
    keep_alive_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds an idle kept-alive connection waits for the next request.",
    )
    max_header_size: int = Field(
        65536,
        ge=4096,
        le=1 << 20,
        description="Largest request line plus headers in bytes; more is refused with 431 "
        "(RFC 6585 §5) and the connection closed.",
    )


class MetricsSettings(_Section):
    """Prometheus metrics (docs/observability.md)."""

    enabled: bool = Field(
        True, description="Count requests and security events and serve them at /metrics."
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port, on its own listener, instead of on the main "
        "port (so it need not be public). With --workers, one listener in the serve process "
        "adds up every worker's figures.",
    )
    host: str = Field(
        "127.0.0.1", min_length=1, description="Address the separate metrics listener binds."
    )


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogSettings(_Section):
    """What ``ostiary serve`` writes on stderr (docs/observability.md)."""

    format: Literal["text", "json"] = Field(
        "text",
        description="`text` for people, `json` for one JSON object per line (log collectors); "
        "`OSTIARY_LOG_FORMAT` is a shorter name for this setting.",
    )
    level: LogLevel = Field(
        "info",
        description="Least severe level written (debug, info, warning, error, critical); "
        "`OSTIARY_LOG_LEVEL` is a shorter name for this setting.",
    )
    requests: bool = Field(
        True,
        description="One line per request (request id, route, status, latency, client and "
        "subject), logger `ostiary.request`.",
    )

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class TracingSettings(_Section):
    """OpenTelemetry traces over OTLP/HTTP (`pip install 'ostiary[otel]'`)."""

    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318 (spans go to "
        "/v1/traces under it); unset: no tracing.",
    )
    service_name: str = Field(
        "ostiary", min_length=1, description="`service.name` of the spans this server exports."
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value


class GcSettings(_Section):
    """Python's cyclic garbage collector in each server process (bench/README.md, tail
    latency)."""

    freeze: bool = Field(
        True,
        description="Once start-up is done, set everything made so far (modules, settings, "
        "tables, templates, keys) aside with gc.freeze(): a full collection then walks only "
        "what was made since, instead of pausing every request while it walks the whole heap.",
    )


class AdminConsoleSettings(_Section):
    """The admin console at /admin (docs/admin-console.md). ``OSTIARY_ADMIN_CONSOLE=false``
    turns it off; ``true`` or ``false`` alone stands for ``enabled``."""

    enabled: bool = Field(True, description="Serve the admin console at /admin.")
    idle_timeout: int = Field(
        900,
        ge=60,
        le=86_400,
        description="Seconds without a console request after which the console asks the "
        "admin to sign in again.",
    )
    max_age: int = Field(
        28_800,
        ge=300,
        le=604_800,
        description="Seconds after sign-in when a console session ends, however busy.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_switch(cls, value: Any) -> Any:
        if isinstance(value, bool) or value in (0, 1):
            return {"enabled": bool(value)}
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
            return {"enabled": value.strip().lower() in {"true", "1"}}
        return value


class ClientSecuritySettings(_Section):
    """Client authentication by signed assertion, pushed authorization requests,
    sender-constrained tokens (docs/client-security.md)."""

    par_lifetime: int = Field(
        60,
        ge=5,
        le=600,
        description="Seconds a pushed authorization request's request_uri may be used, once "
        "(RFC 9126 §2.2).",
    )
    assertion_max_lifetime: int = Field(
        300,
        ge=30,
        le=3600,
        description="Longest a client assertion (private_key_jwt, client_secret_jwt) may live "
        "from now to its exp; longer ones are refused (RFC 7523 §3).",
    )
    jwks_uri_ttl: float = Field(
        300,
        ge=0,
        le=86_400,
        description="Seconds a client's keys fetched from its jwks_uri are used before they "
        "are fetched again; an unknown kid fetches them at once (at most every 10 s).",
    )
    jwks_uri_timeout: float = Field(
        5, gt=0, le=60, description="Seconds to wait for a client's jwks_uri to answer."
    )
    dpop_proof_max_age: int = Field(
        60,
        ge=5,
        le=600,
        description="Seconds a DPoP proof's iat may lie in the past (RFC 9449 §11.1).",
    )
    dpop_nonce: bool = Field(
        False,
        description="Ask DPoP clients at the token endpoint for a server nonce in their "
        "proofs (RFC 9449 §8): proofs made in advance stop working.",
    )
    client_certificate_header: str | None = Field(
        None,
        description="Request header in which the TLS-terminating proxy passes the client's "
        "certificate (PEM, URL-encoded), believed only from OSTIARY_TRUSTED_PROXIES "
        "(RFC 8705 mutual TLS). Unset: no certificate-bound client authentication or tokens.",
    )

    @field_validator("client_certificate_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        # RFC 9110 §5.1: a field name is a token.
        if value is not None and not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", value):
            raise ValueError("must be an HTTP header name, e.g. X-Client-Cert")
        return value


class HstsSettings(_Section):
    """HTTP Strict Transport Security (RFC 6797): sent on every response when the issuer is
    https, so browsers that once reached it go on reaching it over https only."""

    enabled: bool = Field(
        True,
        description="Send Strict-Transport-Security when the issuer is https (false: leave "
        "it to the TLS proxy in front).",
    )
    max_age: int = Field(
        31_536_000,
        ge=0,
        description="Seconds a browser keeps to https for the issuer's host (RFC 6797 §6.1.1); "
        "0 makes it forget.",
    )
    include_subdomains: bool = Field(
        False,
        description="Add includeSubDomains (RFC 6797 §6.1.2): every subdomain of the issuer's "
        "host too, only when all of them serve https.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OSTIARY_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///ostiary.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db.",
    )
    database_pool_size: int = Field(
        20,
        ge=1,
        le=500,
        description="Database connections each worker keeps open; other work may open as "
        "many more under a burst. Token and introspection statements beyond the pool wait "
        "for a connection rather than open one. Workers times nodes times twice this must "
        "fit PostgreSQL's max_connections (or use PgBouncer 1.21+ with "
        "max_prepared_statements).",
    )
    issuer: str = Field(
        "http://127.0.0.1:8080",
        description="Issuer identifier: https, or http on a loopback host for development.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Root secret (>= 32 characters) from which the at-rest encryption key is "
        "derived. Required to serve.",
    )
    demo: bool = Field(False, description="Create a demo user and client on an empty database.")
    local_login: bool = Field(
        True,
        description="Allow local passwords. False hides the password form, refuses password "
        "sign-in and never stores a password: users sign in with upstream providers only.",
    )
    mfa: Literal["required", "optional", "off"] = Field(
        "optional",
        description="Multi-factor authentication for everyone: `required` (every user enrols "
        "a second factor at the next sign-in), `optional` (users may enrol; a user with a "
        "factor always uses it; roles, groups and clients may require it), or `off` (no "
        "second factor is asked or offered).",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks (CIDR) of reverse proxies in front "
        "of Ostiary. Only from these are X-Forwarded-For and X-Forwarded-Proto believed: the "
        "client address then comes from X-Forwarded-For (lockout, audit). Empty: the peer "
        "address is the client's.",
    )
    require_par: bool = Field(
        False,
        description="Every authorization request must first be pushed to /par (RFC 9126 "
        "§5); without it, only clients registered with require_pushed_authorization_requests "
        "must.",
    )
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    passwords: PasswordSettings = Field(default_factory=PasswordSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    hsts: HstsSettings = Field(default_factory=HstsSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    admin_console: AdminConsoleSettings = Field(default_factory=AdminConsoleSettings)
    client_security: ClientSecuritySettings = Field(default_factory=ClientSecuritySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_https(cls, value: str) -> str:
        parts = urlsplit(value)
        # RFC 8414 §2: https, no query or fragment. Loopback http is a development exception.
        if parts.scheme != "https" and not (
            parts.scheme == "http" and is_loopback_host(parts.hostname)
        ):
            raise ValueError("must be an https URL (http only on a loopback host)")
        if "?" in value or "#" in value or not parts.hostname:
            raise ValueError("must be a URL with a host and no query or fragment")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        networks = []
        for entry in (entry.strip() for entry in value.split(",")):
            if not entry:
                continue
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                # "*" is refused on purpose: it would let any client name its own address.
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return ",".join(networks)

    @model_validator(mode="after")
    def _certificate_header_needs_proxies(self) -> Settings:
        # The header is believed from a trusted proxy only: without one, never.
        if self.client_security.client_certificate_header and not self.trusted_proxies:
            raise ValueError(
                "OSTIARY_CLIENT_SECURITY__CLIENT_CERTIFICATE_HEADER needs OSTIARY_TRUSTED_PROXIES "
                "(the proxies whose certificate header is believed)"
            )
        return self

    @field_validator("secret_key")
    @classmethod
    def _secret_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _LogShorthand(settings_cls), _TomlSource(settings_cls))

    def require_secret_key(self) -> bytes:
        if self.secret_key is None:
            raise SettingsError(
                "OSTIARY_SECRET_KEY is not set: give a random value of at least 32 characters "
                "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self.secret_key.get_secret_value().encode()


class _LogShorthand(PydanticBaseSettingsSource):
    """``OSTIARY_LOG_FORMAT`` and ``OSTIARY_LOG_LEVEL``, the names operators type, for
    ``log.format`` and ``log.level`` (the nested ``OSTIARY_LOG__FORMAT`` wins over them)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        given = {
            name: os.environ[f"OSTIARY_LOG_{name.upper()}"]
            for name in ("format", "level")
            if f"OSTIARY_LOG_{name.upper()}" in os.environ
        }
        return {"log": given} if given else {}


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the file named by ``OSTIARY_CONFIG``, if set."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("OSTIARY_CONFIG")
        if not path:
            return {}
        try:
            return tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"OSTIARY_CONFIG ({path}): {exc}") from exc


# What pydantic puts before a validator's own message: the message alone is the answer.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _problem(error: Any) -> str:
    """One invalid value: the variable it came from and why, in our validator's words."""
    message = str(error["msg"])
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    if not error["loc"]:
        return message  # a rule over several settings names them in its message
    return "OSTIARY_" + "__".join(str(p) for p in error["loc"]).upper() + ": " + message


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one message naming each setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
    except SourceError as exc:
        # e.g. OSTIARY_TOKENS='not json': name the variable pydantic-settings could not parse.
        match = re.search(r'field "(\w+)"', str(exc))
        name = f"OSTIARY_{match.group(1).upper()}" if match else "OSTIARY_*"
        raise SettingsError(f"invalid settings: {name}: {exc}") from None
