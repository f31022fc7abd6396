"""Role, group and scope bodies (RBAC)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from ostiary.admin.schemas import Body
from ostiary.domain import identifiers

# One rule per field, shared with the command line, SCIM and import (domain.identifiers).
RoleName = Annotated[str, AfterValidator(lambda value: identifiers.role_name(value))]
# RFC 6749 §3.3 scope-token; may contain '/', so scope paths take the rest of the URL.
ScopeName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
]
GroupName = Annotated[str, AfterValidator(lambda value: identifiers.group_name(value))]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=1000)]
RoleList = Annotated[list[RoleName], Field(max_length=100)]
# The MFA policy's flag (accounts.mfa.policy), as the API documents it.
_REQUIRE_MFA = "A second factor at every sign-in for whoever {}."
_HOLDS_ROLE = "holds the role, directly or through a group"
_IN_GROUP = "is a member of the group or of a group nested in it"


class RoleCreate(Body):
    name: RoleName
    description: Description = ""
    require_mfa: bool = Field(False, description=_REQUIRE_MFA.format(_HOLDS_ROLE))


class RolePatch(Body):
    """Members left out (or null) stay."""

    description: Description | None = None
    require_mfa: bool | None = Field(None, description=_REQUIRE_MFA.format(_HOLDS_ROLE))


class RoleOut(BaseModel):
    name: str
    description: str
    require_mfa: bool
    created_at: int


class GroupCreate(Body):
    name: GroupName
    external_id: ExternalId | None = None
    require_mfa: bool = Field(False, description=_REQUIRE_MFA.format(_IN_GROUP))


class GroupPatch(Body):
    """Members left out stay; a null external_id removes it, a null require_mfa keeps it."""

    name: GroupName | None = None
    external_id: ExternalId | None = None
    require_mfa: bool | None = Field(None, description=_REQUIRE_MFA.format(_IN_GROUP))


class GroupOut(BaseModel):
    id: str
    name: str
    external_id: str | None
    require_mfa: bool
    created_at: int
    updated_at: int


class GroupDetail(GroupOut):
    roles: list[str] = Field(description="Roles granted to the group itself.")
    parents: list[str] = Field(description="Ids of the groups this one is nested in.")
    children: list[str] = Field(description="Ids of the groups nested in this one.")


class MemberOut(BaseModel):
    id: str
    username: str


class ScopeCreate(Body):
    name: ScopeName
    description: Description = ""
    required_roles: RoleList = Field(
        default_factory=list,
        description="A user needs one of these roles to be granted the scope; empty: anyone.",
    )


class ScopePatch(Body):
    description: Description | None = None
    required_roles: RoleList | None = None


class ScopeOut(BaseModel):
    name: str
    description: str
    required_roles: list[str]
    created_at: int
