"""ostiary serve"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import uvicorn

from ostiary.cli import project
from ostiary.cli.commands import whole_number
from ostiary.cli.context import run_on_database
from ostiary.cli.output import CommandError
from ostiary.cli.ports import ensure_port_free
from ostiary.cli.tls import add_tls_arguments, tls_options
from ostiary.observability import serving
from ostiary.observability.logging_setup import announce
from ostiary.services import build_services
from ostiary.settings import Settings, is_loopback_host, load_settings
from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import upgrade
from ostiary.web import http_protocol


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the server (migrates the database first)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--workers",
        type=whole_number(1, 64),
        default=1,
        help="server processes sharing the port (uvicorn workers); all state is in the database",
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve an http:// issuer on a non-loopback address anyway (credentials and "
        "tokens then cross the network in clear)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create a demo user and client on an empty database and print how to try them",
    )
    add_tls_arguments(parser)
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> None:
    if args.demo:
        if args.workers != 1:
            raise CommandError("demo mode runs one worker")
        # Before anything is written: a second demo must not reset the running one's password.
        ensure_port_free(args.host, args.port)
        project.prepare_demo(args.port)
    settings = load_settings()
    settings.require_secret_key()
    refuse_plain_http_beyond_loopback(settings, args.host, args.insecure_http)
    serving.check(settings)
    if not args.demo:
        # Before the database is migrated or a signing key generated.
        ensure_port_free(args.host, args.port)
    tls = tls_options(args, settings)

    async def prepare() -> None:
        services = build_services(
            settings, create_engine(settings.database_url, pool_size=settings.database_pool_size)
        )
        try:
            await upgrade(services.engine)
            # Signing keys are made here, once, before any worker starts: workers racing to
            # create the first keys would each sign with a key the others do not publish yet.
            for kid in await services.keys.ensure(services.signing_algs()):
                announce(settings.log, f"generated signing key {kid}", kid=kid)
        finally:
            await services.close()

    run_on_database(prepare(), settings.database_url)
    scheme = "https" if args.ssl_certfile else "http"
    url = f"{scheme}://{args.host}:{args.port}"
    announce(settings.log, f"Ostiary {settings.issuer} listening on {url}", url=url)
    uvicorn.run(
        "ostiary.web.asgi:build",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # Logging in every worker, metrics added up across workers (observability/serving.py).
        **serving.prepare(settings, args.workers),
        # Access logs would record query strings, and those carry authorization codes.
        access_log=False,
        server_header=False,
        # Header and body deadlines for slow senders (web/http_protocol.py); each worker
        # sets them from its settings when it builds the app.
        http=http_protocol.IMPORT_STRING,
        # uvicorn annotates this int, but hands it to loop.call_later, which takes a float.
        timeout_keep_alive=settings.http.keep_alive_timeout,  # type: ignore[arg-type]  # float ok
        **proxy_options(settings),
        # TLS (--ssl-certfile) and Strict-Transport-Security on every response (cli/tls.py).
        **tls,
    )


def refuse_plain_http_beyond_loopback(settings: Settings, host: str, insecure: bool) -> None:
    """An http issuer is for development on one machine (RFC 9700 §2.6 and RFC 6749 §3.1
    want TLS): served on an address other machines reach, passwords, codes and tokens would
    cross the network in clear. Refused unless ``--insecure-http`` says it is meant."""
    if not settings.issuer.startswith("http://") or is_loopback_host(host):
        return
    if insecure:
        announce(
            settings.log,
            f"serving the http issuer {settings.issuer} on {host}: passwords, codes and "
            "tokens cross the network unencrypted",
            logging.WARNING,
        )
        return
    raise CommandError(
        f"refusing to serve the http issuer {settings.issuer} on {host}, beyond this "
        "machine: set OSTIARY_ISSUER to the https URL your TLS proxy serves, or use --host "
        "127.0.0.1 (--insecure-http to do it anyway)"
    )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's X-Forwarded-* handling, only for the configured proxies (none by default:
    a client must never choose the address its failed logins are counted against)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}
