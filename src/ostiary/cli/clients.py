"""ostiary client create | update | list | show | delete"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ostiary.accounts import lifecycle
from ostiary.admin.operations.clients import is_built_in
from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, listing, reply, required, say
from ostiary.cli.roles import ACTOR, changed_views, require_mfa_option
from ostiary.domain.clients import Client
from ostiary.keys.algorithms import SUPPORTED as SUPPORTED_ALGS
from ostiary.oauth.client_auth.registry import METHODS
from ostiary.oauth.redirect_uris import stored_problems
from ostiary.oauth.registration import ClientSpec, RegistrationError, register, update
from ostiary.services import Services


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser("client", help="manage OAuth clients")
    cmds = parser.add_subparsers(dest="action", required=True)

    def create(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--name", required=True)
        cmd.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        cmd.add_argument("--grant-type", action="append", default=[], dest="grant_types")
        cmd.add_argument("--scope", default="", help='space-separated, e.g. "a b c"')
        cmd.add_argument("--public", action="store_true", help="a public client (PKCE, no secret)")
        cmd.add_argument(
            "--auth-method",
            choices=AUTH_METHODS,
            help="token endpoint auth method of a confidential client",
        )
        cmd.add_argument("--audience", action="append", default=[], help="access-token aud")
        cmd.add_argument("--first-party", action="store_true", help="skip the consent page")
        cmd.add_argument("--access-token-ttl", type=int)
        cmd.add_argument("--refresh-token-ttl", type=int)
        cmd.add_argument("--client-id", help="choose the client_id instead of a random one")
        _oidc_arguments(cmd, defaults=True)
        _security_arguments(cmd, defaults=True)
        require_mfa_option(cmd, "every user signing in to this client", default=False)

    def update(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--name")
        cmd.add_argument("--redirect-uri", action="append", dest="redirect_uris", help="replaces")
        cmd.add_argument("--grant-type", action="append", dest="grant_types", help="replaces")
        cmd.add_argument("--scope", help='replaces, space-separated, e.g. "a b c"')
        cmd.add_argument("--auth-method", choices=AUTH_METHODS)
        cmd.add_argument("--audience", action="append", help="replaces")
        cmd.add_argument("--first-party", action=argparse.BooleanOptionalAction, default=None)
        cmd.add_argument("--access-token-ttl", type=int)
        cmd.add_argument("--refresh-token-ttl", type=int)
        _oidc_arguments(cmd, defaults=False)
        _security_arguments(cmd, defaults=False)
        require_mfa_option(cmd, "every user signing in to this client", default=None)

    command(cmds, "create", create_client, "register a client", options=create)
    text = "change a client's registration"
    command(cmds, "update", update_client, text, "client_id", options=update)
    command(cmds, "list", list_clients, "list clients")
    command(cmds, "show", show_client, "show one client", "client_id")
    command(cmds, "delete", delete_client, "delete a client", "client_id")


def _oidc_arguments(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """OpenID Connect registration fields, shared by create and update."""
    many: dict[str, object] = {"default": []} if defaults else {}
    flag: dict[str, object] = (
        {"action": "store_true"} if defaults else {"action": argparse.BooleanOptionalAction}
    )
    parser.add_argument(
        "--post-logout-redirect-uri",
        action="append",
        dest="post_logout_redirect_uris",
        help="where RP-initiated logout may return (exact match)",
        **many,  # type: ignore[arg-type]
    )
    parser.add_argument("--backchannel-logout-uri", help="receives back-channel logout tokens")
    parser.add_argument(
        "--backchannel-logout-session-required",
        help="the client needs sid in logout tokens (always sent)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--id-token-alg",
        dest="id_token_signed_response_alg",
        choices=list(SUPPORTED_ALGS),
        help="ID-token signing algorithm (default RS256)",
    )
    parser.add_argument("--id-token-ttl", type=int)
    parser.add_argument(
        "--include-roles",
        help="put the user's roles in tokens (RFC 9068 §2.2.3.1)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--include-groups",
        help="put the user's groups in tokens (RFC 9068 §2.2.3.1)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--session-refresh-tokens",
        help="issue session-bound refresh tokens for openid requests without offline_access",
        **flag,  # type: ignore[arg-type]
    )


# What a confidential client may authenticate with at the token endpoint.
AUTH_METHODS = [m for m in METHODS if m != "none"]


def _security_arguments(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Keys and protections of a client (docs/client-security.md), for create and update."""
    flag: dict[str, object] = (
        {"action": "store_true"} if defaults else {"action": argparse.BooleanOptionalAction}
    )
    parser.add_argument(
        "--jwks-file", type=Path, help="the client's public keys, a JWK Set in a JSON file"
    )
    parser.add_argument("--jwks-uri", help="where the client publishes its public keys")
    parser.add_argument(
        "--auth-signing-alg",
        dest="token_endpoint_auth_signing_alg",
        help="the one algorithm of its client assertions (private_key_jwt, client_secret_jwt)",
    )
    parser.add_argument(
        "--require-par",
        dest="require_pushed_authorization_requests",
        help="authorization requests must be pushed first (RFC 9126)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--require-dpop",
        dest="dpop_bound_access_tokens",
        help="tokens only with a DPoP proof, bound to its key (RFC 9449)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--require-signed-request-object",
        dest="require_signed_request_object",
        help="authorization requests only as signed request objects (RFC 9101)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--request-object-alg",
        dest="request_object_signing_alg",
        help="the one algorithm of its request objects",
    )
    parser.add_argument(
        "--tls-subject-dn",
        dest="tls_client_auth_subject_dn",
        help="tls_client_auth: the subject DN of the client's certificate, RFC 4514 "
        '(e.g. "CN=app,O=Example,C=DE"; RFC 8705 §2.1)',
    )
    parser.add_argument(
        "--tls-bound-tokens",
        dest="tls_client_certificate_bound_access_tokens",
        help="tokens only bound to the client's TLS certificate (RFC 8705 §3)",
        **flag,  # type: ignore[arg-type]
    )
    parser.add_argument(
        "--profile",
        choices=["fapi2", "none"],
        help="hold the client to the FAPI 2.0 Security Profile (none: no profile)",
    )


def _security_values(args: argparse.Namespace) -> dict[str, Any]:
    """The security options given, under ClientSpec names; None only where an option
    clears a value (the other of jwks and jwks_uri, ``--profile none``)."""
    names = (
        "token_endpoint_auth_signing_alg",
        "require_pushed_authorization_requests",
        "dpop_bound_access_tokens",
        "require_signed_request_object",
        "request_object_signing_alg",
        "tls_client_certificate_bound_access_tokens",
    )
    values: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    dn = args.tls_client_auth_subject_dn
    if dn is not None:
        values["tls_client_auth_subject_dn"] = dn or None
    elif args.auth_method not in (None, "tls_client_auth"):
        # The subject DN belongs to tls_client_auth: another method leaves it behind.
        values["tls_client_auth_subject_dn"] = None
    if args.jwks_file is not None:
        try:
            values["jwks"] = json.loads(args.jwks_file.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"--jwks-file {args.jwks_file}: {exc}") from None
        values["jwks_uri"] = None
    if args.jwks_uri is not None:
        values["jwks_uri"] = args.jwks_uri
        values.setdefault("jwks", None)
    if args.profile is not None:
        values["profile"] = None if args.profile == "none" else args.profile
    return values


_UPDATABLE = (
    "name",
    "redirect_uris",
    "grant_types",
    "auth_method",
    "audience",
    "first_party",
    "access_token_ttl",
    "refresh_token_ttl",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "id_token_signed_response_alg",
    "id_token_ttl",
    "session_refresh_tokens",
    "include_roles",
    "include_groups",
)


