"""Authorization endpoint (RFC 6749 §3.1, §4.1.1): an explicit list of small checks.

The first two checks (client, redirect URI) decide whether it is safe to redirect at
all; until both pass, errors are shown as a page (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
After that, errors go back to the client's redirect URI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ostiary.crypto.tokens import AUTHORIZATION_CODE_PREFIX, digest, new_secret
from ostiary.errors import AuthorizationError, OAuthError, UnsafeRedirectError
from ostiary.oauth import pkce
from ostiary.oauth.redirect_uris import find_match
from ostiary.oauth.scopes import check_allowed, format_scope, parse_scope
from ostiary.services import Services
from ostiary.storage.repos.clients import Client


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, as kept while the user logs in and consents."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    nonce: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthorizationRequest:
        return cls(**{**data, "scopes": tuple(data["scopes"])})


async def validate(
    services: Services, params: dict[str, str]
) -> tuple[Client, AuthorizationRequest]:
    client = await _client(services, params)
    redirect_uri = _redirect_uri(client, params)
    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizationError:
        return AuthorizationError(error, description, redirect_uri=redirect_uri, state=state)

    for check in CHECKS:
        check(client, params, fail)
    scopes = check_allowed_for_redirect(client, params, fail)
    return client, AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given="redirect_uri" in params,
        scopes=tuple(sorted(scopes)),
        state=state,
        code_challenge=params.get("code_challenge"),
        nonce=params.get("nonce"),
    )


async def _client(services: Services, params: dict[str, str]) -> Client:
    client_id = params.get("client_id")
    if client_id is None:
        raise UnsafeRedirectError("The request has no client_id.")
    client = await services.store.clients.get(client_id)
    if client is None:
        raise UnsafeRedirectError("The application (client_id) is not registered here.")
    return client


def _redirect_uri(client: Client, params: dict[str, str]) -> str:
    requested = params.get("redirect_uri")
    if requested is None:
        # RFC 6749 §3.1.2.3: may be omitted only when exactly one URI is registered.
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise UnsafeRedirectError("The request has no redirect_uri.")
    # RFC 9700 §4.1.3: exact string matching (RFC 8252 §7.3 loopback port aside).
    if find_match(requested, client.redirect_uris) is None:
        raise UnsafeRedirectError("The redirect_uri is not registered for this application.")
    return requested


Fail = Callable[[str, str], AuthorizationError]


def _no_request_objects(client: Client, params: dict[str, str], fail: Fail) -> None:
    if "request" in params:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")


def _response_type(client: Client, params: dict[str, str], fail: Fail) -> None:
    response_type = params.get("response_type")
    if response_type is None:
        raise fail("invalid_request", "response_type is required")
    # Only the code flow: no implicit grant (RFC 9700 §2.1.2).
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")


def _response_mode(client: Client, params: dict[str, str], fail: Fail) -> None:
    mode = params.get("response_mode")
    if mode is not None and mode != "query":
        raise fail("invalid_request", f"response_mode '{mode}' is not supported")


def _grant_allowed(client: Client, params: dict[str, str], fail: Fail) -> None:
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "this client may not use the authorization code flow")


def _pkce(client: Client, params: dict[str, str], fail: Fail) -> None:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        # RFC 9700 §2.1.1: public clients MUST use PKCE.
        if client.public:
            raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
        return
    # RFC 7636 §4.3 defaults the method to plain; plain is refused (RFC 9700 §2.1.1).
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not pkce.is_valid_challenge(challenge):
        raise fail("invalid_request", "code_challenge is malformed")


CHECKS = (_no_request_objects, _response_type, _response_mode, _grant_allowed, _pkce)


def check_allowed_for_redirect(
    client: Client, params: dict[str, str], fail: Fail
) -> frozenset[str]:
    try:
        return check_allowed(parse_scope(params.get("scope")), client.scopes)
    except OAuthError as exc:
        raise fail(exc.error, exc.description or "invalid scope") from None


def response_uri(redirect_uri: str, values: dict[str, str | None]) -> str:
    """Add response parameters to the redirect URI, keeping its query (RFC 6749 §3.1.2)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in values.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_uri(services: Services, error: AuthorizationError) -> str:
    return response_uri(
        error.redirect_uri,
        {
            "error": error.error,
            "error_description": error.description,
            "state": error.state,
            "iss": services.settings.issuer,
        },
    )


async def issue_code(
    services: Services,
    request: AuthorizationRequest,
    *,
    user_id: str,
    session_hash: bytes | None,
    auth_time: int,
) -> str:
    """Create a code and return the redirect URI that carries it (RFC 6749 §4.1.2)."""
    code = new_secret(AUTHORIZATION_CODE_PREFIX)
    await services.store.codes.add(
        code_hash=digest(code),
        client_id=request.client_id,
        user_id=user_id,
        session_hash=session_hash,
        redirect_uri=request.redirect_uri,
        redirect_uri_given=request.redirect_uri_given,
        scopes=list(request.scopes),
        code_challenge=request.code_challenge,
        auth_time=auth_time,
        ttl=services.settings.tokens.authorization_code_ttl,
    )
    # RFC 9207 §2: iss in the response lets the client detect mix-up attacks.
    return response_uri(
        request.redirect_uri,
        {"code": code, "state": request.state, "iss": services.settings.issuer},
    )


def scope_text(request: AuthorizationRequest) -> str:
    return format_scope(request.scopes)
