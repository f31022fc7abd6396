"""The one OAuth error type (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3; RFC 7009 §2.2.1).

``description`` is sent to the client; ``detail`` is for the log only and never leaves
the server. Each is rendered in one place: the §5.2 JSON response by
``web.responses.oauth_error_parts``, the authorization-response redirect of an
``AuthorizationError`` by ``oauth.authorize.error_response``.
"""

from __future__ import annotations


class OAuthError(Exception):
    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description or ''} {detail or ''}".strip())
        self.error = error
        self.description = description
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def invalid_request(description: str, **kw: object) -> OAuthError:
    return OAuthError("invalid_request", description, **kw)  # type: ignore[arg-type]


def invalid_grant(description: str, **kw: object) -> OAuthError:
    return OAuthError("invalid_grant", description, **kw)  # type: ignore[arg-type]


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


def invalid_client(
    description: str, *, basic: bool = False, detail: str | None = None
) -> OAuthError:
    # RFC 6749 §5.2: a failed Authorization-header attempt MUST get 401 and a challenge
    # in the scheme used. Other failures also get 401, as node-oidc-provider does.
    headers = {"WWW-Authenticate": 'Basic realm="ostiary", charset="UTF-8"'} if basic else {}
    return OAuthError("invalid_client", description, status=401, detail=detail, headers=headers)


class AuthorizationError(OAuthError):
    """An error to send back to the client's redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(
        self,
        error: str,
        description: str | None,
        *,
        redirect_uri: str,
        state: str | None,
        response_mode: str = "query",
    ) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode


class UnsafeRedirectError(Exception):
    """The client or redirect URI is unknown: show a page, never redirect (RFC 6749 §4.1.2.1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsafeRequestObjectError(UnsafeRedirectError):
    """A request object (RFC 9101) not shown to be its client's: nothing in it, its redirect
    URI included, can be trusted. A page at the authorization endpoint, a §5.2 error with
    ``error`` at the PAR endpoint (RFC 9126 §2.3)."""

    def __init__(self, description: str, error: str = "invalid_request_object") -> None:
        super().__init__(
            f"The application's signed request cannot be used ({error}): {description}."
        )
        self.error = error
        self.description = description
