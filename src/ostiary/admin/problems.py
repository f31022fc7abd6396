"""Problem details (RFC 9457): the one shape of every error the admin API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ostiary.storage.errors import (
    CONSTRAINT_VIOLATION,
    OUTAGE_CANDIDATES,
    RETRY_AFTER,
    describe,
    is_unavailable,
)

log = logging.getLogger("ostiary.admin")

PROBLEM_JSON = "application/problem+json"
NO_STORE = {"Cache-Control": "no-store"}


class Problem(Exception):
    """An error response. RFC 9457 §4.2.1: with type "about:blank" the title is the HTTP
    status phrase; what went wrong is in ``detail``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} does not exist")


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


def unprocessable(detail: str) -> Problem:
    return Problem(422, detail)


class ProblemDetails(BaseModel):
    """RFC 9457 §3.1 members; ``errors`` (validation) and ``error`` (RFC 6750 code) are
    extension members (§3.2)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    error: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None)


def problem_response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _phrase(problem.status),
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers={**NO_STORE, **problem.headers},
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: the rejected input may be a password, and pydantic's ``ctx``
    # may hold objects that are not JSON.
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        Problem(422, "the request does not match the schema", errors=_validation_errors(exc))
    )


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    return problem_response(Problem(exc.status_code, detail, headers=dict(exc.headers or {})))


async def _on_integrity(request: Request, exc: Exception) -> Response:
    # A uniqueness or reference check lost a race with a concurrent change.
    # Its DETAIL would name the conflicting value (a username, an e-mail address).
    log.info("admin API integrity conflict: %s", describe(exc))
    return problem_response(conflict("the change conflicts with the current state; retry"))


def unavailable() -> Problem:
    """RFC 9110 §15.6.4: 503 with Retry-After while the database cannot be reached."""
    return Problem(
        503,
        "the database is temporarily unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def _on_database(request: Request, exc: Exception) -> Response:
    # Registered per exception class so an outage is answered here, as a problem, rather
    # than by the catch-all (which Starlette re-raises and logs as a crash).
    if is_unavailable(exc):
        log.warning("database unavailable on %s: %s", request.url.path, describe(exc))
        return problem_response(unavailable())
    raise exc


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception itself after this handler answers.
    if is_unavailable(exc):
        return problem_response(unavailable())
    return problem_response(Problem(500, "an unexpected error occurred"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(CONSTRAINT_VIOLATION, _on_integrity)
    for database_error in OUTAGE_CANDIDATES:
        app.add_exception_handler(database_error, _on_database)
    app.add_exception_handler(Exception, _on_unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, as problem+json."""
    # String keys: FastAPI looks for "422" to leave out its own validation-error schema.
    return {
        str(status): {
            "description": _phrase(status),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }
