"""ostiary provider add | list | show | update | delete"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ostiary.cli.context import run_with_services
from ostiary.cli.output import (
    CommandError,
    emit_json,
    read_secret_stdin,
    reply,
    required,
    say,
    table,
)
from ostiary.cli.roles import ACTOR, changed_views
from ostiary.domain.federation import DuplicateProviderError
from ostiary.federation.connectors import REGISTRY, connector_for, new_provider
from ostiary.federation.mapping import MappingError, parse_rules
from ostiary.federation.providers import PROVISIONING, Provider, ProviderConfigError, check_provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository


def _common(cmd: argparse.ArgumentParser, *, adding: bool) -> None:
    cmd.add_argument("--display-name")
    cmd.add_argument("--scope", help='space-separated, e.g. "openid email profile"')
    cmd.add_argument("--client-id", required=adding)
    cmd.add_argument(
        "--client-secret-stdin", action="store_true", help="read the secret from stdin"
    )
    cmd.add_argument("--provisioning", choices=PROVISIONING)
    cmd.add_argument("--trust-email", action=argparse.BooleanOptionalAction, default=None)
    cmd.add_argument(
        "--trust-mfa",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count the provider's amr/acr (MFA passed upstream) toward the MFA policy",
    )
    cmd.add_argument("--store-tokens", action=argparse.BooleanOptionalAction, default=None)
    cmd.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None)
    cmd.add_argument(
        "--map",
        action="append",
        dest="mapping",
        help="rule, e.g. 'groups contains \"admins\" -> role admin'",
    )
    cmd.add_argument(
        "--option",
        action="append",
        default=[],
        help="KEY=JSON connector option, e.g. tenants='[\"...\"]'",
    )
    cmd.add_argument("--json", action="store_true")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("provider", help="upstream identity providers (federation)")
    cmds = parser.add_subparsers(dest="action", required=True)
    add = cmds.add_parser("add", help="add an upstream provider")
    add.add_argument("--name", required=True)
    add.add_argument("--issuer", required=True)
    add.add_argument("--preset", choices=sorted(REGISTRY), default="oidc")
    _common(add, adding=True)
    add.set_defaults(func=add_provider)
    update = cmds.add_parser("update", help="change a provider")
    update.add_argument("name")
    update.add_argument("--issuer")
    _common(update, adding=False)
    update.set_defaults(func=update_provider)
    list_ = cmds.add_parser("list", help="list providers")
    list_.add_argument("--json", action="store_true")
    list_.set_defaults(func=list_providers)
    for name, func in (("show", show_provider), ("delete", delete_provider)):
        cmd = cmds.add_parser(name, help=f"{name} a provider")
        cmd.add_argument("name")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=func)


def _repo(services: Services) -> ProviderRepository:
    return ProviderRepository(services.engine, client_secrets(services.settings))


def _options(pairs: list[str], base: dict[str, Any]) -> dict[str, Any]:
    options = dict(base)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def _changes(args: argparse.Namespace, base: Provider) -> Provider:
    changes: dict[str, Any] = {}
    for field in (
        "display_name",
        "client_id",
        "provisioning",
        "trust_email",
        "trust_mfa",
        "store_tokens",
        "enabled",
        "issuer",
    ):
        value = getattr(args, field, None)
        if value is not None:
            changes[field] = value
    if args.scope is not None:
        changes["scopes"] = tuple(args.scope.split())
    if args.mapping is not None:
        changes["mapping"] = tuple(args.mapping)
    if args.client_secret_stdin:
        changes["client_secret"] = read_secret_stdin("client secret")
    changes["options"] = _options(args.option, base.options)
    provider = dataclasses.replace(base, **changes)
    try:
        parse_rules(provider.mapping)
        return check_provider(connector_for(provider.preset).configure(provider))
    except (ProviderConfigError, MappingError) as exc:
        raise CommandError(str(exc)) from None


def _view(services: Services, provider: Provider) -> dict[str, Any]:
    return provider.public_view(services.settings.issuer)


def _print(services: Services, provider: Provider, as_json: bool, verb: str) -> None:
    view = _view(services, provider)
    if as_json:
        emit_json(view)
    else:
        say(f"{verb} provider {provider.name}; register this redirect URI: {view['redirect_uri']}")


def add_provider(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        base = new_provider(
            name=args.name,
            preset=args.preset,
            issuer=args.issuer,
            client_id=args.client_id,
            display_name=args.display_name,
        )
        provider = _changes(args, base)
        try:
            provider = await _repo(services).add(provider)
        except DuplicateProviderError as exc:
            raise CommandError(str(exc)) from None
        await services.audit.record(
            "provider.created", actor=ACTOR, details={"after": _view(services, provider)}
        )
        _print(services, provider, args.json, "added")

    run_with_services(run)


def update_provider(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        repo = _repo(services)
        current = required(await repo.get(args.name), f"provider {args.name!r}")
        provider = await repo.replace(_changes(args, current))
        # The same event as the admin API's: what changed, and that the secret did.
        changed = changed_views(_view(services, current), _view(services, provider))
        if changed is not None or args.client_secret_stdin:
            details: dict[str, Any] = {
                "name": provider.name,
                **(changed or {"before": {}, "after": {}}),
            }
            if args.client_secret_stdin:
                details["client_secret_changed"] = True
            await services.audit.record("provider.updated", actor=ACTOR, details=details)
        _print(services, provider, args.json, "updated")

    run_with_services(run)


def list_providers(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        found = await _repo(services).list()
        if args.json:
            emit_json([_view(services, p) for p in found])
            return
        table(
            [
                {
                    "name": p.name,
                    "preset": p.preset,
                    "enabled": p.enabled,
                    "trust_mfa": p.trust_mfa,
                    "issuer": p.issuer,
                }
                for p in found
            ],
            ["name", "preset", "enabled", "trust_mfa", "issuer"],
        )

    run_with_services(run)


def show_provider(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        provider = required(await _repo(services).get(args.name), f"provider {args.name!r}")
        view = _view(services, provider)
        if args.json:
            emit_json(view)
        else:
            for key, value in view.items():
                say(f"{key}: {value}")

    run_with_services(run)


def delete_provider(args: argparse.Namespace) -> None:
    async def run(services: Services) -> None:
        if not await _repo(services).delete(args.name):
            raise CommandError(f"no provider {args.name!r}")
        await services.audit.record("provider.deleted", actor=ACTOR, details={"name": args.name})
        reply(
            args.json,
            {"name": args.name, "deleted": True},
            f"deleted provider {args.name} and its linked identities",
        )

    run_with_services(run)
