"""Upstream provider configuration: validation of what an operator may configure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ostiary.domain.federation import Provider
from ostiary.settings import is_loopback_host

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
PROVISIONING = ("allow", "existing", "deny")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class ProviderConfigError(ValueError):
    """A provider setting is invalid; the message names it."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ProviderConfigError(
            "name: 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def check_url(value: str, what: str = "issuer") -> str:
    """https, or http on a loopback host (development and tests); no query or fragment."""
    parts = urlsplit(value)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    ):
        raise ProviderConfigError(f"{what}: must be an https URL (http only on a loopback host)")
    if not parts.hostname or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ProviderConfigError(f"{what}: must be a URL with a host and no query or fragment")
    if parts.username or parts.password:
        raise ProviderConfigError(f"{what}: must not contain credentials")
    return value


def check_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    for scope in scopes:
        # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope):
            raise ProviderConfigError(f"scope: {scope!r} is not a valid scope token")
    return tuple(dict.fromkeys(scopes))


def check_provider(provider: Provider) -> Provider:
    """Validate everything the connector does not know better; raises ProviderConfigError."""
    check_name(provider.name)
    check_url(provider.issuer)
    check_scopes(provider.scopes)
    if not provider.client_id or len(provider.client_id) > 255:
        raise ProviderConfigError("client_id: 1 to 255 characters")
    if not provider.display_name or len(provider.display_name) > 200:
        raise ProviderConfigError("display_name: 1 to 200 characters")
    if provider.provisioning not in PROVISIONING:
        raise ProviderConfigError(f"provisioning: one of {', '.join(PROVISIONING)}")
    method = provider.options.get("token_endpoint_auth_method")
    if method is not None and method not in TOKEN_AUTH_METHODS:
        raise ProviderConfigError(
            f"options.token_endpoint_auth_method: one of {', '.join(TOKEN_AUTH_METHODS)}"
        )
    return provider
