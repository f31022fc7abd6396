"""Which local account an upstream identity signs in to: link, provision, or refuse.

The link key is (provider, upstream sub). An identity not linked yet is linked to the
account signed in while linking, or to the one account whose address the provider
verified when the provider is trusted for email (or provisioning is "existing");
otherwise a new account is made just in time when the provider allows it.
"""

from __future__ import annotations

import dataclasses
import re
import secrets

from ostiary.domain import identifiers
from ostiary.domain.federation import AlreadyLinkedError
from ostiary.domain.users import DuplicateUserError, EmailTaken, User
from ostiary.federation.connectors.base import Identity
from ostiary.federation.deps import FederationDeps
from ostiary.federation.errors import FederationError
from ostiary.federation.providers import Provider
from ostiary.storage.repos.federation_identities import FederationRepository

_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")
_PROFILE_CLAIMS = ("name", "given_name", "family_name", "locale", "picture")


async def resolve_user(
    services: FederationDeps, provider: Provider, identity: Identity, *, link_user_id: str | None
) -> tuple[User, bool]:
    """The account to sign in, and whether it was linked just now."""
    identity = upstream_checked(identity)
    repo = services.store.federation
    users = services.store.users
    linked = await repo.find(provider.name, identity.subject)
    if linked is not None:
        if link_user_id is not None and link_user_id != linked.user_id:
            raise FederationError(
                f"This {provider.display_name} account is already linked to another account.",
                409,
            )
        user = await users.get(linked.user_id)
        return _usable(user), False
    if link_user_id is not None:
        return await _link(repo, provider, identity, _usable(await users.get(link_user_id))), True
    by_email = await _by_verified_email(services, provider, identity)
    if by_email is not None:
        return await _link(repo, provider, identity, _usable(by_email)), True
    if provider.provisioning != "allow":
        raise FederationError(
            f"There is no account here for this {provider.display_name} identity. "
            "Ask an administrator to create one.",
            403,
            detail=f"provisioning={provider.provisioning}, no matching account",
        )
    if identity.email and await services.store.accounts.email_holders(identity.email):
        # Never link by email alone; never make a second account with the same address.
        raise _email_in_use(provider)
    user = await _provision(services, provider, identity)
    return await _link(repo, provider, identity, user), True


def _email_in_use(provider: Provider) -> FederationError:
    return FederationError(
        "An account with this email address exists already. Sign in to it first, then "
        f"link {provider.display_name} on your account page.",
        409,
        detail="email matches an existing account; provider not trusted for email",
    )


def upstream_checked(identity: Identity) -> Identity:
    """The identity with an address the local rule (``identifiers.email``, the one every
    door applies) refuses left out, as if the upstream had sent none, and the address
    normalised otherwise: the account is still found or made, without that value."""
    if identity.email is None:
        return identity
    try:
        address: str | None = identifiers.email(identity.email)
    except identifiers.InvalidIdentifier:
        address = None
    return dataclasses.replace(
        identity, email=address, email_verified=identity.email_verified and bool(address)
    )


def _usable(user: User | None) -> User:
    if user is None or user.disabled:
        raise FederationError("This account is disabled.", 403, detail="linked user disabled")
    return user


async def _by_verified_email(
    services: FederationDeps, provider: Provider, identity: Identity
) -> User | None:
    may_match = provider.trust_email or provider.provisioning == "existing"
    if not (may_match and identity.email and identity.email_verified):
        return None
    found = await services.store.accounts.email_holders(identity.email)
    # Two accounts with one address: ambiguous, so neither.
    return await services.store.users.get(found[0]) if len(found) == 1 else None


async def _link(
    repo: FederationRepository, provider: Provider, identity: Identity, user: User
) -> User:
    try:
        await repo.link(provider.name, identity.subject, user.id, identity.email)
    except AlreadyLinkedError:
        raise FederationError("This identity was linked a moment ago; try again.", 409) from None
    return user


def username_candidates(provider: Provider, identity: Identity) -> list[str]:
    hints = [identity.username_hint, identity.email]
    base = next((h for h in hints if h), None) or f"{provider.name}-{identity.subject}"
    clean = _USERNAME_CHARS.sub("-", base).strip("-.")[:120] or provider.name
    return [clean, f"{clean}-{provider.name}"[:150]] + [
        f"{clean}-{secrets.token_hex(3)}" for _ in range(3)
    ]


async def _provision(services: FederationDeps, provider: Provider, identity: Identity) -> User:
    profile = {k: identity.claims[k] for k in _PROFILE_CLAIMS if _one_line(identity.claims.get(k))}
    for candidate in username_candidates(provider, identity):
        try:
            username = identifiers.username(candidate)
        except identifiers.InvalidIdentifier:
            continue
        try:
            return await services.store.users.add(
                username=username,
                email=identity.email,
                # Federated accounts have no password: they sign in upstream.
                password_hash=None,
                email_verified=identity.email_verified,
                profile=profile,
            )
        except DuplicateUserError:
            continue
        except EmailTaken:
            # Another account took the address since the check above (a race).
            raise _email_in_use(provider) from None
    raise FederationError("Could not create an account; try again.", 409)


def _one_line(claim: object) -> bool:
    """A profile claim kept only when the single-line text rule accepts it."""
    if not isinstance(claim, str):
        return False
    try:
        identifiers.single_line(claim, "claim")
    except identifiers.InvalidIdentifier:
        return False
    return True
