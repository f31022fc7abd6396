"""Request and response bodies shared by the admin API, and those of users and audit.

Times are Unix seconds, as everywhere in Ostiary. String limits are the column sizes, so
a valid body always fits the database.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ostiary.domain import identifiers

T = TypeVar("T")

# The rules every door shares (``domain.identifiers``): normalised on the way in.
Username = Annotated[str, AfterValidator(lambda value: identifiers.username(value))]
Email = Annotated[str, AfterValidator(lambda value: identifiers.email(value))]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9+() .-]+$")]
# The configured minimum (passwords.min_length, at least 8) is checked per request.
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
ClaimText = Annotated[
    str,
    StringConstraints(max_length=1000),
    AfterValidator(lambda value: identifiers.single_line(value, "claim")),
]


def _storable(value: object, depth: int = 0) -> None:
    """Refuse NUL and lone surrogates anywhere in a body: PostgreSQL cannot store the first
    and no UTF-8 codec can encode the second, so they would fail deep in the driver."""
    if depth > 32:
        raise ValueError("the body is nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(item, depth + 1)


class Body(BaseModel):
    """A request body: unknown members are errors, every string is storable."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _check_text(cls, data: Any) -> Any:
        _storable(data)
        return data


class Page(BaseModel, Generic[T]):
    """Every list: a page of items and the cursor of the next page (null at the end)."""

    items: list[T]
    next_cursor: str | None = None


class Address(Body):
    """OIDC Core §5.1.1 address claim."""

    formatted: ClaimText | None = None
    street_address: ClaimText | None = None
    locality: ClaimText | None = None
    region: ClaimText | None = None
    postal_code: ClaimText | None = None
    country: ClaimText | None = None


class Profile(Body):
    """OIDC Core §5.1 standard claims kept in the profile; null removes one (PATCH)."""

    name: ClaimText | None = None
    given_name: ClaimText | None = None
    family_name: ClaimText | None = None
    middle_name: ClaimText | None = None
    nickname: ClaimText | None = None
    profile: ClaimText | None = None
    picture: ClaimText | None = None
    website: ClaimText | None = None
    gender: ClaimText | None = None
    birthdate: ClaimText | None = None
    zoneinfo: ClaimText | None = None
    locale: ClaimText | None = None
    address: Address | None = None


class UserCreate(Body):
    username: Username
    email: Email | None = None
    email_verified: bool = False
    phone_number: Phone | None = None
    phone_number_verified: bool = False
    password: Password | None = Field(
        None, description="Omit for an account that cannot sign in with a password."
    )
    profile: Profile = Field(default_factory=Profile)


class UserPatch(Body):
    """Members left out stay as they are. A null email or phone_number removes it; a new
    email is unverified unless email_verified says otherwise."""

    email: Email | None = None
    email_verified: bool | None = None
    phone_number: Phone | None = None
    phone_number_verified: bool | None = None
    profile: Profile | None = None
    disabled: bool | None = Field(
        None,
        description="true ends every session and revokes every token of the user, for good.",
    )
    password: Password | None = None


class UserOut(BaseModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    phone_number: str | None
    phone_number_verified: bool
    profile: dict[str, Any]
    disabled: bool
    has_password: bool
    created_at: int
    updated_at: int


class RoleLink(BaseModel):
    name: str
    direct: bool = Field(description="Assigned to the user, not only through a group.")


class GroupLink(BaseModel):
    id: str
    name: str
    direct: bool = Field(description="The user is a member, not only of a subgroup.")


class SessionOut(BaseModel):
    sid: str
    created_at: int
    auth_time: int
    expires_at: int
    amr: list[str]
    client_ids: list[str] = Field(description="Clients that received tokens in the session.")


class IdentityOut(BaseModel):
    """An upstream identity linked to the user (federation.md)."""

    provider: str
    subject: str
    email: str | None
    created_at: int
    last_login_at: int


class ConsentOut(BaseModel):
    client_id: str
    scopes: list[str]
    updated_at: int


class Count(BaseModel):
    count: int


class AuditEventOut(BaseModel):
    id: int
    at: int
    type: str
    actor: str
    outcome: str
    user_id: str | None
    client_id: str | None
    ip: str | None
    reason: str | None
    details: dict[str, Any]
