"""Upstream identity providers in a state document, checked as the admin API checks them:
the claim-mapping rules parse, the preset's connector accepts the settings.

A provider's client secret travels only sealed (``sealing``) and is accepted only under
the OSTIARY_SECRET_KEY that sealed it; left out, the secret the provider has stays.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary.federation.connectors import connector_for
from ostiary.federation.mapping import MappingError, parse_rules
from ostiary.federation.providers import ProviderConfigError, check_provider
from ostiary.portable import sealing
from ostiary.portable.document import ProviderEntry
from ostiary.portable.entries import provider_entry
from ostiary.portable.plan import Phase, Planning, differences
from ostiary.portable.snapshot import providers


def plan(p: Planning) -> None:
    given = p.doc.providers
    if given is None:
        return
    for index, entry in p.unique("providers", given, lambda e: e.name):
        try:
            _plan_one(p, entry)
        except (ProviderConfigError, MappingError, sealing.SealedSecretError, ValueError) as exc:
            p.problem("providers", index, entry.name, str(exc))
    for name in p.pruned("providers", set(p.now.providers), {e.name for e in given}):

        async def delete(name: str = name) -> None:
            await providers(p.services).delete(name)
            await p.record("provider.deleted", details={"name": name})

        p.add(Phase.PRUNE_PROVIDERS, "delete", "provider", name, delete)


def _secret(p: Planning, entry: ProviderEntry) -> str | None:
    if entry.client_secret_sealed is None:
        return None
    root = p.services.settings.require_secret_key()
    here = sealing.key_id(root)
    if p.doc.secret_key_id != here:
        raise ValueError(
            f"client_secret_sealed was sealed under another OSTIARY_SECRET_KEY (key id "
            f"{p.doc.secret_key_id}, this server's is {here}): leave it out to keep the "
            "provider's secret, then set it with `ostiary provider update "
            f"{entry.name} --client-secret-stdin`"
        )
    return sealing.unseal(root, entry.name, entry.client_secret_sealed)


def _settings(entry: ProviderEntry) -> dict[str, Any]:
    """The members given, as Provider fields; null means the default, as in the admin API."""
    given: dict[str, Any] = {}
    for name in entry.model_fields_set - {"name", "preset", "client_secret_sealed"}:
        value = getattr(entry, name)
        if value is not None:
            given[name] = tuple(value) if name in ("scopes", "mapping") else value
    return given


def _plan_one(p: Planning, entry: ProviderEntry) -> None:
    connector = connector_for(entry.preset)
    secret = _secret(p, entry)
    current = p.now.providers.get(entry.name)
    if secret is None and current is not None:
        secret = current.client_secret
    base = entry.started(client_secret=secret)
    wanted = dataclasses.replace(base, **_settings(entry))
    parse_rules(wanted.mapping)
    wanted = check_provider(connector.configure(wanted))
    repo = providers(p.services)
    issuer = p.services.settings.issuer
    if current is None:

        async def create() -> None:
            added = await repo.add(wanted)
            await p.record("provider.created", details={"after": added.public_view(issuer)})

        p.add(Phase.PROVIDERS, "create", "provider", entry.name, create)
        return
    if current.preset != wanted.preset:
        raise ValueError("preset cannot change: add a provider under another name")
    changed = differences(provider_entry(current, None), provider_entry(wanted, None))
    new_secret = secret != current.client_secret
    if not changed and not new_secret:
        return

    async def change() -> None:
        stored = await repo.replace(wanted)
        old, new = current.public_view(issuer), stored.public_view(issuer)
        details: dict[str, Any] = {
            "name": entry.name,
            "before": {k: old[k] for k in changed},
            "after": {k: new[k] for k in changed},
        }
        if new_secret:
            details["client_secret_changed"] = True
        await p.record("provider.updated", details=details)

    listed = changed + (["client_secret"] if new_secret else [])
    p.add(Phase.PROVIDERS, "update", "provider", entry.name, change, ", ".join(listed))
