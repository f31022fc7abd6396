"""Upstream OpenID Provider metadata (OIDC Discovery 1.0 §4) turned into endpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ostiary.federation.errors import upstream_error
from ostiary.federation.http import Upstream
from ostiary.federation.providers import ProviderConfigError, check_url


@dataclass(frozen=True, slots=True)
class Endpoints:
    # The issuer the ID token must name, possibly a template ("{tenantid}" for Entra).
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    id_token_algs: tuple[str, ...] = ("RS256",)
    # RFC 9207 §3: the provider sends "iss" with its authorization responses.
    issuer_in_response: bool = False


def metadata_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def fetch_metadata(upstream: Upstream, issuer: str) -> dict[str, Any]:
    cached = upstream.metadata.get(issuer)
    if cached and time.monotonic() - cached[0] < upstream.metadata_ttl:
        return cached[1]
    document = await upstream.get_json(metadata_url(issuer))
    if not isinstance(document, dict):
        raise upstream_error(f"discovery document of {issuer} is not a JSON object")
    upstream.metadata[issuer] = (time.monotonic(), document)
    return document


def endpoints_from(document: dict[str, Any], expected_issuer: str) -> Endpoints:
    """Discovery §4.3: the issuer in the document is exactly the one configured."""
    if document.get("issuer") != expected_issuer:
        raise upstream_error(
            f"discovery issuer {document.get('issuer')!r} is not {expected_issuer!r}"
        )
    try:
        urls = {
            name: check_url(document[name], name)
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if isinstance(document.get(name), str)
        }
        userinfo = document.get("userinfo_endpoint")
        if isinstance(userinfo, str):
            urls["userinfo_endpoint"] = check_url(userinfo, "userinfo_endpoint")
    except ProviderConfigError as exc:
        raise upstream_error(f"discovery of {expected_issuer}: {exc}") from None
    for required in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if required not in urls:
            raise upstream_error(f"discovery of {expected_issuer}: no valid {required}")
    return Endpoints(
        issuer=expected_issuer,
        token_auth_methods=_strings(document, "token_endpoint_auth_methods_supported")
        or ("client_secret_basic",),
        id_token_algs=_strings(document, "id_token_signing_alg_values_supported") or ("RS256",),
        issuer_in_response=document.get("authorization_response_iss_parameter_supported") is True,
        **urls,
    )


def _strings(document: dict[str, Any], name: str) -> tuple[str, ...]:
    value = document.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))
