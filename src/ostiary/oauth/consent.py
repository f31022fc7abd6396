"""When a user must be asked before a client gets scopes."""

from __future__ import annotations

from ostiary.domain.clients import Client
from ostiary.tokens.deps import HasStore


async def needs_consent(
    services: HasStore, client: Client, user_id: str, scopes: frozenset[str]
) -> bool:
    # First-party clients are trusted by the operator and skip the question.
    if client.first_party:
        return False
    granted = await services.store.consents.granted(user_id, client.client_id)
    return granted is None or not scopes <= granted
