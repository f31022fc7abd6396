"""ostiary user create | list | show | disable | set-password | mfa list | mfa reset"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from datetime import UTC, datetime

from ostiary.accounts import lifecycle, password_policy
from ostiary.accounts.mfa import admin as mfa_admin
from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import (
    CommandError,
    emit_json,
    listing,
    read_secret_stdin,
    reply,
    say,
    table,
)
from ostiary.cli.roles import ACTOR, require_user
from ostiary.domain import identifiers
from ostiary.domain.users import DuplicateUserError, EmailTaken
from ostiary.services import Services
from ostiary.settings import load_settings
from ostiary.storage import email_index


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser("user", help="manage local users")
    cmds = parser.add_subparsers(dest="action", required=True)

    def create(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--username", required=True)
        cmd.add_argument("--email")
        cmd.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        _profile_arguments(cmd)

    def update(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--email")
        cmd.add_argument(
            "--clear-email", action="store_true", help="remove the account's email address"
        )
        _profile_arguments(cmd)

    def duplicates(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--duplicate-emails",
            action="store_true",
            help="list only accounts sharing an email address with another (case-insensitive)",
        )

    command(cmds, "create", create_user, "create a user", options=create)
    text = "change a user's email, phone or profile claims"
    command(cmds, "update", update_user, text, "username", options=update)
    command(cmds, "list", list_users, "list users", options=duplicates)
    for name, func, text in (
        ("show", show_user, "show one user"),
        ("disable", disable_user, "disable a user and end their sessions and tokens"),
        ("enable", enable_user, "enable a disabled user"),
        ("set-password", set_password, "set a password (stdin, or prompted on a terminal)"),
        ("delete", delete_user, "delete a user; their audit trail is pseudonymised"),
    ):
        command(cmds, name, func, text, "username")
    _add_mfa_parser(cmds)


def _add_mfa_parser(cmds: Subcommands) -> None:
    mfa = cmds.add_parser("mfa", help="list or remove a user's second factors")
    mfa_cmds = mfa.add_subparsers(dest="mfa_action", required=True)

    def one_factor(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--factor", metavar="ID", help="remove only this factor")

    user = "username:username or user id"
    command(mfa_cmds, "list", list_mfa, "list a user's second factors", user)
    text = "remove a user's factors and recovery codes (or one, --factor); sessions end"
    command(mfa_cmds, "reset", reset_mfa, text, user, options=one_factor)


PROFILE_OPTIONS = ("name", "given_name", "family_name", "nickname", "picture", "locale", "zoneinfo")


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    """OpenID Connect standard claims (OIDC Core §5.1) an operator may set."""
    for claim in PROFILE_OPTIONS:
        parser.add_argument("--" + claim.replace("_", "-"), dest=claim)
    parser.add_argument("--email-verified", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--phone-number")
    parser.add_argument(
        "--phone-number-verified", action=argparse.BooleanOptionalAction, default=None
    )


def _profile_of(args: argparse.Namespace) -> dict[str, str]:
    return {c: getattr(args, c) for c in PROFILE_OPTIONS if getattr(args, c) is not None}


NO_LOCAL_LOGIN = (
    "local passwords are disabled (OSTIARY_LOCAL_LOGIN=false): no password is stored; "
    "users sign in with an upstream identity provider"
)


def _password(from_stdin: bool, *, username: str | None = None, email: str | None = None) -> str:
    if not load_settings().local_login:
        raise CommandError(NO_LOCAL_LOGIN)
    if from_stdin or not sys.stdin.isatty():
        password = read_secret_stdin("password")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    # The same policy as the account pages and the admin API.
    found = password_policy.problems(
        password,
        min_length=load_settings().passwords.min_length,
        username=username,
        email=email,
    )
    if found:
        raise CommandError(" ".join(found))
    return password


def _checked(args: argparse.Namespace, *, create: bool) -> None:
    """The rules every door shares (``domain.identifiers``), applied to the arguments in
    place. An argument holding bytes that are not UTF-8 arrives with lone surrogates
    (PEP 383), which the rules refuse."""
    try:
        if create:
            args.username = identifiers.username(args.username, "--username")
        if args.email is not None:
            args.email = identifiers.email(args.email, "--email")
        for name in (*PROFILE_OPTIONS, "phone_number"):
            value = getattr(args, name)
            if value is not None:
                identifiers.single_line(value, "--" + name.replace("_", "-"))
    except identifiers.InvalidIdentifier as exc:
        raise CommandError(str(exc)) from None


def create_user(args: argparse.Namespace) -> None:
    _checked(args, create=True)
    username = args.username
    password = _password(True, username=username, email=args.email) if args.password_stdin else None

    async def action(services: Services) -> None:
        password_hash = await services.passwords.hash(password) if password else None
        try:
            user = await services.store.users.add(
                username=username,
                email=args.email,
                password_hash=password_hash,
                email_verified=bool(args.email_verified),
                phone_number=args.phone_number,
                phone_number_verified=bool(args.phone_number_verified),
                profile=_profile_of(args),
            )
        except (DuplicateUserError, EmailTaken) as exc:
            raise CommandError(str(exc)) from None
        await services.audit.record(
            "user.created", actor=ACTOR, user_id=user.id, details={"after": user.public_view()}
        )
        reply(args.json, user.public_view(), f"created user {user.username} ({user.id})")

    run_with_services(action)


def update_user(args: argparse.Namespace) -> None:
    _checked(args, create=False)
    if args.clear_email and args.email is not None:
        raise CommandError("give --email or --clear-email, not both")

    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        changes: dict[str, object] = {}
        for name in ("email", "email_verified", "phone_number", "phone_number_verified"):
            if getattr(args, name) is not None:
                changes[name] = getattr(args, name)
        if args.clear_email:
            changes["email"] = None
        if "email" in changes and "email_verified" not in changes:
            changes["email_verified"] = False  # a new address is unverified until said so
        profile = _profile_of(args)
        if profile:
            changes["profile"] = {**user.profile, **profile}
        if not changes:
            raise CommandError("nothing to change: give at least one option")
        try:
            await services.store.users.update_profile(user.id, **changes)
        except EmailTaken as exc:
            raise CommandError(str(exc)) from None
        updated = await require_user(services, user.id)
        await services.audit.record(
            "user.updated",
            actor=ACTOR,
            user_id=user.id,
            details={"before": {k: getattr(user, k) for k in changes}, "after": changes},
        )
        reply(args.json, updated.public_view(), f"updated {updated.username}")

    run_with_services(action)


def list_users(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        if args.duplicate_emails:
            await _list_duplicate_emails(services, as_json=args.json)
            return
        users = [u.public_view() for u in await services.store.users.list()]
        listing(args.json, users, ["id", "username", "email", "disabled"])

    run_with_services(action)


async def _list_duplicate_emails(services: Services, *, as_json: bool) -> None:
    """Accounts sharing an address: what keeps the unique index on addresses out
    (``storage.email_index``); it is created by the next command once none are left."""
    async with services.engine.connect() as conn:
        groups = await conn.run_sync(email_index.duplicate_groups)
    if as_json:
        emit_json(
            [
                {
                    "address": group.address,
                    "accounts": [
                        {"id": user_id, "username": username, "email": email}
                        for user_id, username, email in group.accounts
                    ],
                }
                for group in groups
            ]
        )
        return
    rows = [
        {"email": email, "id": user_id, "username": username}
        for group in groups
        for user_id, username, email in group.accounts
    ]
    if not rows:
        say("no email address belongs to more than one account")
        return
    table(rows, ["email", "username", "id"])
    say(
        f"{len(groups)} address(es) shared: give each account its own "
        "(`ostiary user update USER --email ...` or `--clear-email`)"
    )


def show_user(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        if args.json:
            emit_json(user.public_view())
        else:
            for key, value in user.public_view().items():
                print(f"{key}: {value}")

    run_with_services(action)


def disable_user(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        cutoff = await lifecycle.disable(services, user, actor=ACTOR)
        reply(
            args.json,
            {**user.public_view(), "disabled": True, **dataclasses.asdict(cutoff)},
            f"disabled {user.username}; ended {cutoff.sessions_ended} session(s); "
            "their tokens are revoked",
        )

    run_with_services(action)


def enable_user(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        await services.store.users.set_disabled(user.id, False)
        await services.audit.record("user.enabled", actor=ACTOR, user_id=user.id)
        reply(args.json, {**user.public_view(), "disabled": False}, f"enabled {user.username}")

    run_with_services(action)


def set_password(args: argparse.Namespace) -> None:
    password = _password(False, username=args.username)

    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        await services.store.users.set_password_hash(
            user.id, await services.passwords.hash(password)
        )
        await services.audit.record("user.password_set", actor=ACTOR, user_id=user.id)
        reply(
            args.json,
            {"id": user.id, "username": user.username, "password_set": True},
            f"password set for {user.username}",
        )

    run_with_services(action)


def delete_user(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        cutoff = await lifecycle.delete(services, user, actor=ACTOR)
        reply(
            args.json,
            {
                "id": user.id,
                "username": user.username,
                "deleted": True,
                **dataclasses.asdict(cutoff),
            },
            f"deleted {user.username}; ended {cutoff.sessions_ended} session(s) and "
            f"revoked {cutoff.refresh_tokens_revoked} refresh token(s)",
        )

    run_with_services(action)


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "never"


def list_mfa(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        factors = services.store.factors
        found = await factors.for_user(user.id)
        left = await factors.recovery_codes_left(user.id)
        if args.json:
            emit_json({"factors": [f.public_view() for f in found], "recovery_codes_left": left})
            return
        rows = [
            {
                **f.public_view(),
                "created": _when(f.created_at),
                "last used": _when(f.last_used_at),
            }
            for f in found
        ]
        table(rows, ["id", "kind", "name", "created", "last used", "confirmed"])
        say(f"{len(rows)} factor(s); {left} unused recovery code(s)")

    run_with_services(action)


def reset_mfa(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        removed = await mfa_admin.reset(services, user.id, actor=ACTOR, factor_id=args.factor)
        if removed is None:
            raise CommandError(f"user {user.username} has no factor {args.factor!r}")
        reply(
            args.json,
            {"id": user.id, "username": user.username, **removed.view()},
            f"removed {len(removed.factors)} factor(s) of {user.username}"
            + (" and their recovery codes" if removed.recovery_codes_deleted else "")
            + f"; ended {removed.sessions_ended} session(s)",
        )

    run_with_services(action)
