"""The User resource type (RFC 7643 §4.1, with the Enterprise extension §4.3).

``userName`` and ``active`` live in the ``users`` row Ostiary signs people in with; the
filterable attributes are copied to indexed columns, and the rest of the representation
(validated once by scim2-models on the way in) is kept as JSON and served as stored.
``active: false`` and DELETE go through ``accounts.lifecycle``, so sessions and tokens die
at once, exactly as with the admin API.
"""

from __future__ import annotations

from typing import Any

from scim2_models import EnterpriseUser, Resource, User

from ostiary.accounts import lifecycle
from ostiary.domain.users import EmailTaken
from ostiary.scim.errors import ScimError, uniqueness
from ostiary.scim.etags import etag
from ostiary.scim.resource_type import Loaded, StoredType, register
from ostiary.scim.timestamps import iso
from ostiary.scim.user_records import UserModel, checked, password_hash, record_of
from ostiary.services import Services
from ostiary.storage.repos.scim_users import (
    DuplicateScimUser,
    ScimUserRepository,
    ScimUserRow,
)
from ostiary.storage.scim_catalogue import user_catalogue

CORE = "urn:ietf:params:scim:schemas:core:2.0:user"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
SCHEMAS = [str(User.__schema__), str(EnterpriseUser.__schema__)]
# RFC 7644 §3.12 "uniqueness": the primary address is the one password reset and
# federation find an account by, so it names one account (compared case-insensitively).
EMAIL_TAKEN = "emails: the primary address belongs to another User"


CATALOGUE = user_catalogue(frozenset({CORE, ENTERPRISE}))


def loaded(row: ScimUserRow, base: str) -> Loaded:
    """The RFC 7643 §4.1 representation, built from the stored (already validated) JSON
    without a model round trip; the fingerprint covers all of it but ``meta``."""
    body: dict[str, Any] = {"schemas": SCHEMAS, "id": row.id}
    for key, value in row.resource.items():
        if isinstance(value, dict) and "schemas" in value:
            # An extension's own "schemas" is not part of the response (RFC 7643 §3.3).
            value = {k: v for k, v in value.items() if k != "schemas"}
        body[key] = value
    body["userName"] = row.username
    body["active"] = not row.disabled
    if row.groups:
        body["groups"] = [
            {"value": gid, "$ref": f"{base}/Groups/{gid}", "display": name, "type": "direct"}
            for gid, name in row.groups
        ]
    meta = {
        "resourceType": "User",
        "created": iso(row.created_at),
        "lastModified": iso(row.updated_at),
        "location": f"{base}/Users/{row.id}",
        "version": etag(row.version, body),
    }
    body["meta"] = meta
    return Loaded(body, row.version)


class UserType(StoredType):
    name = "User"
    model = UserModel
    catalogue = CATALOGUE
    lazy: frozenset[str] = frozenset()
    loaded = staticmethod(loaded)

    def repo(self, services: Services) -> ScimUserRepository:
        return ScimUserRepository(services.engine)

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> Loaded:
        """RFC 7644 §3.3: one transaction; the answer is what was written."""
        user = checked(resource)
        record = record_of(user, {})
        record.user["disabled"] = user.active is False
        record.user["password_hash"] = await password_hash(services, user)
        try:
            row = await self.repo(services).add(record)
        except DuplicateScimUser:
            raise uniqueness(f"userName {user.user_name!r} is taken") from None
        except EmailTaken:
            raise uniqueness(EMAIL_TAKEN) from None
        # Provisioning runs in bursts of thousands: batched like token issuance, flushed
        # within a second (and before any deletion pseudonymises the user's events).
        services.audit.later("user.created", actor=actor, user_id=row.id)
        return loaded(row, base)

    async def replace(
        self, services: Services, base: str, before: Loaded, after: Resource[Any], actor: str
    ) -> Loaded:
        user = checked(after, before.body)
        current = await services.store.users.get(before.id)
        if current is None:
            raise ScimError(404, f"User {before.id!r} not found")
        record = record_of(user, current.profile)
        if record.user["email"] != current.email:
            # As in the admin API: a new address is unverified until someone says otherwise.
            record.user["email_verified"] = False
        if user.password is not None:
            record.user["password_hash"] = await password_hash(services, user)
        try:
            await self.repo(services).replace(current.id, record, before.counter)
        except DuplicateScimUser:
            raise uniqueness(f"userName {user.user_name!r} is taken") from None
        except EmailTaken:
            raise uniqueness(EMAIL_TAKEN) from None
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
        if replaced is None:
            raise ScimError(404, f"User {before.id!r} not found")
        return replaced

    async def patch(
        self, services: Services, base: str, before: Loaded, body: Any, actor: str
    ) -> bool:
        return False

    async def delete(self, services: Services, before: Loaded, actor: str) -> None:
        user = await services.store.users.get(before.id)
        if user is None:
            raise ScimError(404, f"User {before.id!r} not found")
        # RFC 7644 §3.14: claim the version first; a writer holding the same one now fails.
        await self.repo(services).claim(user.id, before.counter)
        await lifecycle.delete(services, user, actor=actor)


USERS = register(UserType())
