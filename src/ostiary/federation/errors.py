"""The one error type of the federation flow: a message a person can read, and a status."""

from __future__ import annotations


class FederationError(Exception):
    """Shown as a page; ``detail`` goes to the log and the audit trail, never to the page.

    400: the request or the person's choice; 403: a policy refused; 502: the upstream
    provider misbehaved (bad token, unreachable, wrong issuer).
    """

    def __init__(self, message: str, status: int = 400, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail or message


def upstream_error(detail: str, name: str = "the identity provider") -> FederationError:
    return FederationError(
        f"Signing in with {name} failed: its answer could not be verified. Try again later.",
        502,
        detail=detail,
    )
