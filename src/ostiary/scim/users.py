"""The User resource type (RFC 7643 §4.1, with the Enterprise extension §4.3).

``userName`` and ``active`` live in the ``users`` row Ostiary signs people in with; the
filterable attributes are copied to indexed columns, and the whole representation is
kept as JSON. ``active: false`` and DELETE go through ``accounts.lifecycle``, so sessions
and tokens die at once, exactly as with the admin API.
"""

from __future__ import annotations

import time
from typing import Any

from scim2_models import EnterpriseUser, Resource, User
from sqlalchemy import ColumnElement

from ostiary.accounts import lifecycle
from ostiary.scim.catalogue import Attr, Catalogue, MultiValued, Source
from ostiary.scim.errors import ScimError, invalid_value, uniqueness
from ostiary.scim.resource_type import register
from ostiary.scim.timestamps import iso
from ostiary.services import Services
from ostiary.storage.repos.scim_users import (
    DuplicateScimUser,
    ScimUserRecord,
    ScimUserRepository,
    ScimUserRow,
)
from ostiary.storage.tables import scim_user_emails, scim_user_phones, scim_users, users

UserModel = User[EnterpriseUser]
CORE = "urn:ietf:params:scim:schemas:core:2.0:user"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
# Kept in columns of their own, not in the JSON representation.
_NOT_IN_JSON = ("id", "meta", "password", "groups", "userName", "active", "schemas")
# OIDC Core §5.1 claims fed from the SCIM attributes.
_CLAIMS = ("given_name", "family_name", "name", "nickname", "locale", "zoneinfo")


def _entries(table: Any) -> Source:
    return Source(
        table,
        table.c.user_id,
        {
            "value": Attr(table.c.value_ci),
            "type": Attr(table.c.type),
            "primary": Attr(table.c.primary, "boolean"),
        },
    )


