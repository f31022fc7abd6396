"""Linked upstream identities, pending upstream requests, and mapping-given access."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.federation import (
    AlreadyLinkedError,
    LinkedIdentity,
    PendingRequest,
    SealedTokens,
)
from ostiary.storage.repos.user_emails import same_address
from ostiary.storage.tables import (
    federated_identities,
    federation_states,
    group_members,
    groups,
    roles,
    user_roles,
    users,
)


def _identity(row: object) -> LinkedIdentity:
    m = row._mapping  # type: ignore[attr-defined]
    return LinkedIdentity(
        m["provider"], m["subject"], m["user_id"], m["email"], m["created_at"], m["last_login_at"]
    )


class FederationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- pending upstream requests ----------------------------------------------------

    async def add_pending(self, pending: PendingRequest) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(federation_states).values(
                    state_hash=pending.state_hash,
                    browser_hash=pending.browser_hash,
                    provider=pending.provider,
                    nonce=pending.nonce,
                    code_verifier_sealed=pending.code_verifier_sealed,
                    interaction_id=pending.interaction_id,
                    link_user_id=pending.link_user_id,
                    expires_at=pending.expires_at,
                )
            )

    async def take_pending(self, state_hash: bytes) -> PendingRequest | None:
        """The live request with this state, deleted in the same step: single use."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(federation_states).where(federation_states.c.state_hash == state_hash)
                )
            ).first()
            if row is None:
                return None
            result = await conn.execute(
                delete(federation_states).where(federation_states.c.state_hash == state_hash)
            )
        if result.rowcount != 1 or row.expires_at <= clock.now():
            return None
        return PendingRequest(**row._mapping)

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(federation_states).where(federation_states.c.expires_at <= clock.now())
            )
        return result.rowcount

    # -- linked identities --------------------------------------------------------------

    async def find(self, provider: str, subject: str) -> LinkedIdentity | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(federated_identities).where(
                        federated_identities.c.provider == provider,
                        federated_identities.c.subject == subject,
                    )
                )
            ).first()
        return _identity(row) if row else None

    async def link(
        self, provider: str, subject: str, user_id: str, email: str | None
    ) -> LinkedIdentity:
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(federated_identities).values(
                        provider=provider,
                        subject=subject,
                        user_id=user_id,
                        email=email,
                        created_at=now,
                        last_login_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyLinkedError(f"{provider}:{subject} is linked already") from None
        return LinkedIdentity(provider, subject, user_id, email, now, now)

    async def touch(
        self, provider: str, subject: str, email: str | None, tokens: SealedTokens | None
    ) -> None:
        """Record a login; keep the upstream tokens given, or drop any kept before."""
        token_values = {
            "access_token_sealed": tokens.access_token if tokens else None,
            "refresh_token_sealed": tokens.refresh_token if tokens else None,
            "token_expires_at": tokens.expires_at if tokens else None,
        }
        async with self._engine.begin() as conn:
            await conn.execute(
                update(federated_identities)
                .where(
                    federated_identities.c.provider == provider,
                    federated_identities.c.subject == subject,
                )
                .values(last_login_at=clock.now(), email=email, **token_values)
            )

    async def sealed_tokens(self, provider: str, subject: str) -> SealedTokens | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        federated_identities.c.access_token_sealed,
                        federated_identities.c.refresh_token_sealed,
                        federated_identities.c.token_expires_at,
                    ).where(
                        federated_identities.c.provider == provider,
                        federated_identities.c.subject == subject,
                    )
                )
            ).first()
        return SealedTokens(*row) if row else None

    async def for_user(self, user_id: str) -> list[LinkedIdentity]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(federated_identities)
                    .where(federated_identities.c.user_id == user_id)
                    .order_by(federated_identities.c.provider, federated_identities.c.created_at)
                )
            ).all()
        return [_identity(r) for r in rows]

    async def unlink(self, user_id: str, provider: str, subject: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(federated_identities).where(
                    federated_identities.c.user_id == user_id,
                    federated_identities.c.provider == provider,
                    federated_identities.c.subject == subject,
                )
            )
            # What this provider's mapping gave goes with its last link to the user.
            left = (
                await conn.execute(
                    select(federated_identities.c.subject).where(
                        federated_identities.c.user_id == user_id,
                        federated_identities.c.provider == provider,
                    )
                )
            ).first()
            if result.rowcount and left is None:
                await self._drop_mapped(conn, user_id, provider, set(), set())
        return result.rowcount > 0

    # -- access given by a claim mapping --------------------------------------------------

    async def apply_mapping(
        self, user_id: str, provider: str, role_names: set[str], group_names: set[str]
    ) -> tuple[list[str], list[str]]:
        """Make the mapping-given roles and groups of this provider exactly these.

        Rows a person assigned by hand (federation_provider NULL) are never touched; roles
        or groups that do not exist are skipped. Returns what was applied.
        """
        insert_ = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        async with self._engine.begin() as conn:
            known_roles = {
                r.name
                for r in (
                    await conn.execute(select(roles.c.name).where(roles.c.name.in_(role_names)))
                ).all()
            }
            group_ids = {
                r.name: r.id
                for r in (
                    await conn.execute(
                        select(groups.c.id, groups.c.name).where(groups.c.name.in_(group_names))
                    )
                ).all()
            }
            await self._drop_mapped(conn, user_id, provider, known_roles, set(group_ids.values()))
            for role in sorted(known_roles):
                await conn.execute(
                    insert_(user_roles)
                    .values(user_id=user_id, role=role, federation_provider=provider)
                    .on_conflict_do_nothing(index_elements=["user_id", "role"])
                )
            for group_id in sorted(group_ids.values()):
                await conn.execute(
                    insert_(group_members)
                    .values(group_id=group_id, user_id=user_id, federation_provider=provider)
                    .on_conflict_do_nothing(index_elements=["group_id", "user_id"])
                )
        return sorted(known_roles), sorted(group_ids)

    @staticmethod
    async def _drop_mapped(
        conn: object, user_id: str, provider: str, keep_roles: set[str], keep_groups: set[str]
    ) -> None:
        await conn.execute(  # type: ignore[attr-defined]
            delete(user_roles).where(
                and_(
                    user_roles.c.user_id == user_id,
                    user_roles.c.federation_provider == provider,
                    user_roles.c.role.not_in(keep_roles),
                )
            )
        )
        await conn.execute(  # type: ignore[attr-defined]
            delete(group_members).where(
                and_(
                    group_members.c.user_id == user_id,
                    group_members.c.federation_provider == provider,
                    group_members.c.group_id.not_in(keep_groups),
                )
            )
        )

    async def mapped_roles(self, user_id: str, provider: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(user_roles.c.role).where(
                        user_roles.c.user_id == user_id,
                        user_roles.c.federation_provider == provider,
                    )
                )
            ).all()
        return sorted(r.role for r in rows)


async def user_ids_with_email(engine: AsyncEngine, email: str) -> list[str]:
    """Local accounts with this address (case-insensitive), for trusted-email linking."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(users.c.id).where(same_address(email)).limit(2))).all()
    return [r.id for r in rows]
