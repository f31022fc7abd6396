"""``ostiary export``: the configuration of a database as one state document."""

from __future__ import annotations

from typing import Any

from ostiary.portable import entries, sealing, snapshot
from ostiary.portable.document import FORMAT, VERSION
from ostiary.services import Services


async def export(services: Services, *, include_users: bool) -> dict[str, Any]:
    """Every section sorted by name or id; users (with password hashes) only when asked."""
    state = await snapshot.read(services, users=include_users)
    root = services.settings.require_secret_key()
    provider_entries = [
        entries.provider_entry(
            p, sealing.seal(root, p.name, p.client_secret) if p.client_secret else None
        )
        for p in state.providers.values()
    ]
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "roles": [entries.role_entry(r) for r in state.roles.values()],
        "scopes": [entries.scope_entry(s) for s in state.scopes.values()],
        "providers": provider_entries,
        "clients": [entries.client_entry(c) for c in state.clients.values()],
        "groups": [entries.group_entry(g) for g in state.groups.values()],
    }
    if any(p["client_secret_sealed"] for p in provider_entries):
        # Import accepts sealed values only under the key that sealed them.
        document["secret_key_id"] = sealing.key_id(root)
    if include_users:
        document["users"] = sorted(
            (entries.user_entry(u) for u in state.users.values()), key=lambda u: u["username"]
        )
    for section, key in (
        ("roles", "name"),
        ("scopes", "name"),
        ("providers", "name"),
        ("clients", "client_id"),
        ("groups", "name"),
    ):
        document[section].sort(key=lambda item, key=key: item[key])
    return document


def counts(document: dict[str, Any]) -> str:
    """``clients: 3, roles: 2, ...`` for the message on stderr."""
    return ", ".join(
        f"{s}: {len(document[s])}"
        for s in ("clients", "scopes", "roles", "groups", "providers", "users")
        if s in document
    )
