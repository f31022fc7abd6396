"""SCIM errors (RFC 7644 §3.12): one exception type, rendered in one place."""

from __future__ import annotations

from typing import Any

from scim2_models import Error

from ostiary.storage.errors import RETRY_AFTER

# RFC 7644 §8.1: the SCIM media type.
MEDIA_TYPE = "application/scim+json"


class ScimError(Exception):
    """An HTTP status, a human detail and, for 400/409/413, a §3.12 Table 9 scimType."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = Error(status=self.status, scim_type=self.scim_type, detail=self.detail)
        return error.model_dump()


def not_found(resource: str, ident: str) -> ScimError:
    return ScimError(404, f"{resource} {ident!r} not found")


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidSyntax")


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def mutability(detail: str) -> ScimError:
    return ScimError(400, detail, "mutability")


def unavailable() -> ScimError:
    """RFC 7644 §3.12 with the HTTP status 503 and Retry-After (RFC 9110 §15.6.4): the
    database cannot be reached for now; the same request may succeed later."""
    return ScimError(
        503,
        "the service is temporarily unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER)},
    )
