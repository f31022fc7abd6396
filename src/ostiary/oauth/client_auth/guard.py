"""Client authentication with brute-force protection and an audit trail."""

from __future__ import annotations

from ostiary.accounts import throttle
from ostiary.errors import OAuthError
from ostiary.oauth.client_auth.base import presented_credentials
from ostiary.oauth.client_auth.registry import authenticate_client
from ostiary.services import Services
from ostiary.storage.repos.clients import Client


async def authenticate(
    services: Services, params: dict[str, str], authorization: str | None, ip: str | None
) -> Client:
    """authenticate_client, refused while the client id or address is locked out."""
    try:
        presented = presented_credentials(params, authorization)
    except OAuthError as exc:
        if exc.error == "invalid_client":
            await services.throttle.failed([throttle.ip_key(ip, "token")])
        raise
    keys = [throttle.client_key(presented.client_id), throttle.ip_key(ip, "token")]
    wait = await services.throttle.wait_seconds_if_suspect(keys)
    if wait:
        raise OAuthError(
            "invalid_client",
            f"too many failed attempts; retry after {wait} seconds",
            status=429,
            headers={"Retry-After": str(wait)},
        )
    try:
        return await authenticate_client(services.store.clients, params, authorization)
    except OAuthError as exc:
        if exc.error == "invalid_client":
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