CATALOGUE = Catalogue(
    key=users.c.id,
    schemas=frozenset({CORE, ENTERPRISE}),
    singles={
        "id": Attr(users.c.id, case_exact=True),
        "username": Attr(scim_users.c.user_name_ci),
        "externalid": Attr(scim_users.c.external_id, case_exact=True),
        "displayname": Attr(scim_users.c.display_name_ci),
        "name.givenname": Attr(scim_users.c.given_name_ci),
        "name.familyname": Attr(scim_users.c.family_name_ci),
        "active": Attr(users.c.disabled, "boolean", negated=True),
        "meta.created": Attr(users.c.created_at, "datetime"),
        "meta.lastmodified": Attr(users.c.updated_at, "datetime"),
    },
    multi={
        "emails": MultiValued((_entries(scim_user_emails),)),
        "phonenumbers": MultiValued((_entries(scim_user_phones),)),
    },
)


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _primary_email(user: UserModel) -> str | None:
    emails = [e for e in user.emails or [] if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    return chosen.value if chosen else None


def _claims(user: UserModel) -> dict[str, Any]:
    name = user.name
    values = {
        "given_name": name.given_name if name else None,
        "family_name": name.family_name if name else None,
        "name": (name.formatted if name and name.formatted else None) or user.display_name,
        "nickname": user.nick_name,
        "locale": user.locale,
        "zoneinfo": user.timezone,
    }
    return {k: v for k, v in values.items() if v}


# Column widths in storage/tables.py: longer values are refused, never truncated.
_LIMITS = {
    "userName": 150,
    "externalId": 200,
    "displayName": 200,
    "name.givenName": 200,
    "name.familyName": 200,
}


def _check_lengths(user: UserModel) -> None:
    name = user.name
    values = {
        "userName": user.user_name,
        "externalId": user.external_id,
        "displayName": user.display_name,
        "name.givenName": name.given_name if name else None,
        "name.familyName": name.family_name if name else None,
    }
    for attr, value in values.items():
        if value is not None and len(value) > _LIMITS[attr]:
            raise invalid_value(f"{attr} is at most {_LIMITS[attr]} characters")
    for attr, entries, width in (
        ("emails", user.emails, 320),
        ("phoneNumbers", user.phone_numbers, 64),
    ):
        for entry in entries or []:
            if entry.value is not None and len(str(entry.value)) > width:
                raise invalid_value(f"{attr}.value is at most {width} characters")
            if entry.type is not None and len(str(entry.type)) > 40:
                raise invalid_value(f"{attr}.type is at most 40 characters")


def _record(user: UserModel, profile: dict[str, Any]) -> ScimUserRecord:
    data = user.model_dump(scim_ctx=None, mode="json", by_alias=True, exclude_none=True)
    resource = {k: v for k, v in data.items() if k not in _NOT_IN_JSON}
    name = user.name
    merged = {k: v for k, v in profile.items() if k not in _CLAIMS} | _claims(user)

    def entries(values: list[Any] | None) -> list[dict[str, Any]]:
        return [
            {"value_ci": str(v.value).lower(), "type": _lower(v.type), "primary": bool(v.primary)}
            for v in values or []
            if v.value
        ]

    return ScimUserRecord(
        user={"username": user.user_name, "email": _primary_email(user), "profile": merged},
        scim={
            "user_name_ci": str(user.user_name).lower(),
            "external_id": user.external_id,
            "display_name_ci": _lower(user.display_name),
            "given_name_ci": _lower(name.given_name if name else None),
            "family_name_ci": _lower(name.family_name if name else None),
            "resource": resource,
        },
        emails=entries(user.emails),
        phones=entries(user.phone_numbers),
    )


class UserType:
    name = "User"
    endpoint = "/Users"
    model = UserModel
    catalogue = CATALOGUE

    def repo(self, services: Services) -> ScimUserRepository:
        return ScimUserRepository(services.engine)

    def to_model(self, row: ScimUserRow, base: str) -> UserModel:
        data = {
            **row.resource,
            "id": row.id,
            "userName": row.username,
            "active": not row.disabled,
            "meta": {
                "resourceType": "User",
                "created": iso(row.created_at),
                "lastModified": iso(row.updated_at),
                "location": f"{base}/Users/{row.id}",
            },
        }
        if row.groups:
            data["groups"] = [
                {"value": gid, "display": name, "$ref": f"{base}/Groups/{gid}", "type": "direct"}
                for gid, name in row.groups
            ]
        return UserModel.model_validate(data, scim_ctx=None)

    async def get(self, services: Services, base: str, ident: str) -> UserModel | None:
        row = await self.repo(services).get(ident)
        return self.to_model(row, base) if row else None

    async def page(
        self,
        services: Services,
        base: str,
        where: ColumnElement[bool] | None,
        order_by: list[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[Resource[Any]]]:
        repo = self.repo(services)
        await adopt_now_and_then(services, repo)
        total, ids = await repo.search(where, order_by, offset, limit)
        return total, [self.to_model(r, base) for r in await repo.fetch(ids)]

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> UserModel:
        user = _checked(resource)
        record = _record(user, {})
        record.user["disabled"] = user.active is False
        record.user["password_hash"] = await _password_hash(services, user)
        try:
            user_id = await self.repo(services).add(record)
        except DuplicateScimUser:
            raise uniqueness(f"userName {user.user_name!r} is taken") from None
        await services.audit.record("user.created", actor=actor, user_id=user_id)
        created = await self.get(services, base, user_id)
        assert created is not None
        return created

    async def replace(
        self,
        services: Services,
        base: str,
        before: Resource[Any],
        after: Resource[Any],
        actor: str,
    ) -> UserModel:
        user = _checked(after)
        current = await services.store.users.get(str(before.id))
        if current is None:
            raise ScimError(404, f"User {before.id!r} not found")
        record = _record(user, current.profile)
        if record.user["email"] != current.email:
            # As in the admin API: a new address is unverified until someone says otherwise.
            record.user["email_verified"] = False
        if user.password is not None:
            record.user["password_hash"] = await _password_hash(services, user)
        try:
            await self.repo(services).replace(current.id, record)
        except DuplicateScimUser:
            raise uniqueness(f"userName {user.user_name!r} is taken") from None
        await services.audit.record("user.updated", actor=actor, user_id=current.id)
        if user.password is not None:
            await services.audit.record("user.password_set", actor=actor, user_id=current.id)
        if user.active is False and not current.disabled:
            # Same mechanism as the admin API: sessions end, tokens are revoked at once.
            await lifecycle.disable(services, current, actor=actor)
        elif user.active is not False and current.disabled:
            await services.store.users.set_disabled(current.id, False)
            await services.audit.record("user.enabled", actor=actor, user_id=current.id)
        replaced = await self.get(services, base, current.id)
        assert replaced is not None
        return replaced

    async def delete(self, services: Services, ident: str, actor: str) -> bool:
        user = await services.store.users.get(ident)
        if user is None:
            return False
        await lifecycle.delete(services, user, actor=actor)
        return True


def _checked(resource: Resource[Any]) -> UserModel:
    assert isinstance(resource, UserModel)
    if not resource.user_name or not resource.user_name.strip():
        raise invalid_value("userName is required")
    _check_lengths(resource)
    return resource


async def _password_hash(services: Services, user: UserModel) -> str | None:
    if user.password is None:
        return None
    minimum = services.settings.passwords.min_length
    if len(user.password) < minimum:
        raise invalid_value(f"a password needs at least {minimum} characters")
    return await services.passwords.hash(user.password)


_ADOPT_EVERY = 30.0
_last_adopted: dict[int, float] = {}


async def adopt_now_and_then(services: Services, repo: ScimUserRepository) -> None:
    """Users created outside SCIM get their SCIM row within ``_ADOPT_EVERY`` seconds."""
    key = id(services)
    now = time.monotonic()
    if now - _last_adopted.get(key, float("-inf")) >= _ADOPT_EVERY:
        _last_adopted[key] = now
        await repo.adopt()


USERS = register(UserType())
