"""The state document: its shape, read strictly, and written so that it diffs cleanly.

Every entry is the admin API's creation body for that resource (the same field rules,
one place each), plus what a state file needs on top: ids to keep, nesting, a user's
roles, groups and linked identities, and secrets in their stored, never-clear forms.
Keys are sorted and items are sorted by their name or id, so the same state always
gives the same bytes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, Field, StringConstraints, ValidationError, model_validator

from ostiary import strict_json
from ostiary.admin.access_schemas import GroupCreate, GroupName, RoleCreate, RoleList, ScopeCreate
from ostiary.admin.client_schemas import ClientCreate, ClientId
from ostiary.admin.provider_schemas import ProviderCreate, ProviderName
from ostiary.admin.schemas import Body, UserCreate

FORMAT = "ostiary-state"
VERSION = 1
# The sections in the order they are applied; "users" only with --include-users.
SECTIONS = ("roles", "scopes", "providers", "clients", "groups", "users")


class InvalidDocument(ValueError):
    """The file is not a state document this version can apply; the message is one line."""


def _uuid(value: str) -> str:
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427") from None
    if canonical != value:
        raise ValueError(f"must be written in lowercase with hyphens: {canonical}")
    return value


Uuid = Annotated[str, AfterValidator(_uuid)]
# Base64url of a SHA-256 digest (43 characters, no padding).
SecretHash = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]
Sealed = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"^[\w-]+$")]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=255)]
# Argon2 encoded hashes are about 100 characters; the column holds 200.
PasswordHash = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def refuse_clear(data: Any, field: str, instead: str) -> Any:
    """Refuse a member that would carry a secret in clear, naming what to give instead."""
    if isinstance(data, dict) and field in data:
        raise ValueError(f"{field}: secrets are never written in clear; {instead}")
    return data


class ClientEntry(ClientCreate):
    """A client as registered; ``client_secret_hash`` is the stored digest of its secret."""

    client_id: ClientId
    client_secret_hash: SecretHash | None = Field(
        None, description="Left out: an existing client keeps its secret, a new one gets one."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_clear_secret(cls, data: Any) -> Any:
        return refuse_clear(data, "client_secret", "give client_secret_hash")


class RoleEntry(RoleCreate):
    pass


class ScopeEntry(ScopeCreate):
    pass


class GroupEntry(GroupCreate):
    id: Uuid | None = Field(None, description="Used when the group is created.")
    parents: Annotated[list[GroupName], Field(max_length=100)] = Field(default_factory=list)
    roles: RoleList = Field(default_factory=list)


class ProviderEntry(ProviderCreate):
    client_secret_sealed: Sealed | None = Field(
        None, description="From an export under the same OSTIARY_SECRET_KEY; left out: kept."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_clear_secret(cls, data: Any) -> Any:
        return refuse_clear(
            data,
            "client_secret",
            "give client_secret_sealed from an export, or set it with "
            "`ostiary provider update NAME --client-secret-stdin`",
        )


class LinkEntry(Body):
    provider: ProviderName
    subject: Subject


class UserEntry(UserCreate):
    id: Uuid | None = Field(None, description="The user's sub; used when the user is created.")
    password_hash: PasswordHash | None = Field(None, description="Argon2id; left out: kept.")
    disabled: bool = False
    roles: RoleList = Field(default_factory=list)
    groups: Annotated[list[GroupName], Field(max_length=1000)] = Field(default_factory=list)
    links: Annotated[list[LinkEntry], Field(max_length=100)] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_clear_password(cls, data: Any) -> Any:
        return refuse_clear(data, "password", "give password_hash (Argon2id)")


class Document(Body):
    format: Literal["ostiary-state"]
    version: int
    secret_key_id: str | None = None
    roles: list[RoleEntry] | None = None
    scopes: list[ScopeEntry] | None = None
    providers: list[ProviderEntry] | None = None
    clients: list[ClientEntry] | None = None
    groups: list[GroupEntry] | None = None
    users: list[UserEntry] | None = None


def parse(raw: bytes) -> Document:
    """Read a state document, or raise InvalidDocument with the first problem in one line."""
    try:
        data = strict_json.loads(raw)
    except strict_json.InvalidJson as exc:
        raise InvalidDocument(f"not JSON: {exc.reason}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidDocument(f'not a state document (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise InvalidDocument(
            f"format version {data.get('version')!r} is not {VERSION}, the one this Ostiary reads"
        )
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidDocument(describe(errors[0], data) + more) from None


_KEYS = {"clients": "client_id", "users": "username"}


def describe(error: Any, data: Any) -> str:
    """``clients[2] (client_id 'web').redirect_uris[0]: <reason>`` for one pydantic error."""
    where, section = "", ""
    node = data
    for step in error["loc"]:
        if isinstance(step, int):
            where += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            key = _KEYS.get(section, "name")
            if isinstance(node, dict) and isinstance(node.get(key), str):
                where += f" ({key} {node[key]!r})"
        else:
            section = section or str(step)
            where += f".{step}" if where else str(step)
            node = node.get(step) if isinstance(node, dict) else None
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def dumps(document: dict[str, Any]) -> bytes:
    """Sorted keys, two-space indents, a final newline: the same state, the same bytes."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
