"""ostiary gateway"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from ostiary.cli.output import CommandError, say
from ostiary.gateway import ConfigError, Gateway, load_config
from ostiary.gateway.config import read_secrets
from ostiary.web import http_protocol


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("gateway", help="identity-aware reverse proxy in front of an app")
    parser.add_argument("--config", type=Path, help="TOML file with these settings and rules")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--issuer", help="the Ostiary issuer URL")
    parser.add_argument("--upstream", help="the app behind the gateway")
    parser.add_argument(
        "--rule",
        action="append",
        dest="rules",
        metavar='"[METHOD] /path/* scope=S|role=R|authenticated|public"',
    )
    parser.add_argument("--mode", choices=["api", "browser"])
    parser.add_argument("--audience", help="aud the access tokens must carry (default: issuer)")
    parser.add_argument("--client-id", help="browser mode: the gateway's client_id")
    parser.add_argument(
        "--client-secret-stdin", action="store_true", help="read the client secret from stdin"
    )
    parser.add_argument(
        "--cookie-secret-file",
        type=Path,
        help="browser mode: cookie secrets, one per line, newest first (rotation)",
    )
    parser.add_argument("--public-url", help="the gateway's URL as browsers see it")
    parser.add_argument("--forward-authorization", action="store_true", default=None)
    parser.add_argument("--trust-forwarded", action="store_true", default=None)
    parser.add_argument("--max-body-bytes", type=int)
    parser.add_argument("--upstream-timeout", type=float)
    parser.set_defaults(func=gateway)


def gateway(args: argparse.Namespace) -> None:
    overrides = {
        name: getattr(args, name)
        for name in (
            "host",
            "port",
            "issuer",
            "upstream",
            "rules",
            "mode",
            "audience",
            "client_id",
            "public_url",
            "forward_authorization",
            "trust_forwarded",
            "max_body_bytes",
            "upstream_timeout",
        )
    }
    if args.client_secret_stdin:
        overrides["client_secret"] = sys.stdin.readline().strip() or None
    try:
        if args.cookie_secret_file is not None:
            overrides["cookie_secret"] = read_secrets(args.cookie_secret_file)
        config = load_config(overrides, args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if config.audience is None:
        say(f"note: no --audience; access tokens must carry aud {config.issuer}")
    say(f"gateway {config.mode} mode on http://{config.host}:{config.port} -> {config.upstream}")
    for rule in config.rule_set.rules:
        say(f"  rule: {rule.source}")
    uvicorn.run(
        Gateway(config),
        host=config.host,
        port=config.port,
        log_level="info",
        # Access logs would record query strings, and those carry authorization codes.
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        lifespan="on",
        # Slow senders get the same header and body deadlines as in front of Ostiary.
        http=http_protocol.IMPORT_STRING,
    )
