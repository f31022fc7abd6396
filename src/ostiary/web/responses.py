"""Every response shape in one place: JSON, OAuth errors, pages, redirects."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ostiary.cache.bounded import BoundedCache
from ostiary.errors import OAuthError
from ostiary.settings import Settings
from ostiary.storage.errors import RETRY_AFTER, describe, is_unavailable

log = logging.getLogger("ostiary.web")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The URL of an interaction or callback must not leak to other sites.
    "Referrer-Policy": "no-referrer",
}


def strict_transport_security(settings: Settings) -> list[tuple[str, str]]:
    """RFC 6797 §6.1: the Strict-Transport-Security header of every response when the
    issuer is https. ``ostiary serve`` gives it to uvicorn as a default header, encoded
    once and written with every response (pages, redirects, the token endpoint's own ASGI
    path alike) at no cost per request. §7.2 wants it over secure transport only: an https
    issuer is what browsers reach, through our TLS or a TLS proxy's, and a user agent
    ignores the header on a plain-http response (§8.1)."""
    hsts = settings.hsts
    if not hsts.enabled or not settings.issuer.startswith("https://"):
        return []
    value = f"max-age={hsts.max_age}"
    if hsts.include_subdomains:
        value += "; includeSubDomains"
    return [("Strict-Transport-Security", value)]


templates = Environment(
    loader=PackageLoader("ostiary.web", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def log_oauth_error(exc: OAuthError) -> None:
    """The log-only detail of an OAuth error (never sent to the client)."""
    if exc.detail:
        log.info("oauth error %s: %s", exc.error, exc.detail)


# RFC 6749 §5.1-§5.2: token responses and their errors MUST NOT be cached.
_OAUTH_ERROR_HEADERS = (
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)
RawHeaders = list[tuple[bytes, bytes]]


def oauth_error_parts(exc: OAuthError) -> tuple[int, RawHeaders, bytes]:
    """The one rendering of an ``OAuthError`` (RFC 6749 §5.2): its status (400; 401 for
    invalid_client with the challenge of the scheme the client tried, from
    ``exc.headers``), a JSON body of error and description, never cached. The detail is
    logged, never sent. ``oauth_error`` wraps it for Starlette; the machine endpoints
    (``web.token_routes``) write it to ASGI as it is."""
    log_oauth_error(exc)
    headers = list(_OAUTH_ERROR_HEADERS)
    headers.extend(
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()
    )
    return exc.status, headers, orjson.dumps(exc.body())


def oauth_error(exc: OAuthError) -> Response:
    """``oauth_error_parts`` as a Starlette response."""
    status, headers, body = oauth_error_parts(exc)
    response = Response(body, status)  # sets only content-length
    response.raw_headers.extend(headers)
    return response


def unavailable_error() -> OAuthError:
    """The database cannot be reached for now: RFC 6749 §4.1.2.1's temporarily_unavailable
    as a §5.2 JSON body, with 503 and Retry-After (RFC 9110 §15.6.4, §10.2.3)."""
    return OAuthError(
        "temporarily_unavailable",
        "the service is temporarily unavailable; retry later",
        status=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def unexpected_error() -> OAuthError:
    """Anything not foreseen: server_error (RFC 6749 §4.1.2.1's code), 500, and nothing
    about what went wrong in the answer."""
    return OAuthError("server_error", "an unexpected error occurred", status=500)


def log_unavailable(where: str, exc: BaseException) -> None:
    """One line per request refused for a database outage (no traceback, no values)."""
    log.warning("database unavailable on %s: %s", where, describe(exc))


def server_error(exc: BaseException | None = None) -> Response:
    """500 server_error, or the 503 of ``unavailable_error`` when ``exc`` says the
    database is unavailable."""
    if exc is not None and is_unavailable(exc):
        return oauth_error(unavailable_error())
    return oauth_error(unexpected_error())


def page(name: str, status: int = 200, **context: Any) -> Response:
    html = templates.get_template(name).render(**context)
    return Response(html, status_code=status, media_type="text/html", headers=PAGE_HEADERS)


# Pages rendered often with the same context but for a few per-request values (e.g.
# the login page of every sign-in): rendered once per context with markers in their place.
_MARKER = "slot" + secrets.token_hex(12)
_SLOT_VALUE = re.compile(r"[A-Za-z0-9_-]*")
SLOTTED_MAX = 256
_SLOTTED: BoundedCache[tuple[Any, ...], str] = BoundedCache(SLOTTED_MAX, lru=False)


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def slotted_page(name: str, status: int, slots: dict[str, str], **context: Any) -> Response:
    """``page(name, status, **slots, **context)``, the same HTML, without rendering the
    template again for a context seen before: ``slots`` (an interaction id, a CSRF token:
    URL-safe values, which HTML escaping leaves as they are) are put into a copy rendered
    once per context with markers in their place. Anything else is rendered as usual."""
    if not all(_SLOT_VALUE.fullmatch(v) for v in slots.values()):
        return page(name, status, **slots, **context)
    key = (name, *sorted((k, _frozen(v)) for k, v in context.items()))
    try:
        html = _SLOTTED.get(key)
    except TypeError:  # a context value that cannot be a key
        return page(name, status, **slots, **context)
    if html is None:
        markers = {slot: f"{_MARKER}{slot}" for slot in slots}
        html = templates.get_template(name).render(**markers, **context)
        _SLOTTED.put(key, html)
    for slot, value in slots.items():
        html = html.replace(f"{_MARKER}{slot}", value)
    return Response(html, status_code=status, media_type="text/html", headers=PAGE_HEADERS)


def error_page(message: str, status: int = 400) -> Response:
    return page("error.html", status, message=message)


def unavailable_page() -> Response:
    """The page a person sees while the database is unavailable (503, Retry-After)."""
    response = error_page(
        "The service is temporarily unavailable. Please try again in a few moments.", 503
    )
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def form_post(action: str, params: dict[str, str]) -> Response:
    """OAuth 2.0 Form Post Response Mode: an HTML form that submits itself to the client."""
    nonce = secrets.token_urlsafe(16)
    html = templates.get_template("form_post.html").render(
        action=action, params=params, nonce=nonce
    )
    headers = {
        **PAGE_HEADERS,
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
    }
    return Response(html, media_type="text/html", headers=headers)


# What RedirectResponse leaves unquoted in a Location: quote()'s always-safe characters and
# the safe= set Starlette gives it.
_LOCATION_AS_IS = re.compile(r"[A-Za-z0-9_.~\-:/%#?=@\[\]!$&'()*+,;]*")


def redirect(location: str) -> Response:
    # 303 so a POST (login, consent) is followed by a GET at the client (RFC 9700 §4.12).
    if not _LOCATION_AS_IS.fullmatch(location):
        return RedirectResponse(location, status_code=303, headers=NO_STORE)
    # Nothing to quote (a redirect with a code almost always): the same header without
    # RedirectResponse's per-character pass over the URL.
    return Response(status_code=303, headers={**NO_STORE, "location": location})


Endpoint = Callable[[Request], Awaitable[Response]]


def protocol_endpoint(handler: Endpoint) -> Endpoint:
    """OAuth errors become §5.2 JSON; anything unexpected becomes a bare server_error."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as exc:
            return oauth_error(exc)
        except Exception as exc:
            if is_unavailable(exc):
                log_unavailable(request.url.path, exc)
            else:
                log.exception("unexpected error on %s", request.url.path)
            return server_error(exc)

    wrapped.__name__ = handler.__name__
    return wrapped
