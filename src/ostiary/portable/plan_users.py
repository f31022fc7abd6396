"""Users in a state document (``--include-users``): accounts with their password hashes,
manual roles and group memberships, linked upstream identities and state.

A user is matched by id (its ``sub``, which tokens and linked systems know it by) or,
without one, by username; usernames never change here. Roles and memberships a claim
mapping gave are re-evaluated at each upstream login and are left alone.
"""

from __future__ import annotations

from typing import Any

from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError

from ostiary.accounts import lifecycle
from ostiary.domain.identifiers import username_key
from ostiary.portable.document import UserEntry
from ostiary.portable.plan import Phase, Planning, differences, duplicates
from ostiary.portable.snapshot import UserState
from ostiary.storage.repos.federation_identities import FederationRepository

_PROFILE = ("email", "email_verified", "phone_number", "phone_number_verified", "profile")


def plan(p: Planning) -> None:
    given = p.doc.users
    if given is None:
        return
    keys = [username_key(u.username) or u.username for u in given]
    twice_name = duplicates(keys)
    twice_id = duplicates([u.id for u in given if u.id])
    linked = {link: s.user.id for s in p.now.users.values() for link in s.links}
    matched = [
        p.now.users.get(entry.id) if entry.id else p.now.user_named(key)
        for entry, key in zip(given, keys, strict=True)
    ]
    kept = {m.user.id for m in matched if m is not None}
    addresses = _addresses(p, given, matched, kept)
    for index, (entry, key, current) in enumerate(zip(given, keys, matched, strict=True)):
        try:
            if key in twice_name or (entry.id and entry.id in twice_id):
                raise ValueError("appears more than once (by username or id)")
            _check(p, entry, key, current, linked)
            _check_email(entry, current, addresses)
        except ValueError as exc:
            p.problem("users", index, entry.username, str(exc))
            continue
        _plan_one(p, entry, current)
    for user_id in p.pruned("users", set(p.now.users), kept):
        state = p.now.users[user_id]

        async def delete(state: UserState = state) -> None:
            await lifecycle.delete(p.services, state.user, actor="cli")

        p.add(Phase.PRUNE_USERS, "delete", "user", state.user.username, delete)


def _addresses(
    p: Planning, given: list[UserEntry], matched: list[UserState | None], kept: set[str]
) -> dict[str, list[str]]:
    """Lowercased address -> the accounts holding it once the import is done (usernames)."""
    held: dict[str, list[str]] = {}
    for entry in given:
        if entry.email is not None:
            held.setdefault(entry.email.lower(), []).append(entry.username)
    for state in p.now.users.values():
        if state.user.id not in kept and not p.prune and state.user.email is not None:
            held.setdefault(state.user.email.lower(), []).append(state.user.username)
    return held


def _check_email(
    entry: UserEntry, current: UserState | None, addresses: dict[str, list[str]]
) -> None:
    """One account per address, checked for the whole document before any write (the
    repository's ``EmailTaken`` stays the rule, and the backstop). An account keeping its
    own address passes, as in ``user_emails.check_free``."""
    if entry.email is None:
        return
    if current is not None and (current.user.email or "").lower() == entry.email.lower():
        return
    others = [name for name in addresses.get(entry.email.lower(), []) if name != entry.username]
    if others:
        raise ValueError(f"email {entry.email!r} belongs to another account ({others[0]})")


def _check(
    p: Planning,
    entry: UserEntry,
    key: str,
    current: UserState | None,
    linked: dict[tuple[str, str], str],
) -> None:
    if current is None and entry.id:
        other = p.now.user_named(key)
        if other is not None:
            raise ValueError(f"username belongs to user {other.user.id} here, not {entry.id}")
    if current is not None and username_key(current.user.username) != key:
        raise ValueError(
            f"user {current.user.id} is named {current.user.username!r} here: an import never "
            "renames a user"
        )
    if entry.password_hash is not None:
        if not p.services.settings.local_login:
            raise ValueError(
                "local passwords are disabled (OSTIARY_LOCAL_LOGIN=false): no password is stored"
            )
        try:
            kind = extract_parameters(entry.password_hash).type
        except InvalidHashError:
            kind = None
        if kind is not Type.ID:
            raise ValueError("password_hash: not an Argon2id hash ($argon2id$v=19$...)")
    for role in entry.roles:
        if role not in p.final_names("roles"):
            raise ValueError(f"role {role!r} does not exist")
    for group in entry.groups:
        if group not in p.final_names("groups"):
            raise ValueError(f"group {group!r} does not exist")
    mine = current.user.id if current else entry.id
    for link in entry.links:
        if link.provider not in p.final_names("providers"):
            raise ValueError(f"provider {link.provider!r} does not exist")
        owner = linked.get((link.provider, link.subject))
        if owner is not None and owner != mine:
            raise ValueError(
                f"{link.provider} identity {link.subject!r} is linked to user {owner} here"
            )