def update_client(args: argparse.Namespace) -> None:
    changes = {name: getattr(args, name) for name in _UPDATABLE if getattr(args, name) is not None}
    changes.update(_security_values(args))
    if args.scope is not None:
        changes["scopes"] = args.scope.split()
    if not changes and args.require_mfa is None:
        raise CommandError("nothing to change: give at least one option")

    refuse_built_in(args.client_id)

    async def action(services: Services) -> None:
        clients = services.store.clients
        before = required(await clients.get(args.client_id), f"client {args.client_id!r}")
        try:
            # The MFA policy is no registration field: a change of it alone does not
            # check the registration again.
            if changes:
                await update(clients, args.client_id, **changes)
        except RegistrationError as exc:
            raise CommandError(str(exc)) from None
        if args.require_mfa is not None:
            await clients.update(args.client_id, require_mfa=args.require_mfa)
        client = required(await clients.get(args.client_id), f"client {args.client_id!r}")
        details = changed_views(before.public_view(), client.public_view())
        if details is not None:
            await services.audit.record(
                "client.updated", actor=ACTOR, client_id=client.client_id, details=details
            )
        reply(args.json, client.public_view(), f"updated client {client.client_id}")

    run_with_services(action)


def create_client(args: argparse.Namespace) -> None:
    spec = ClientSpec(
        name=args.name,
        redirect_uris=args.redirect_uris,
        grant_types=args.grant_types,
        scopes=args.scope.split(),
        public=args.public,
        auth_method=args.auth_method,
        audience=args.audience,
        first_party=args.first_party,
        access_token_ttl=args.access_token_ttl,
        refresh_token_ttl=args.refresh_token_ttl,
        client_id=args.client_id,
        post_logout_redirect_uris=args.post_logout_redirect_uris,
        backchannel_logout_uri=args.backchannel_logout_uri,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        id_token_signed_response_alg=args.id_token_signed_response_alg,
        id_token_ttl=args.id_token_ttl,
        session_refresh_tokens=args.session_refresh_tokens,
        include_roles=args.include_roles,
        include_groups=args.include_groups,
        **_security_values(args),
    )

    async def action(services: Services) -> None:
        clients = services.store.clients
        try:
            client, secret = await register(clients, spec, services.client_keys.seal_secret)
        except RegistrationError as exc:
            raise CommandError(str(exc)) from None
        if args.require_mfa:
            client = await clients.update(client.client_id, require_mfa=True) or client
        await services.audit.record(
            "client.created",
            actor=ACTOR,
            client_id=client.client_id,
            details={"after": client.public_view()},
        )
        document = client.public_view()
        if secret:
            document["client_secret"] = secret
        if args.json:
            emit_json(document)
        else:
            say(f"created client {client.client_id}")
            if secret:
                say(f"client_secret: {secret}\n(shown once; only its hash is stored)")

    run_with_services(action)


def list_clients(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        clients = [c.public_view() for c in await services.store.clients.list()]
        columns = ["client_id", "client_name", "public", "require_mfa", "grant_types", "scope"]
        listing(args.json, clients, columns)

    run_with_services(action)


def show_client(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        client = required(
            await services.store.clients.get(args.client_id), f"client {args.client_id!r}"
        )
        if args.json:
            emit_json(client.public_view())
        else:
            for key, value in client.public_view().items():
                print(f"{key}: {value}")
        # A row stored before a registration rule (a wildcard redirect URI) is shown as it
        # is; the operator learns why it never matches and why an update would be refused.
        for warning in stored_problems(registered_uris(client)):
            say(f"warning: {warning}")

    run_with_services(action)


def refuse_built_in(client_id: str) -> None:
    """The admin console's own client is kept in shape by the server at every start; a
    change by hand could lock every administrator out (the admin API refuses it too)."""
    if is_built_in(client_id):
        raise CommandError(f"client {client_id!r} is the admin console's own; it cannot change")


def registered_uris(client: Client) -> list[tuple[str, str]]:
    """Every URI a registration holds, named as registration errors name them."""
    uris = [("redirect URI", uri) for uri in client.redirect_uris]
    uris += [("post-logout redirect URI", uri) for uri in client.post_logout_redirect_uris]
    if client.backchannel_logout_uri:
        uris.append(("back-channel logout URI", client.backchannel_logout_uri))
    return uris


def delete_client(args: argparse.Namespace) -> None:
    refuse_built_in(args.client_id)

    async def action(services: Services) -> None:
        if not await lifecycle.delete_client(services, args.client_id, actor=ACTOR):
            raise CommandError(f"no client {args.client_id!r}")
        reply(
            args.json,
            {"client_id": args.client_id, "deleted": True},
            f"deleted client {args.client_id}",
        )

    run_with_services(action)
