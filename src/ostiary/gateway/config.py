"""Gateway settings: command-line flags over a TOML file, validated at start-up with
errors that name the setting."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ostiary.gateway.rules import RuleError, RuleSet, parse_rule
from ostiary.resource.client_cert import CertificateHeader

CLIENT_SECRET_ENV = "OSTIARY_GATEWAY_CLIENT_SECRET"
COOKIE_SECRET_ENV = "OSTIARY_GATEWAY_COOKIE_SECRET"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ConfigError(ValueError):
    """Settings the gateway cannot start with."""


def _http_url(value: str, name: str, *, https_unless_loopback: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not have a query or fragment")
    if https_unless_loopback and parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError(f"{name} must use https (plain http only on loopback)")
    return value


class GatewayConfig(BaseModel):
    """Every gateway setting; docs/gateway.md describes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8090, ge=1, le=65535, description="port to listen on")
    issuer: str = Field(description="the Ostiary issuer URL (exactly as in its tokens)")
    upstream: str = Field(description="the app behind the gateway, e.g. http://127.0.0.1:9000")
    mode: Literal["api", "browser"] = Field("api", description="bearer tokens or browser login")
    rules: list[str] = Field(min_length=1, description='"METHOD /path/* scope=S|role=R|public"')
    audience: str | None = Field(None, description="the aud tokens must carry (default: issuer)")
    forward_authorization: bool = Field(False, description="pass the Authorization header on")
    trust_forwarded: bool = Field(False, description="keep X-Forwarded-* from a proxy in front")
    preserve_host: bool = Field(False, description="send the client's Host to the upstream")
    fold_case: bool = Field(False, description="match paths case-insensitively")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=0, description="request body limit (413)")
    connect_timeout: float = Field(5.0, gt=0, description="seconds to connect upstream (504)")
    upstream_timeout: float = Field(60.0, gt=0, description="seconds between upstream bytes")
    revocation_feed: bool = Field(True, description="poll the issuer's revocation feed")
    feed_interval: float = Field(5.0, gt=0, description="seconds between feed polls")
    feed_stale_after: float | None = Field(None, gt=0, description="refuse all when stale")
    realm: str = Field("ostiary-gateway", description="realm of WWW-Authenticate challenges")
    dpop: bool = Field(True, description="API mode: accept DPoP-bound tokens (RFC 9449)")
    dpop_nonces: bool = Field(
        False, description="API mode: require a gateway-provided nonce in DPoP proofs"
    )
    client_certificate_header: str | None = Field(
        None,
        description="API mode: the header in which the TLS proxy passes the client "
        "certificate, for certificate-bound tokens (RFC 8705)",
    )
    client_certificate_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of the proxies that header is believed from",
    )
    # Browser mode
    client_id: str | None = Field(None, description="the gateway's client at the issuer")
    client_secret: str | None = Field(None, repr=False, description="its secret (env/stdin)")
    cookie_secrets: list[str] = Field(
        default_factory=list,
        repr=False,
        description="32+ bytes each, env/file, one per line: the first seals, all open",
    )
    public_url: str | None = Field(None, description="the gateway's URL as browsers see it")
    scope: str = Field("openid profile email", description="scopes asked for at login")
    session_ttl: int = Field(8 * 3600, gt=0, description="absolute session lifetime, seconds")
    refresh_before: int = Field(30, ge=0, description="refresh when the token expires sooner")
    post_logout_redirect_uri: str | None = Field(None, description="where the OP sends users")

    @model_validator(mode="before")
    @classmethod
    def _one_cookie_secret(cls, values: Any) -> Any:
        """``cookie_secret`` (one secret, or a list) goes in front of ``cookie_secrets``."""
        if isinstance(values, dict) and "cookie_secret" in values:
            values = dict(values)
            given = values.pop("cookie_secret")
            first = [given] if isinstance(given, str) else list(given or [])
            rest = list(values.get("cookie_secrets") or [])
            values["cookie_secrets"] = [*first, *(s for s in rest if s not in first)]
        return values

    @model_validator(mode="after")
    def _certificate_header(self) -> GatewayConfig:
        if self.client_certificate_header is not None:
            try:
                CertificateHeader(self.client_certificate_header, self.client_certificate_proxies)
            except ValueError as exc:
                raise ValueError(f"client_certificate_header: {exc}") from None
        elif self.client_certificate_proxies:
            raise ValueError("client_certificate_proxies without client_certificate_header")
        return self

    @property
    def certificate_header(self) -> CertificateHeader | None:
        """Where the client certificate comes from, in API mode (None: not taken)."""
        name = self.client_certificate_header
        if name is None or self.mode != "api":
            return None
        return CertificateHeader(name, self.client_certificate_proxies)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return _http_url(value, "issuer", https_unless_loopback=True)

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: str) -> str:
        return _http_url(value, "upstream", https_unless_loopback=False).rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _http_url(value, "public_url", https_unless_loopback=True).rstrip("/")

    @property
    def rule_set(self) -> RuleSet:
        return RuleSet((parse_rule(text) for text in self.rules), fold_case=self.fold_case)

    @property
    def cookie_secret(self) -> str | None:
        """The secret that seals new cookies."""
        return self.cookie_secrets[0] if self.cookie_secrets else None

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def load_config(overrides: dict[str, Any], path: Path | None = None) -> GatewayConfig:
    """Settings from ``path`` (TOML), overridden by ``overrides`` (flags that were given);
    rules from both are combined; secrets may come from the environment."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for name in ("client_secret", "cookie_secret", "cookie_secrets"):
            if name in values:
                where = name.removesuffix("s")
                raise ConfigError(f"{path}: put {name} in {where}_file or the environment")
        if "client_secret_file" in values:
            values["client_secret"] = _read_secret(Path(values.pop("client_secret_file")))
        if "cookie_secret_file" in values:
            values["cookie_secret"] = read_secrets(Path(values.pop("cookie_secret_file")))
    given = {key: value for key, value in overrides.items() if value is not None}
    rules = [*values.pop("rules", []), *given.pop("rules", [])]
    values.update(given, rules=rules)
    values.setdefault("client_secret", os.environ.get(CLIENT_SECRET_ENV) or None)
    values.setdefault("cookie_secret", _lines(os.environ.get(COOKIE_SECRET_ENV, "")))
    try:
        config = GatewayConfig(**values)
        config.rule_set  # noqa: B018 - parse every rule now, not on the first request
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(problems) from None
    except RuleError as exc:
        raise ConfigError(str(exc)) from None
    _check_mode(config)
    return config


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"client_secret_file: {exc}") from None


def read_secrets(path: Path) -> list[str]:
    """Cookie secrets from a file, one per line, newest first (blank and # lines skipped)."""
    try:
        return _lines(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cookie_secret_file: {exc}") from None


def _lines(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _check_mode(config: GatewayConfig) -> None:
    if config.mode != "browser":
        return
    missing = [
        name
        for name, value in (
            ("client_id", config.client_id),
            ("client_secret", config.client_secret),
            ("cookie_secret", config.cookie_secrets),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"browser mode needs {', '.join(missing)}")
    for number, secret in enumerate(config.cookie_secrets, start=1):
        if len(secret.encode()) < 32:
            which = f" (secret {number} of {len(config.cookie_secrets)})" * (number > 1)
            raise ConfigError(f"cookie_secret must be at least 32 bytes{which}")
    if "openid" not in config.scope.split():
        raise ConfigError("scope must include openid in browser mode")
