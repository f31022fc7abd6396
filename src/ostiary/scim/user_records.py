"""From a validated SCIM User to the rows that store it: one ``model_dump``, the indexed
columns lowercased, widths checked (refused, never truncated), OIDC claims derived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from scim2_models import ComplexAttribute, Email, EnterpriseUser, Resource, User

from ostiary.domain import identifiers
from ostiary.scim.errors import invalid_value
from ostiary.services import Services
from ostiary.storage.repos.scim_users import ScimUserRecord


class StoredEmail(Email):
    """``emails`` as any text: the address rule is Ostiary's own (``identifiers.email``,
    the one every door applies), checked on writes by ``checked``. scim2-models' own
    (pydantic's EmailStr) refuses special-use domains the other doors accept, and would
    make a stored account unreadable, unpatchable and undeletable over SCIM."""

    value: str | None = None


class UserModel(User[EnterpriseUser]):
    emails: list[StoredEmail] | None = None  # type: ignore[assignment]
    Emails: ClassVar[type[ComplexAttribute]] = StoredEmail


# Kept in columns of their own, not in the JSON representation.
_NOT_IN_JSON = ("id", "meta", "password", "groups", "userName", "active", "schemas")
# OIDC Core §5.1 claims fed from the SCIM attributes.
_CLAIMS = ("given_name", "family_name", "name", "nickname", "locale", "zoneinfo")


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


def record_of(user: UserModel, profile: dict[str, Any]) -> ScimUserRecord:
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
            "user_name_ci": identifiers.username_key(str(user.user_name)),
            "external_id": user.external_id,
            "display_name_ci": _lower(user.display_name),
            "given_name_ci": _lower(name.given_name if name else None),
            "family_name_ci": _lower(name.family_name if name else None),
            "resource": resource,
        },
        emails=entries(user.emails),
        phones=entries(user.phone_numbers),
    )


def checked(resource: Resource[Any], before: dict[str, Any] | None = None) -> UserModel:
    """The user, its userName and email addresses normalised by the rules every door
    shares (``domain.identifiers``). ``before``: the stored representation a PUT or PATCH
    replaces; a value it holds already is kept as stored, so an account written under an
    older rule can still be changed (disabled, renamed) over SCIM."""
    assert isinstance(resource, UserModel)
    if not resource.user_name or not resource.user_name.strip():
        raise invalid_value("userName is required")
    kept = set(_strings(before)) if before else set()
    try:
        for path, value in _strings_at(resource.model_dump(scim_ctx=None, by_alias=True)):
            if value in kept:
                continue
            if path[-1] == "password" or path[-2:] == ("addresses", "formatted"):
                identifiers.storable(value, ".".join(path))
            else:
                identifiers.single_line(value, ".".join(path))
        if resource.user_name not in kept:
            resource.user_name = identifiers.username(resource.user_name, "userName")
        for entry in resource.emails or []:
            if entry.value is not None and entry.value not in kept:
                entry.value = identifiers.email(entry.value, "emails.value")
    except identifiers.InvalidIdentifier as exc:
        raise invalid_value(str(exc)) from None
    _check_lengths(resource)
    return resource


def _strings(value: Any) -> Iterator[str]:
    for _, text in _strings_at(value):
        yield text


def _strings_at(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string in a dumped resource, with the attribute names leading to it."""
    if isinstance(value, str):
        yield path or ("value",), value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_at(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from _strings_at(item, path)


async def password_hash(services: Services, user: UserModel) -> str | None:
    if user.password is None:
        return None
    minimum = services.settings.passwords.min_length
    if len(user.password) < minimum:
        raise invalid_value(f"a password needs at least {minimum} characters")
    return await services.passwords.hash(user.password)
