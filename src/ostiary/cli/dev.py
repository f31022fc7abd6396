"""ostiary dev seed: bulk users, clients and refresh tokens for scale tests and benchmarks.

Rows go in by batches (PostgreSQL ``COPY``, SQLite ``executemany`` in one transaction per
batch) with one precomputed Argon2id hash shared by every seeded user and one client
secret shared by every seeded client, so a million users take seconds, not days of
hashing. The secrets are stored as the server stores them (Argon2id, SHA-256 digests).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ostiary import clock
from ostiary.cli.commands import whole_number
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, say
from ostiary.crypto.tokens import CLIENT_SECRET_PREFIX, REFRESH_TOKEN_PREFIX, digest, new_secret
from ostiary.domain import identifiers
from ostiary.domain.clients import SECURITY_FIELDS, Client
from ostiary.services import Services
from ostiary.storage.bulk_load import bulk_insert

REDIRECT_URI = "https://app.example.com/callback"
SEED_GRANTS = ["authorization_code", "client_credentials", "refresh_token"]
SEED_SCOPES = ["openid", "offline_access", "read", "write"]


@dataclass
class Seeded:
    prefix: str
    password: str
    client_secret: str
    usernames: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dev", help="development tools (not for production databases)")
    cmds = parser.add_subparsers(dest="action", required=True)
    seed = cmds.add_parser("seed", help="bulk-create users, clients and refresh tokens")
    seed.add_argument("--users", type=whole_number(0), default=0)
    seed.add_argument("--clients", type=whole_number(0), default=0)
    seed.add_argument("--refresh-tokens", type=whole_number(0), default=0)
    seed.add_argument(
        "--prefix", help="name prefix of seeded rows (default: seed-<random>, so reruns add)"
    )
    seed.add_argument(
        "--password-stdin", action="store_true", help="read the seeded users' password from stdin"
    )
    seed.add_argument(
        "--tokens-out", type=Path, help="write the refresh tokens, one a line, to this file"
    )
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(func=seed_command)


def seed_command(args: argparse.Namespace) -> None:
    if args.refresh_tokens and not args.clients:
        raise CommandError("refresh tokens belong to clients: give --clients 1 or more")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password is not None and len(password) < 8:
        raise CommandError("the password must have at least 8 characters")
    prefix = args.prefix or f"seed-{secrets.token_hex(3)}"
    if not prefix.replace("-", "").replace("_", "").isalnum() or len(prefix) > 40:
        raise CommandError("--prefix takes up to 40 of A-Z a-z 0-9 - _")

    async def action(services: Services) -> Seeded:
        return await seed(
            services,
            users=args.users,
            clients=args.clients,
            tokens=args.refresh_tokens,
            prefix=prefix,
            password=password,
            keep_tokens=args.tokens_out is not None,
        )

    result = run_with_services(action, create=True)
    if args.tokens_out is not None:
        args.tokens_out.write_text("".join(t + "\n" for t in result.refresh_tokens))
        args.tokens_out.chmod(0o600)
    summary = {
        "prefix": result.prefix,
        "users": len(result.user_ids),
        "clients": len(result.client_ids),
        "refresh_tokens": args.refresh_tokens,
        "username_pattern": f"{prefix}-user-<n>",
        "client_id_pattern": f"{prefix}-client-<n>",
        "password": result.password,
        "client_secret": result.client_secret,
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
    }
    if args.json:
        emit_json(summary)
        return
    say(
        f"seeded {summary['users']} users, {summary['clients']} clients and "
        f"{args.refresh_tokens} refresh tokens with prefix {prefix} "
        f"(seconds: {summary['seconds']})"
    )
    say(f"users: {prefix}-user-<n>, password {result.password}")
    say(f"clients: {prefix}-client-<n>, secret {result.client_secret}")


async def seed(
    services: Services,
    *,
    users: int = 0,
    clients: int = 0,
    tokens: int = 0,
    prefix: str = "seed",
    password: str | None = None,
    keep_tokens: bool = False,
) -> Seeded:
    """Insert the rows; the plaintext refresh tokens are returned only if ``keep_tokens``."""
    result = Seeded(
        prefix=prefix,
        password=password or secrets.token_urlsafe(12),
        client_secret=new_secret(CLIENT_SECRET_PREFIX),
    )
    engine = services.engine
    started = time.perf_counter()
    password_hash = await services.passwords.hash(result.password)
    result.user_ids = [str(uuid.uuid4()) for _ in range(users)]
    result.usernames = [f"{prefix}-user-{i}" for i in range(users)]
    await bulk_insert(engine, "users", _user_rows(result, password_hash))
    await bulk_insert(engine, "scim_users", _scim_rows(result))
    result.seconds["users"] = time.perf_counter() - started

    started = time.perf_counter()
    result.client_ids = [f"{prefix}-client-{i}" for i in range(clients)]
    await bulk_insert(engine, "clients", _client_rows(result, digest(result.client_secret)))
    result.seconds["clients"] = time.perf_counter() - started

    started = time.perf_counter()
    ttl = services.settings.tokens.refresh_token_ttl
    kept = result.refresh_tokens if keep_tokens else None
    await bulk_insert(engine, "refresh_tokens", _token_rows(result, tokens, ttl, kept))
    result.seconds["refresh_tokens"] = time.perf_counter() - started
    return result


def _user_rows(seeded: Seeded, password_hash: str) -> Iterator[dict[str, Any]]:
    now = clock.now()
    for user_id, username in zip(seeded.user_ids, seeded.usernames, strict=True):
        yield {
            "id": user_id,
            "username": username,
            "email": f"{username}@example.invalid",
            "password_hash": password_hash,
            "disabled": False,
            "email_verified": False,
            "phone_number": None,
            "phone_number_verified": False,
            "profile": {},
            "created_at": now,
            "updated_at": now,
        }


def _scim_rows(seeded: Seeded) -> Iterator[dict[str, Any]]:
    """Every account's SCIM row: it holds the comparison form of the username that
    sign-in finds the account by (``identifiers.username_key``)."""
    for user_id, username in zip(seeded.user_ids, seeded.usernames, strict=True):
        yield {
            "user_id": user_id,
            "user_name_ci": identifiers.username_key(username),
            "external_id": None,
            "display_name_ci": None,
            "given_name_ci": None,
            "family_name_ci": None,
            "resource": {"emails": [{"value": f"{username}@example.invalid", "primary": True}]},
            "version": 1,
        }


# The client-security columns, unset, as a plain registration leaves them.
_SECURITY_DEFAULTS = {
    name: Client.__dataclass_fields__[name].default for name in (*SECURITY_FIELDS, "secret_sealed")
}


def _client_rows(seeded: Seeded, secret_hash: bytes) -> Iterator[dict[str, Any]]:
    now = clock.now()
    for client_id in seeded.client_ids:
        yield {
            "client_id": client_id,
            "name": client_id,
            "secret_hash": secret_hash,
            "public": False,
            "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": SEED_GRANTS,
            "scopes": SEED_SCOPES,
            "audience": [],
            "first_party": True,
            "access_token_ttl": None,
            "refresh_token_ttl": None,
            "created_at": now,
            "post_logout_redirect_uris": [],
            "backchannel_logout_uri": None,
            "backchannel_logout_session_required": False,
            "id_token_signed_response_alg": None,
            "id_token_ttl": None,
            "session_refresh_tokens": False,
            "include_roles": False,
            "include_groups": False,
            "tokens_valid_after": 0,
            "require_mfa": False,
            **_SECURITY_DEFAULTS,
        }


def _token_rows(
    seeded: Seeded, count: int, ttl: int, kept: list[str] | None
) -> Iterator[dict[str, Any]]:
    now = clock.now()
    users_, clients_ = seeded.user_ids, seeded.client_ids
    for i in range(count):
        token = new_secret(REFRESH_TOKEN_PREFIX)
        if kept is not None:
            kept.append(token)
        yield {
            "token_hash": digest(token),
            "family_id": str(uuid.uuid4()),
            "client_id": clients_[i % len(clients_)],
            "user_id": users_[i % len(users_)] if users_ else None,
            # offline_access: not bound to an SSO session (OIDC Core §11).
            "scopes": ["offline_access", "read"],
            "auth_time": now,
            "created_at": now,
            "expires_at": now + ttl,
            "sid": None,
            "acr": None,
            "amr": ["pwd"] if users_ else None,
            "claims": None,
            "used_at": None,
            "revoked_at": None,
            "access_jti": None,
            "access_expires_at": None,
            "cnf": None,
            "resources": None,
        }
