"""After the upstream said who it is: the account, its mapped access, the audit record."""

from __future__ import annotations

from dataclasses import dataclass

from ostiary import clock
from ostiary.domain.federation import SealedTokens
from ostiary.domain.users import User
from ostiary.federation import mapping, sealing
from ostiary.federation.connectors.base import Identity, TokenResponse
from ostiary.federation.deps import FederationDeps
from ostiary.federation.linking import resolve_user
from ostiary.federation.providers import Provider

# Not an RFC 8176 value: says the user authenticated at an upstream provider that gave no amr.
AMR_FEDERATED = "fed"


@dataclass(frozen=True, slots=True)
class FederatedSignIn:
    user: User
    amr: tuple[str, ...]
    acr: str | None
    roles: list[str]
    groups: list[str]


async def complete(
    services: FederationDeps,
    provider: Provider,
    identity: Identity,
    tokens: TokenResponse,
    *,
    link_user_id: str | None,
    ip: str | None = None,
) -> FederatedSignIn:
    user, linked_now = await resolve_user(services, provider, identity, link_user_id=link_user_id)
    repo = services.store.federation
    await repo.touch(
        provider.name, identity.subject, identity.email, _kept(services, provider, tokens)
    )
    # Re-evaluated at every upstream login: what the upstream no longer says, goes.
    mapped = mapping.evaluate(mapping.parse_rules(provider.mapping), identity.claims)
    roles, groups = await repo.apply_mapping(
        user.id, provider.name, set(mapped.roles), set(mapped.groups)
    )
    if linked_now:
        await services.audit.record(
            "federation.linked",
            actor=f"user:{user.id}",
            user_id=user.id,
            ip=ip,
            details={"provider": provider.name},
        )
    await services.audit.record(
        "login.success",
        actor=f"user:{user.id}",
        user_id=user.id,
        ip=ip,
        details={
            "method": "federation",
            "provider": provider.name,
            "roles": roles,
            "groups": groups,
        },
    )
    return FederatedSignIn(user, identity.amr or (AMR_FEDERATED,), identity.acr, roles, groups)


def _kept(
    services: FederationDeps, provider: Provider, tokens: TokenResponse
) -> SealedTokens | None:
    """Upstream tokens only when the provider is configured to keep them, sealed."""
    if not provider.store_tokens:
        return None
    sealer = sealing.upstream_tokens(services.settings)
    refresh = tokens.refresh_token
    return SealedTokens(
        access_token=sealer.seal(tokens.access_token.encode()),
        refresh_token=sealer.seal(refresh.encode()) if refresh else None,
        expires_at=clock.now() + tokens.expires_in if tokens.expires_in else None,
    )
