"""Who may do what in the console: three roles, enforced on every request.

``admin`` may do everything; ``user-admin`` manages people (users, groups, their sessions,
factors and consents) but never clients, keys or providers, and never grants the console's
own roles; ``auditor`` reads everything and changes nothing. A page or form outside the
role's reach answers 403, whatever the page shows or hides.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ostiary.admin.bootstrap import ADMIN_ROLE, AUDITOR_ROLE, CONSOLE_ROLES, USER_ADMIN_ROLE


class Area(enum.StrEnum):
    """A part of the console; the navigation has one entry per area but the dashboard."""

    DASHBOARD = "dashboard"
    USERS = "users"
    CLIENTS = "clients"
    ROLES = "roles"
    GROUPS = "groups"
    SCOPES = "scopes"
    PROVIDERS = "providers"
    KEYS = "keys"
    AUDIT = "audit"


NAVIGATION = (
    (Area.USERS, "Users"),
    (Area.CLIENTS, "Clients"),
    (Area.ROLES, "Roles"),
    (Area.GROUPS, "Groups"),
    (Area.SCOPES, "Scopes"),
    (Area.PROVIDERS, "Providers"),
    (Area.KEYS, "Keys"),
    (Area.AUDIT, "Audit"),
)

_EVERY = frozenset(Area)
_READS: dict[str, frozenset[Area]] = {
    ADMIN_ROLE: _EVERY,
    USER_ADMIN_ROLE: frozenset({Area.DASHBOARD, Area.USERS, Area.GROUPS, Area.ROLES, Area.SCOPES}),
    AUDITOR_ROLE: _EVERY,
}
_WRITES: dict[str, frozenset[Area]] = {
    ADMIN_ROLE: _EVERY,
    USER_ADMIN_ROLE: frozenset({Area.USERS, Area.GROUPS}),
    AUDITOR_ROLE: frozenset(),
}


class Forbidden(Exception):
    """The signed-in admin's roles do not reach this; the console answers 403."""


def console_roles(roles: Iterable[str]) -> frozenset[str]:
    """The console roles among a user's effective roles (direct or through groups)."""
    return frozenset(roles) & frozenset(CONSOLE_ROLES)


def may_read(roles: frozenset[str], area: Area) -> bool:
    return any(area in _READS[r] for r in console_roles(roles))


def may_write(roles: frozenset[str], area: Area) -> bool:
    return any(area in _WRITES[r] for r in console_roles(roles))


def may_export_audit(roles: frozenset[str]) -> bool:
    return may_read(roles, Area.AUDIT)


def check(roles: frozenset[str], area: Area, *, write: bool) -> None:
    if not (may_write(roles, area) if write else may_read(roles, area)):
        verb = "change" if write else "see"
        raise Forbidden(f"Your console role does not let you {verb} {area.value}.")


def check_privileged(roles: frozenset[str], involved: Iterable[str]) -> None:
    """Only an ``admin`` hands out, takes away or acts on a console role: granting
    ``admin`` (directly or through a group) would make a user-admin an admin, and changing
    an admin's password or factors would let them sign in as one."""
    if ADMIN_ROLE in roles:
        return
    touched = console_roles(involved)
    if touched:
        names = ", ".join(sorted(touched))
        raise Forbidden(f"Only an admin may grant, remove or act on the role(s) {names}.")
