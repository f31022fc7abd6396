"""Bearer-token errors and their challenges (RFC 6750 §3)."""

from __future__ import annotations

import json

from ostiary.resource.challenge import challenge


class ResourceError(Exception):
    """A refusal to serve a protected resource; knows its status and challenge."""

    status = 401
    error: str | None = None

    def __init__(self, description: str = "") -> None:
        super().__init__(description)
        self.description = description

    @property
    def scope(self) -> str | None:
        """The challenge's scope attribute: what the request would need."""
        return None

    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.error:
            params["error"] = self.error
        if self.description:
            params["error_description"] = self.description
        if self.scope:
            params["scope"] = self.scope
        return params

    def challenge(self, realm: str) -> str:
        """The WWW-Authenticate value (RFC 6750 §3)."""
        return challenge(realm, self.error, self.description, self.scope)

    def body(self) -> dict[str, str]:
        return self.params()

    def response(self, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """The kit's HTTP answer: status, the challenge (RFC 6750 §3: on every refusal),
        the challenge's attributes as JSON, never cached."""
        body = json.dumps(self.body()).encode()
        headers = [
            ("WWW-Authenticate", self.challenge(realm)),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
        return self.status, headers, body


class MissingToken(ResourceError):
    """No credentials: RFC 6750 §3.1 says the challenge SHOULD NOT carry an error code."""

    def __init__(self) -> None:
        super().__init__("")


class InvalidRequest(ResourceError):
    """A malformed request: bad Authorization header, two tokens (RFC 6750 §3.1)."""

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

    @property
    def scope(self) -> str | None:
        # RFC 6750 §3: the scope attribute names what the request needs.
        return " ".join(self.scopes) or None
