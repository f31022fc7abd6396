"""ostiary export | import: the configuration as one JSON document (configuration as code)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, say
from ostiary.domain.federation import AlreadyLinkedError, DuplicateProviderError
from ostiary.domain.users import DuplicateUserError, EmailTaken
from ostiary.portable.apply import Stopped, apply
from ostiary.portable.document import InvalidDocument, dumps, parse
from ostiary.portable.export import counts, export
from ostiary.portable.plan import Change
from ostiary.services import Services

# What a change can meet when the database moved between the check and the write (another
# writer got there first): said in one line, after what was applied.
_CONFLICTS = (
    EmailTaken,
    ValueError,
    LookupError,
    DuplicateUserError,
    DuplicateProviderError,
    AlreadyLinkedError,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    out = sub.add_parser(
        "export",
        help="print the configuration as one JSON document (clients, scopes, roles, groups, "
        "providers; users with --include-users)",
    )
    out.add_argument(
        "--include-users",
        action="store_true",
        help="add users with their password hashes, roles, groups and linked identities",
    )
    out.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    out.set_defaults(func=export_state)

    into = sub.add_parser(
        "import",
        help="apply a document from `ostiary export`: create what is missing, update what differs",
    )
    into.add_argument("file", help="the document, or - for standard input")
    into.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    into.add_argument(
        "--prune",
        action="store_true",
        help="also delete what a section of the document does not name",
    )
    into.add_argument("--json", action="store_true", help="a summary document on stdout")
    into.set_defaults(func=import_state)


def export_state(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        document = await export(services, include_users=args.include_users)
        data = dumps(document)
        if args.output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        _write(args.output, data, private=args.include_users)
        say(f"wrote {counts(document)} to {args.output}")

    run_with_services(action)


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Replace the file whole (never half-written); owner-only when it holds password hashes."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from None


def import_state(args: argparse.Namespace) -> None:
    source = "standard input" if args.file == "-" else args.file
    try:
        document = parse(_read(args.file))
    except InvalidDocument as exc:
        raise CommandError(f"{source}: {exc}; nothing was changed") from None

    def done(change: Change) -> None:
        say(change.line(done=True))

    async def action(services: Services) -> None:
        try:
            outcome = await apply(
                services, document, prune=args.prune, dry_run=args.dry_run, on_done=done
            )
        except InvalidDocument as exc:
            raise CommandError(f"{source}: {exc}; nothing was changed") from None
        except Stopped as exc:
            left = f"{exc.applied} of {exc.total} changes were applied (listed above)"
            if isinstance(exc.__cause__, _CONFLICTS):
                raise CommandError(f"{exc}: {exc.__cause__}; {left}") from None
            say(f"error: {exc}; {left}")
            raise exc.__cause__ from None  # type: ignore[misc]
        if args.dry_run:
            for change in outcome.changes:
                say(change.line(done=False))
        if not outcome.changes:
            say(f"nothing to change: the database matches {source}")
        elif args.dry_run:
            say(f"dry run: {len(outcome.changes)} changes, none made")
        for client_id, secret in outcome.new_secrets.items():
            if not args.json:
                say(
                    f"client_secret of {client_id}: {secret}\n(shown once; only its hash is stored)"
                )
        if args.json:
            summary: dict[str, object] = {
                "dry_run": args.dry_run,
                "prune": args.prune,
                "changed": 0 if args.dry_run else outcome.applied,
                "changes": [c.summary() for c in outcome.changes],
            }
            if outcome.new_secrets:
                summary["client_secrets"] = outcome.new_secrets
            emit_json(summary)

    run_with_services(action)
