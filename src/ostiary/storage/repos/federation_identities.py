"""Linked upstream identities, pending upstream requests, and mapping-given access."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary import clock
from ostiary.domain.federation import (
    AlreadyLinkedError,
    LinkedIdentity,
    PendingRequest,
    SealedTokens,
)
from ostiary.storage.repos._base import Repository, RowType, column_set
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

PENDING = RowType.of(federation_states, PendingRequest)
IDENTITY = RowType.of(federated_identities, LinkedIdentity)
# What a mapping-given row of each table gives: a role, or a group's membership.
_TARGET = {user_roles: user_roles.c.role, group_members: group_members.c.group_id}
_TOKENS = (
    federated_identities.c.access_token_sealed,
    federated_identities.c.refresh_token_sealed,
    federated_identities.c.token_expires_at,
)


def _identity_is(provider: str, subject: str) -> tuple[ColumnElement[bool], ...]:
    return (federated_identities.c.provider == provider, federated_identities.c.subject == subject)


class FederationRepository(Repository):
    # -- pending upstream requests ----------------------------------------------------

    async def add_pending(self, pending: PendingRequest) -> None:
        await self._write(insert(federation_states).values(**PENDING.values(pending)))

    async def take_pending(self, state_hash: bytes) -> PendingRequest | None:
        """The live request with this state, deleted in the same step: single use."""
        this = federation_states.c.state_hash == state_hash
        async with self._engine.begin() as conn:
            row = (await conn.execute(PENDING.select().where(this))).first()
            if row is None:
                return None
            result = await conn.execute(delete(federation_states).where(this))
        pending = PENDING.build(row)
        if result.rowcount != 1 or pending.expires_at <= clock.now():
            return None
        return pending

    async def purge_expired(self) -> int:
        return await self._write(
            delete(federation_states).where(federation_states.c.expires_at <= clock.now())
        )

    # -- linked identities --------------------------------------------------------------

    async def find(self, provider: str, subject: str) -> LinkedIdentity | None:
        row = await self._first(IDENTITY.select().where(*_identity_is(provider, subject)))
        return IDENTITY.build(row) if row else None

    async def link(
        self, provider: str, subject: str, user_id: str, email: str | None
    ) -> LinkedIdentity:
        now = clock.now()
        linked = LinkedIdentity(provider, subject, user_id, email, now, now)
        await self._insert(
            federated_identities,
            IDENTITY.values(linked),
            lambda: AlreadyLinkedError(f"{provider}:{subject} is linked already"),
        )
        return linked

    async def touch(
        self, provider: str, subject: str, email: str | None, tokens: SealedTokens | None
    ) -> None:
        """Record a login; keep the upstream tokens given, or drop any kept before."""
        token_values = {
            "access_token_sealed": tokens.access_token if tokens else None,
            "refresh_token_sealed": tokens.refresh_token if tokens else None,
            "token_expires_at": tokens.expires_at if tokens else None,
        }
        await self._write(
            update(federated_identities)
            .where(*_identity_is(provider, subject))
            .values(last_login_at=clock.now(), email=email, **token_values)
        )

    async def sealed_tokens(self, provider: str, subject: str) -> SealedTokens | None:
        row = await self._first(select(*_TOKENS).where(*_identity_is(provider, subject)))
        return SealedTokens(*row) if row else None

    async def for_user(self, user_id: str) -> list[LinkedIdentity]:
        query = (
            IDENTITY.select()
            .where(federated_identities.c.user_id == user_id)
            .order_by(federated_identities.c.provider, federated_identities.c.created_at)
        )
        return IDENTITY.all(await self._rows(query))

    async def unlink(self, user_id: str, provider: str, subject: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(federated_identities).where(
                    federated_identities.c.user_id == user_id, *_identity_is(provider, subject)
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
                await self._drop_mapped(conn, user_id, provider, {})
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
            known_roles = await column_set(
                conn, select(roles.c.name).where(roles.c.name.in_(role_names))
            )
            group_ids = {
                r.name: r.id
                for r in (
                    await conn.execute(
                        select(groups.c.id, groups.c.name).where(groups.c.name.in_(group_names))
                    )
                ).all()
            }
            kept = {user_roles: known_roles, group_members: set(group_ids.values())}
            await self._drop_mapped(conn, user_id, provider, kept)
            for table, targets in kept.items():
                for target in sorted(targets):
                    given = {_TARGET[table].name: target, "user_id": user_id}
                    await conn.execute(
                        insert_(table)
                        .values(**given, federation_provider=provider)
                        .on_conflict_do_nothing(index_elements=list(table.primary_key))
                    )
        return sorted(known_roles), sorted(group_ids)

    @staticmethod
    async def _drop_mapped(
        conn: AsyncConnection, user_id: str, provider: str, kept: dict[Table, set[str]]
    ) -> None:
        """Delete what this provider's mapping gave the user (roles in ``user_roles``,
        groups in ``group_members``) except the targets ``kept`` of each table."""
        for table in (user_roles, group_members):
            await conn.execute(
                delete(table).where(
                    table.c.user_id == user_id,
                    table.c.federation_provider == provider,
                    _TARGET[table].not_in(kept.get(table, set())),
                )
            )

    async def mapped_roles(self, user_id: str, provider: str) -> list[str]:
        return await self._sorted(
            select(user_roles.c.role).where(
                user_roles.c.user_id == user_id, user_roles.c.federation_provider == provider
            )
        )


async def user_ids_with_email(engine: AsyncEngine, email: str) -> list[str]:
    """Local accounts with this address (case-insensitive), for trusted-email linking."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(users.c.id).where(same_address(email)).limit(2))).all()
    return [r.id for r in rows]
