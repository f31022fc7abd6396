"""One rule for role and group names at every door: the command line, the admin API's
bodies (which the import command also uses) and SCIM's displayName."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ostiary.admin.access_schemas import GroupCreate, RoleCreate
from ostiary.cli.output import CommandError
from ostiary.cli.roles import checked
from ostiary.domain import identifiers
from ostiary.scim.errors import ScimError
from ostiary.scim.group_patch import _Plan

ROLE_NAMES = [
    ("admin", True),
    ("orders:read", True),
    ("team.lead~2", True),
    ("A" * 100, True),
    ("A" * 101, False),
    ("", False),
    ("my role", False),  # once accepted by the command line alone
    ("-leading-dash", False),
    ("rôle", False),
    ("a/b", False),
]
GROUP_NAMES = [
    ("Engineering", True),
    ("Équipe Paris", True),
    (" padded ", True),
    ("x" * 150, True),
    ("x" * 151, False),
    ("", False),
    ("   ", False),
    ("line\nbreak", False),
    ("nul\x00", False),
]


def admin_accepts(model: type[RoleCreate] | type[GroupCreate], name: str) -> bool:
    try:
        model.model_validate({"name": name})
    except ValidationError:
        return False
    return True


def cli_accepts(rule: object, name: str) -> bool:
    try:
        checked(rule, name)  # type: ignore[arg-type]
    except CommandError:
        return False
    return True


def scim_accepts(name: str) -> bool:
    try:
        _Plan().name(name)
    except ScimError:
        return False
    return True


@pytest.mark.parametrize(("name", "valid"), ROLE_NAMES)
def test_role_names_one_rule_for_cli_and_admin_api(name: str, valid: bool) -> None:
    """Role names travel in access tokens (RFC 9068 §2.2.3.1) and URL paths."""
    assert admin_accepts(RoleCreate, name) is valid
    assert cli_accepts(identifiers.role_name, name) is valid


@pytest.mark.parametrize(("name", "valid"), GROUP_NAMES)
def test_group_names_one_rule_for_cli_admin_api_and_scim(name: str, valid: bool) -> None:
    """SCIM Group displayName (RFC 7643 §4.2) under the same rule as the other doors."""
    assert admin_accepts(GroupCreate, name) is valid
    assert cli_accepts(identifiers.group_name, name) is valid
    assert scim_accepts(name) is valid


@given(st.text(max_size=160))
def test_every_door_agrees_on_any_group_name(name: str) -> None:
    verdicts = {admin_accepts(GroupCreate, name), cli_accepts(identifiers.group_name, name)}
    verdicts.add(scim_accepts(name))
    assert len(verdicts) == 1


@given(st.text(max_size=110))
def test_every_door_agrees_on_any_role_name(name: str) -> None:
    assert admin_accepts(RoleCreate, name) == cli_accepts(identifiers.role_name, name)
