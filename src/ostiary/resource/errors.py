"""Bearer-token errors and their challenges (RFC 6750 §3)."""

from __future__ import annotations


def _quoted(value: str) -> str:
    # RFC 6750 §3: auth-param values are quoted-strings; keep them printable and unbroken.
    cleaned = "".join(ch for ch in value if 0x20 <= ord(ch) < 0x7F and ch not in '"\\')
    return f'"{cleaned}"'


class ResourceError(Exception):
    """A refusal to serve a protected resource; knows its status and challenge."""

    status = 401
    error: str | None = None

    def __init__(self, description: str = "") -> None:
        super().__init__(description)
        self.description = description

    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.error:
            params["error"] = self.error
        if self.description:
            params["error_description"] = self.description
        return params

    def challenge(self, realm: str) -> str:
        """The WWW-Authenticate value (RFC 6750 §3)."""
        parts = [f"realm={_quoted(realm)}"]
        parts += [f"{name}={_quoted(value)}" for name, value in self.params().items()]
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        return self.params()


class MissingToken(ResourceError):
    """No credentials: RFC 6750 §3.1 says the challenge SHOULD NOT carry an error code."""

    def __init__(self) -> None:
        super().__init__("")


class InvalidRequest(ResourceError):
    """A malformed Authorization header (RFC 6750 §3.1 invalid_request)."""

    status = 400
    error = "invalid_request"


class InvalidToken(ResourceError):
    """Expired, revoked, malformed or otherwise untrusted (RFC 6750 §3.1 invalid_token)."""

    error = "invalid_token"


class InsufficientScope(ResourceError):
    """A valid token without the scopes (or roles) this resource needs (RFC 6750 §3.1)."""

    status = 403
    error = "insufficient_scope"

    def __init__(self, scopes: tuple[str, ...] | list[str], description: str = "") -> None:
        super().__init__(description or "the token lacks the required scope")
        self.scopes = tuple(scopes)

    def params(self) -> dict[str, str]:
        params = super().params()
        if self.scopes:
            # RFC 6750 §3: the scope attribute names what the request needs.
            params["scope"] = " ".join(self.scopes)
        return params


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.strip().partition(" ")
    # RFC 7235 §2.1: the scheme is case-insensitive; any other scheme is no bearer token.
    if scheme.lower() != "bearer":
        raise MissingToken()
    token = token.strip()
    if not token or " " in token:
        raise InvalidRequest("malformed Authorization header")
    return token
