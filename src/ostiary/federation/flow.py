"""The upstream authorization request and its callback (RFC 6749 §4.1, PKCE RFC 7636).

``state`` and ``nonce`` are random, stored as a short-lived row keyed by the state's
digest and bound to the browser cookie that started the flow (RFC 9700 §4.7.1).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote_plus, urlencode

from ostiary import clock
from ostiary.domain.federation import PendingRequest, Provider, redirect_uri
from ostiary.federation import sealing
from ostiary.federation.connectors import connector_for
from ostiary.federation.connectors.base import Callback, Identity, TokenResponse
from ostiary.federation.deps import FederationDeps
from ostiary.federation.discovery import Endpoints
from ostiary.federation.errors import FederationError, upstream_error
from ostiary.federation.http import Upstream

STATE_TTL = 600
EXPIRED = "This sign-in attempt has expired or was started in another browser. Start again."


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


async def start(
    services: FederationDeps,
    upstream: Upstream,
    provider: Provider,
    *,
    browser_id: str,
    interaction_id: str | None = None,
    link_user_id: str | None = None,
) -> str:
    """Remember the request, and return the upstream authorization URL to redirect to."""
    connector = connector_for(provider.preset)
    with _named(provider):
        endpoints = await connector.endpoints(provider, upstream)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    await services.store.federation.add_pending(
        PendingRequest(
            state_hash=digest(state),
            browser_hash=digest(browser_id),
            provider=provider.name,
            nonce=nonce,
            code_verifier_sealed=sealing.flow_secrets(services.settings).seal(verifier.encode()),
            interaction_id=interaction_id,
            link_user_id=link_user_id,
            expires_at=clock.now() + STATE_TTL,
        )
    )
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri(services.settings.issuer, provider.name),
        "scope": " ".join(provider.scopes),
        "state": state,
        # RFC 7636 §4.3 / RFC 9700 §2.1.1: PKCE with S256, always.
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **connector.authorize_params(provider),
    }
    if connector.openid:
        params["nonce"] = nonce
    separator = "&" if "?" in endpoints.authorization_endpoint else "?"
    return endpoints.authorization_endpoint + separator + urlencode(params)


async def take(
    services: FederationDeps, provider_name: str, state: str | None, browser_id: str | None
) -> PendingRequest:
    """The pending request this callback answers, used up; refused if not this browser's."""
    if not state or len(state) > 200 or not browser_id:
        raise FederationError(EXPIRED)
    pending = await services.store.federation.take_pending(digest(state))
    if pending is None or pending.provider != provider_name:
        raise FederationError(EXPIRED)
    if not secrets.compare_digest(pending.browser_hash, digest(browser_id)):
        raise FederationError(EXPIRED)
    return pending


async def finish(
    services: FederationDeps,
    upstream: Upstream,
    provider: Provider,
    pending: PendingRequest,
    *,
    code: str,
    issuer_param: str | None,
) -> tuple[Identity, TokenResponse]:
    with _named(provider):
        connector = connector_for(provider.preset)
        endpoints = await connector.endpoints(provider, upstream)
        # RFC 9207 §2.4: a callback naming another issuer is a mix-up attempt.
        if (
            issuer_param is not None
            and "{" not in endpoints.issuer
            and issuer_param != endpoints.issuer
        ):
            raise upstream_error(f"callback iss {issuer_param!r} is not the provider's")
        if issuer_param is None and endpoints.issuer_in_response:
            raise upstream_error("the provider promised iss in its response but sent none")
        verifier = sealing.flow_secrets(services.settings).unseal(pending.code_verifier_sealed)
        tokens = await exchange_code(
            upstream,
            provider,
            endpoints,
            code=code,
            redirect=redirect_uri(services.settings.issuer, provider.name),
            verifier=verifier.decode(),
        )
        callback = Callback(provider, endpoints, tokens, pending.nonce, upstream)
        return await connector.identity(callback), tokens


@contextmanager
def _named(provider: Provider) -> Iterator[None]:
    """Name the provider on the page when a check deep down did not know its name."""
    try:
        yield
    except FederationError as exc:
        if exc.status == 502 and exc.message == upstream_error(exc.detail).message:
            raise upstream_error(exc.detail, provider.display_name) from None
        raise


def auth_method(provider: Provider, endpoints: Endpoints) -> str:
    """The configured method, else basic when offered (RFC 6749 §2.3.1 default), else post."""
    chosen = provider.options.get("token_endpoint_auth_method")
    if isinstance(chosen, str):
        return chosen
    if "client_secret_basic" in endpoints.token_auth_methods:
        return "client_secret_basic"
    return "client_secret_post"


async def exchange_code(
    upstream: Upstream,
    provider: Provider,
    endpoints: Endpoints,
    *,
    code: str,
    redirect: str,
    verifier: str,
) -> TokenResponse:
    """RFC 6749 §4.1.3 token request; §5.1 / §5.2 response."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": verifier,
    }
    auth = None
    secret = provider.client_secret or ""
    if auth_method(provider, endpoints) == "client_secret_basic":
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
        auth = (quote_plus(provider.client_id), quote_plus(secret))
    else:
        form.update(client_id=provider.client_id, client_secret=secret)
    status, body = await upstream.post_form(endpoints.token_endpoint, form, auth=auth)
    name = provider.display_name
    if not isinstance(body, dict):
        raise upstream_error(f"token endpoint answered HTTP {status} without JSON", name)
    if status != 200 or "error" in body:
        error = body.get("error")
        raise upstream_error(f"token endpoint error {error!r} (HTTP {status})", name)
    access_token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(access_token, str) or not isinstance(token_type, str):
        raise upstream_error("token response lacks access_token or token_type", name)
    # RFC 6749 §7.1: we can only use a bearer token.
    if token_type.lower() != "bearer":
        raise upstream_error(f"token_type {token_type!r} is not Bearer", name)
    expires_in = body.get("expires_in")
    return TokenResponse(
        access_token=access_token,
        token_type=token_type,
        id_token=body.get("id_token") if isinstance(body.get("id_token"), str) else None,
        refresh_token=body.get("refresh_token")
        if isinstance(body.get("refresh_token"), str)
        else None,
        expires_in=expires_in if isinstance(expires_in, int) else None,
    )
