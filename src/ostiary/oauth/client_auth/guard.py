"""Client authentication with brute-force protection and an audit trail."""

from __future__ import annotations

from ostiary.accounts import throttle
from ostiary.domain.clients import Client
from ostiary.errors import OAuthError
from ostiary.oauth.client_auth.base import presented_credentials
from ostiary.oauth.client_auth.registry import authenticate_client
from ostiary.oauth.deps import ClientAuthDeps
from ostiary.resource.client_cert import ClientCertificate


async def authenticate(
    services: ClientAuthDeps,
    params: dict[str, str],
    authorization: str | None,
    ip: str | None,
    certificate: ClientCertificate | None = None,
) -> Client:
    """authenticate_client; wrong credentials are counted per client id and address and per
    address, and refused with 429 while either of those is locked (RFC 6749 §2.3.1: protect
    against brute force).

    The right credentials always pass, lock or no lock: client secrets are 256 random bits
    (RFC 6749 §10.10: guessing must be infeasible), so a lock only brakes floods of wrong
    ones. Refusing the right secret would let anyone who knows a client id lock the client
    out. Success reads nothing of the throttle: the hot path stays as it was.
    """
    try:
        presented = presented_credentials(params, authorization, certificate)
    except OAuthError as exc:
        if exc.error == "invalid_client":
            await services.throttle.failed([throttle.ip_key(ip, "token")])
        raise
    try:
        # The credentials are read from the request once (they were, just above).
        return await authenticate_client(services, presented)
    except OAuthError as exc:
        if exc.error != "invalid_client":
            raise
        keys = [throttle.client_key(presented.client_id, ip), throttle.ip_key(ip, "token")]
        # Only keys this process has seen failing are looked up (no query for a first
        # failure), and attempts while locked are not counted (no writes under a flood).
        wait = await services.throttle.wait_seconds_if_suspect(keys)
        if wait:
            raise OAuthError(
                "invalid_client",
                f"too many failed attempts; retry after {wait} seconds",
                status=429,
                headers={"Retry-After": str(wait)},
            ) from None
        await services.throttle.failed(keys)
        await services.audit.record(
            "client_auth.failure",
            actor="anonymous",
            client_id=presented.client_id[:64],
            ip=ip,
            outcome="failure",
            reason=exc.detail or exc.description,
        )
        raise
