"""Bearer- and DPoP-token errors and their challenges (RFC 6750 §3, RFC 9449 §7.1)."""

from __future__ import annotations

import json

from ostiary.resource.challenge import challenge


class ResourceError(Exception):
    """A refusal to serve a protected resource; knows its status and challenge.

    ``scheme`` is how the refused credentials came ("bearer", "dpop"; None: no or unknown
    scheme), so that the challenge of that scheme carries the error; ``dpop_nonce`` a
    nonce for the ``DPoP-Nonce`` header (RFC 9449 §9)."""

    status = 401
    error: str | None = None
    scheme: str | None = None
    dpop_nonce: str | None = None

    def __init__(self, description: str = "") -> None:
        super().__init__(description)
        self.description = description

    def presented(self, scheme: str | None) -> ResourceError:
        """This error, for credentials presented with ``scheme`` (unless already known)."""
        if self.scheme is None:
            self.scheme = scheme
        return self

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

    def challenge(self, realm: str, dpop_algs: str | None = None) -> str:
        """The WWW-Authenticate value (RFC 6750 §3). With ``dpop_algs`` (DPoP accepted
        too), a challenge per scheme (RFC 9449 §7.2): the error goes in the one of the
        scheme the request used, first; the other comes bare."""
        attributes = (self.error, self.description, self.scope)
        if dpop_algs is None:
            return challenge(realm, *attributes)
        if self.scheme == "dpop":
            dpop = challenge(realm, *attributes, scheme="DPoP", algs=dpop_algs)
            return f"{dpop}, {challenge(realm)}"
        dpop = challenge(realm, scheme="DPoP", algs=dpop_algs)
        return f"{challenge(realm, *attributes)}, {dpop}"

    def headers(self, realm: str, dpop_algs: str | None = None) -> list[tuple[str, str]]:
        """The challenge, and a ``DPoP-Nonce`` when the client is to use a new nonce."""
        headers = [("WWW-Authenticate", self.challenge(realm, dpop_algs))]
        if self.dpop_nonce is not None:
            headers.append(("DPoP-Nonce", self.dpop_nonce))
        return headers

    def body(self) -> dict[str, str]:
        return self.params()

    def response(
        self, realm: str, dpop_algs: str | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """The kit's HTTP answer: status, the challenge (RFC 6750 §3: on every refusal),
        the challenge's attributes as JSON, never cached."""
        body = json.dumps(self.body()).encode()
        headers = [
            *self.headers(realm, dpop_algs),
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


class InvalidDPoPProof(ResourceError):
    """The DPoP proof is missing or fails a check (RFC 9449 §7.1 invalid_dpop_proof)."""

    error = "invalid_dpop_proof"
    scheme = "dpop"


class UseDPoPNonce(ResourceError):
    """The proof lacks the server's current nonce (RFC 9449 §9 use_dpop_nonce); the answer
    carries the nonce to use in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"
    scheme = "dpop"

    def __init__(self, description: str, nonce: str) -> None:
        super().__init__(description)
        self.dpop_nonce = nonce
