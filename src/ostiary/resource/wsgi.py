"""A WSGI decorator: ``app = protect(verifier, scopes=["orders:read"])(app)``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from ostiary.resource.client_cert import CertificateHeader
from ostiary.resource.errors import ResourceError
from ostiary.resource.htu import check_origin, external_url
from ostiary.resource.sync_verifier import SyncTokenVerifier
from ostiary.resource.verifier import TokenVerifier

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CLAIMS_KEY = "ostiary.claims"


def protect(
    verifier: SyncTokenVerifier | TokenVerifier,
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    realm: str = "api",
    public_origin: str | None = None,
    trust_forwarded: bool = False,
    client_certificate: CertificateHeader | None = None,
) -> Callable[[WSGIApp], WSGIApp]:
    """Wrap a WSGI app (a Flask app's ``wsgi_app`` too); the verified claims are left in
    ``environ["ostiary.claims"]`` (Flask: ``request.environ``). ``public_origin`` and
    ``trust_forwarded``: where DPoP proofs' URLs come from behind a proxy;
    ``client_certificate``: where the TLS proxy passes the client's certificate, for
    certificate-bound tokens (see asgi.py). The peer checked is ``REMOTE_ADDR``."""
    header = client_certificate
    blocking = verifier if isinstance(verifier, SyncTokenVerifier) else SyncTokenVerifier(verifier)
    needed_scopes, needed_roles = tuple(scopes), frozenset(roles)
    origin = check_origin(public_origin) if public_origin else None

    def decorate(app: WSGIApp) -> WSGIApp:
        @functools.wraps(app)
        def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            try:
                claims = blocking.verify_request(
                    environ.get("HTTP_AUTHORIZATION"),
                    # WSGI servers join repeated headers with "," (a proof never has one).
                    [environ["HTTP_DPOP"]] if "HTTP_DPOP" in environ else [],
                    method=environ.get("REQUEST_METHOD", "GET"),
                    url=lambda: environ_url(environ, origin, trust_forwarded),
                    certificate=(lambda: header.from_environ(environ)) if header else None,
                )
                claims.require(needed_scopes, needed_roles)
            except ResourceError as error:
                status, headers, body = error.response(realm, blocking.dpop_algs)
                start_response(f"{status} {_REASONS[status]}", headers)
                return [body]
            environ[CLAIMS_KEY] = claims
            nonce = claims.dpop.next_nonce if claims.dpop is not None else None
            if nonce:
                start_response = _with_header(start_response, "DPoP-Nonce", nonce)
            return app(environ, start_response)

        return wrapper

    return decorate


def environ_url(environ: dict[str, Any], public_origin: str | None, trust_forwarded: bool) -> str:
    """The URL of a WSGI request as its client used it (the ``htu`` of its DPoP proof):
    the raw target when the server keeps it (REQUEST_URI, RAW_URI), else the decoded
    SCRIPT_NAME and PATH_INFO (PEP 3333: latin-1 strings of the request's bytes)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if not raw.startswith("/"):
        raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        raw = "".join(ch if ch not in "?#" else f"%{ord(ch):02X}" for ch in raw)
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    forwarded = trust_forwarded and public_origin is None
    return external_url(
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=host,
        raw_path=raw.encode("latin-1", "replace"),
        public_origin=public_origin,
        forwarded_proto=environ.get("HTTP_X_FORWARDED_PROTO") if forwarded else None,
        forwarded_host=environ.get("HTTP_X_FORWARDED_HOST") if forwarded else None,
    )


def _with_header(start_response: Callable[..., Any], name: str, value: str) -> Callable[..., Any]:
    def starting(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        return start_response(status, [*headers, (name, value)], *args)

    return starting


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
