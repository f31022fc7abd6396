"""``ostiary serve --ssl-certfile/--ssl-keyfile``: TLS in uvicorn itself, and HSTS on every
response when the issuer is https (docs/deployment.md)."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import Any

from ostiary.cli.output import CommandError
from ostiary.settings import Settings
from ostiary.web.responses import strict_transport_security

# RFC 9325 §4.2: TLS 1.2 with AEAD suites and forward secrecy only (older uvicorn releases
# default to OpenSSL's "TLSv1" list, CBC and SHA-1 suites included). TLS 1.3's suites are
# all of that kind and set apart; Python's context refuses anything below TLS 1.2.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ssl-certfile",
        type=Path,
        help="serve https with this PEM certificate chain (the server's certificate first)",
    )
    parser.add_argument(
        "--ssl-keyfile",
        type=Path,
        help="the certificate's PEM private key (default: in --ssl-certfile)",
    )


def tls_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS and default-header options, after checking the files load as a server
    certificate and key: a wrong path or a key of another certificate is one line now,
    not a traceback from every worker later."""
    headers = strict_transport_security(settings)
    certfile: Path | None = args.ssl_certfile
    keyfile: Path | None = args.ssl_keyfile
    if certfile is None:
        if keyfile is not None:
            raise CommandError("--ssl-keyfile needs --ssl-certfile")
        return {"headers": headers}
    # RFC 8414 §2: the issuer is the URL clients use; served over TLS, it is https.
    if not settings.issuer.startswith("https://"):
        raise CommandError(
            f"--ssl-certfile serves https, but the issuer is {settings.issuer}: set "
            "OSTIARY_ISSUER to the https URL clients use"
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        files = f"{certfile}" + (f" and {keyfile}" if keyfile else "")
        raise CommandError(f"cannot use the TLS certificate {files}: {_reason(exc)}") from None
    return {
        "headers": headers,
        "ssl_certfile": str(certfile),
        "ssl_keyfile": str(keyfile) if keyfile else None,
        "ssl_ciphers": CIPHERS,
    }


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        # OpenSSL's "PEM lib": a file that is not PEM, or a certificate without its key.
        if exc.reason in (None, "PEM_LIB") or "PEM lib" in str(exc):
            return "not a PEM certificate chain and its private key"
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