def _plan_one(p: Planning, entry: UserEntry, current: UserState | None) -> None:
    wanted: dict[str, Any] = {
        "email": entry.email,
        "email_verified": entry.email_verified,
        "phone_number": entry.phone_number,
        "phone_number_verified": entry.phone_number_verified,
        "profile": entry.profile.model_dump(exclude_none=True),
    }
    name = entry.username
    users = p.services.store.users
    if current is None:

        async def create() -> None:
            user = await users.add(
                username=name, password_hash=entry.password_hash, user_id=entry.id, **wanted
            )
            await p.record("user.created", user_id=user.id, details={"after": user.public_view()})

        p.add(Phase.USERS, "create", "user", name, create)
        had: dict[str, Any] = {"roles": (), "groups": (), "links": (), "disabled": False}
    else:
        before = {k: getattr(current.user, k) for k in _PROFILE}
        changed = differences(before, wanted)
        if changed:

            async def update() -> None:
                await users.update_profile(current.user.id, **{k: wanted[k] for k in changed})
                await p.record(
                    "user.updated",
                    user_id=current.user.id,
                    details={
                        "before": {k: before[k] for k in changed},
                        "after": {k: wanted[k] for k in changed},
                    },
                )

            p.add(Phase.USERS, "update", "user", name, update, ", ".join(changed))
        password = entry.password_hash
        if password is not None and password != current.user.password_hash:

            async def set_password() -> None:
                await users.set_password_hash(current.user.id, password)
                await p.record("user.password_set", user_id=current.user.id)

            p.add(Phase.USERS, "update", "user", name, set_password, "password_hash")
        had = {
            "roles": current.roles,
            "groups": current.groups,
            "links": current.links,
            "disabled": current.user.disabled,
        }
    _plan_access(p, entry, had)
    _plan_links(p, entry, had["links"])
    if entry.disabled != had["disabled"]:
        _plan_state(p, entry)


async def _user_id(p: Planning, entry: UserEntry) -> str:
    user = await p.services.store.users.find(entry.id or entry.username)
    if user is None:
        raise LookupError(f"user {entry.username!r} is gone")
    return user.id


def _plan_access(p: Planning, entry: UserEntry, had: dict[str, Any]) -> None:
    access = p.services.store.access
    for role in sorted(set(entry.roles) ^ set(had["roles"])):
        adding = role in entry.roles

        async def assign(role: str = role, adding: bool = adding) -> None:
            user_id = await _user_id(p, entry)
            if adding:
                await access.assign(user_id, role)
            else:
                await access.unassign(user_id, role)
            kind = "role.assigned" if adding else "role.unassigned"
            await p.record(kind, user_id=user_id, details={"role": role})

        detail = f"{'assign' if adding else 'unassign'} role {role}"
        p.add(Phase.USER_LINKS, "update", "user", entry.username, assign, detail)
    for group in sorted(set(entry.groups) ^ set(had["groups"])):
        adding = group in entry.groups

        async def member(group: str = group, adding: bool = adding) -> None:
            user_id = await _user_id(p, entry)
            found = await access.get_group(group)
            if found is None:
                raise LookupError(f"group {group!r} is gone")
            if adding:
                await access.add_member(found.id, user_id)
            else:
                await access.remove_member(found.id, user_id)
            kind = "group.member_added" if adding else "group.member_removed"
            details = {"group_id": found.id, "group": group, "user_id": user_id}
            await p.record(kind, user_id=user_id, details=details)

        detail = f"{'add to' if adding else 'remove from'} group {group}"
        p.add(Phase.USER_LINKS, "update", "user", entry.username, member, detail)


def _plan_links(p: Planning, entry: UserEntry, had: tuple[tuple[str, str], ...]) -> None:
    repo = FederationRepository(p.services.engine)
    wanted = {(link.provider, link.subject) for link in entry.links}
    for provider, subject in sorted(wanted ^ set(had)):
        adding = (provider, subject) in wanted

        async def link(
            provider: str = provider, subject: str = subject, adding: bool = adding
        ) -> None:
            user_id = await _user_id(p, entry)
            if adding:
                await repo.link(provider, subject, user_id, None)
            else:
                await repo.unlink(user_id, provider, subject)
            kind = "federation.linked" if adding else "federation.unlinked"
            await p.record(kind, user_id=user_id, details={"provider": provider})

        detail = f"{'link' if adding else 'unlink'} {provider} identity {subject}"
        p.add(Phase.USER_LINKS, "update", "user", entry.username, link, detail)


def _plan_state(p: Planning, entry: UserEntry) -> None:
    async def state() -> None:
        user = await p.services.store.users.find(entry.id or entry.username)
        assert user is not None
        if entry.disabled:
            # Sessions end and tokens are revoked, as when the admin API disables.
            await lifecycle.disable(p.services, user, actor="cli")
        else:
            await p.services.store.users.set_disabled(user.id, False)
            await p.record("user.enabled", user_id=user.id)

    detail = "disable" if entry.disabled else "enable"
    p.add(Phase.USER_LINKS, "update", "user", entry.username, state, detail)
