"""Clients in a state document, checked by ``oauth.registration`` as every door does."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary.accounts import lifecycle
from ostiary.admin.client_schemas import spec_changes
from ostiary.domain.clients import Client
from ostiary.oauth.registration import ClientSpec, RegistrationError, check, register, update
from ostiary.portable.document import ClientEntry
from ostiary.portable.entries import client_entry, decode_hash
from ostiary.portable.plan import Phase, Planning, differences

# Every registration field but the two that never change (RFC 7591 §2 names aside).
_UPDATABLE = tuple(
    f.name for f in dataclasses.fields(ClientSpec) if f.name not in ("client_id", "public")
)


def plan(p: Planning) -> None:
    given = p.doc.clients
    if given is None:
        return
    for index, entry in p.unique("clients", given, lambda e: e.client_id, "client_id"):
        try:
            _plan_one(p, entry)
        except (RegistrationError, ValueError) as exc:
            p.problem("clients", index, entry.client_id, str(exc))
    current, named = set(p.now.clients), {e.client_id for e in given}
    for client_id in p.pruned("clients", current, named):

        async def delete(client_id: str = client_id) -> None:
            await lifecycle.delete_client(p.services, client_id, actor="cli")

        p.add(Phase.PRUNE_CLIENTS, "delete", "client", client_id, delete)


def _plan_one(p: Planning, entry: ClientEntry) -> None:
    changes = spec_changes(entry)
    changes.pop("client_secret_hash", None)
    require_mfa = bool(entry.require_mfa)
    blank = ClientSpec(name=entry.client_name, redirect_uris=[], grant_types=[], scopes=[])
    spec = dataclasses.replace(blank, **changes)
    grant_types, method = check(spec)
    digest = decode_hash(entry.client_secret_hash) if entry.client_secret_hash else None
    if spec.public and digest is not None:
        raise ValueError("a public client has no secret: drop client_secret_hash")
    wanted = client_entry(_as_client(spec, grant_types, method, digest, require_mfa))
    current = p.now.clients.get(entry.client_id)
    if current is None:
        run = _create(p, spec, digest, require_mfa)
        p.add(Phase.CLIENTS, "create", "client", entry.client_id, run)
        return
    if current.public != spec.public:
        raise ValueError(
            "whether a client is public cannot change: delete the client, then import it"
        )
    changed = differences(client_entry(current), wanted, "client_secret_hash")
    new_secret = digest is not None and digest != current.secret_hash
    if changed or new_secret:
        listed = changed + (["client_secret_hash"] if new_secret else [])
        run = _update(p, current, spec, digest if new_secret else None, changed, require_mfa)
        p.add(Phase.CLIENTS, "update", "client", entry.client_id, run, ", ".join(listed))


def _as_client(
    spec: ClientSpec, grant_types: list[str], method: str, digest: bytes | None, require_mfa: bool
) -> Client:
    """The registration the spec stores, to compare in the one entry form."""
    oidc = spec.oidc_fields()
    oidc["post_logout_redirect_uris"] = tuple(oidc["post_logout_redirect_uris"])
    return Client(
        client_id=spec.client_id or "",
        name=spec.name,
        secret_hash=digest,
        public=spec.public,
        token_endpoint_auth_method=method,
        redirect_uris=tuple(spec.redirect_uris),
        grant_types=frozenset(grant_types),
        scopes=frozenset(spec.scopes),
        audience=tuple(spec.audience or []),
        first_party=spec.first_party,
        access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
        created_at=0,
        require_mfa=require_mfa,
        **oidc,
    )


def _create(p: Planning, spec: ClientSpec, digest: bytes | None, require_mfa: bool) -> Any:
    async def run() -> None:
        clients = p.services.store.clients
        client, secret = await register(clients, spec)
        # The MFA policy is stored beside the registration (no ClientSpec field).
        stored: dict[str, Any] = {"require_mfa": True} if require_mfa else {}
        if digest is not None:
            # The exported hash, so the secret the client holds keeps working.
            stored["secret_hash"] = digest
        if stored:
            client = await clients.update(client.client_id, **stored) or client
        if digest is None and secret is not None:
            p.new_secrets[client.client_id] = secret
        await p.record(
            "client.created", client_id=client.client_id, details={"after": client.public_view()}
        )

    return run


def _update(
    p: Planning,
    current: Client,
    spec: ClientSpec,
    digest: bytes | None,
    changed: list[str],
    require_mfa: bool,
) -> Any:
    async def run() -> None:
        clients = p.services.store.clients
        client_id = current.client_id
        if set(changed) - {"require_mfa"}:
            await update(clients, client_id, **{f: getattr(spec, f) for f in _UPDATABLE})
        stored: dict[str, Any] = {"secret_hash": digest} if digest is not None else {}
        if "require_mfa" in changed:
            stored["require_mfa"] = require_mfa
        if stored:
            await clients.update(client_id, **stored)
        after = await clients.get(client_id)
        assert after is not None
        old, new = current.public_view(), after.public_view()
        details: dict[str, Any] = {
            "before": {k: old[k] for k in changed},
            "after": {k: new[k] for k in changed},
        }
        if digest is not None:
            details["client_secret_changed"] = True
        await p.record("client.updated", client_id=client_id, details=details)

    return run
