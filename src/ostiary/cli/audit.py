"""ostiary audit: read and export the audit log."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, table
from ostiary.domain.audit import AuditEvent
from ostiary.services import Services

DEFAULT_LIMIT = 100
EXPORT_PAGE = 500
PSEUDONYM_PREFIX = "deleted:"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="read the audit log, oldest event first")
    parser.add_argument("--user", help="username or user id (or the pseudonym of a deleted user)")
    parser.add_argument("--since", help="ISO 8601 date or time, e.g. 2026-01-31T12:00:00Z")
    parser.add_argument("--type", help="event type, e.g. login.failure")
    parser.add_argument("--client", help="client_id")
    parser.add_argument("--after", type=int, metavar="ID", help="events after this event id")
    parser.add_argument(
        "--limit",
        type=int,
        help=f"at most this many events (default {DEFAULT_LIMIT}; --jsonl: no limit)",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON array")
    out.add_argument(
        "--jsonl", action="store_true", help="export: one JSON object per line, every match"
    )
    parser.set_defaults(func=audit)


def parse_since(value: str) -> int:
    """ISO 8601 to Unix seconds; a time without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


async def _user_id(services: Services, key: str) -> str:
    user = await services.store.users.find(key)
    if user is not None:
        return user.id
    if key.startswith(PSEUDONYM_PREFIX):
        return key
    raise CommandError(f"no user {key!r}")


def audit(args: argparse.Namespace) -> None:
    since = parse_since(args.since) if args.since else None
    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")

    async def action(services: Services) -> None:
        filters: dict[str, Any] = {
            "user_id": await _user_id(services, args.user) if args.user else None,
            "since": since,
            "type": args.type,
            "client_id": args.client,
        }
        if args.jsonl:
            await _export(services, filters, args.after, args.limit)
            return
        events = await services.store.audit.query(
            **filters, after_id=args.after, limit=args.limit or DEFAULT_LIMIT
        )
        if args.json:
            emit_json([e.as_json() for e in events])
        else:
            rows = [
                {k: "-" if v is None else v for k, v in {**e.as_json(), "at": iso(e.at)}.items()}
                for e in events
            ]
            table(rows, ["id", "at", "type", "outcome", "actor", "user_id", "client_id", "reason"])

    run_with_services(action)


async def _export(
    services: Services, filters: dict[str, Any], after: int | None, limit: int | None
) -> None:
    """Every matching event, page by page with the keyset cursor (constant memory)."""
    written = 0
    while limit is None or written < limit:
        size = EXPORT_PAGE if limit is None else min(EXPORT_PAGE, limit - written)
        page: list[AuditEvent] = await services.store.audit.query(
            **filters, after_id=after, limit=size
        )
        for event in page:
            sys.stdout.write(orjson.dumps(event.as_json()).decode() + "\n")
        written += len(page)
        if len(page) < size:
            break
        after = page[-1].id
    sys.stdout.flush()
