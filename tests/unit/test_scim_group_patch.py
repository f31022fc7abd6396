"""The Group PATCH fast path (``scim.group_patch``) against scim2-models' own PATCH: for
any sequence of member operations in the shapes directories send, the row changes give
the member set the generic path gives (RFC 7644 §3.5.2.1-§3.5.2.3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import Group

from ostiary.scim.errors import ScimError
from ostiary.scim.group_patch import PATCH_OP, plan
from ostiary.scim.patch import apply_patch

OWN = "self-id"
IDS = ["u1", "u2", "u3", "u4"]

ids = st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)
operation = st.one_of(
    ids.map(lambda v: {"op": "add", "path": "members", "value": [{"value": i} for i in v]}),
    ids.map(lambda v: {"op": "replace", "path": "members", "value": [{"value": i} for i in v]}),
    # Entra ID: remove naming the members in "value".
    ids.map(lambda v: {"op": "Remove", "path": "members", "value": [{"value": i} for i in v]}),
    st.sampled_from(IDS).map(lambda i: {"op": "remove", "path": f'members[value eq "{i}"]'}),
    st.just({"op": "remove", "path": "members"}),
)


def _fast(initial: set[str], body: dict[str, Any]) -> set[str]:
    planned = plan(body, OWN)
    assert planned is not None
    changes, added = planned
    members = set() if changes.clear else set(initial)
    return (members - changes.remove) | added


def _generic(initial: set[str], body: dict[str, Any]) -> set[str]:
    group = Group(id=OWN, display_name="g", members=[{"value": i} for i in sorted(initial)])
    patched = apply_patch(group, body, "https://id.example.com/scim/v2")
    return {str(m.value) for m in patched.members or []}


@settings(max_examples=300, deadline=None)
@given(
    initial=st.lists(st.sampled_from(IDS), unique=True).map(set),
    ops=st.lists(operation, min_size=1, max_size=5),
)
def test_rfc7644_3_5_2_fast_member_patch_matches_the_generic_one(
    initial: set[str], ops: list[dict[str, Any]]
) -> None:
    body = {"schemas": [PATCH_OP], "Operations": ops}
    assert _fast(initial, body) == _generic(initial, body)


@pytest.mark.parametrize(
    "operation",
    [
        # Okta and Entra renames.
        {"op": "replace", "value": {"id": OWN, "displayName": "New"}},
        {"op": "Replace", "path": "displayName", "value": "New"},
    ],
)
def test_renames_take_the_fast_path(operation: dict[str, Any]) -> None:
    planned = plan({"schemas": [PATCH_OP], "Operations": [operation]}, OWN)
    assert planned is not None and planned[0].name == "New"


@pytest.mark.parametrize(
    "body",
    [
        {"Operations": [{"op": "add", "path": "members", "value": [{"value": "u1"}]}]},
        {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members.display"}]},
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": 'members[display eq "x"]'}],
        },
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"id": "other"}}]},
        {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [1]}]},
        {"schemas": [PATCH_OP], "Operations": []},
    ],
)
def test_other_shapes_are_left_to_the_generic_path(body: dict[str, Any]) -> None:
    assert plan(body, OWN) is None


def test_a_group_cannot_join_itself() -> None:
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": OWN}]}],
    }
    with pytest.raises(ScimError) as raised:
        plan(body, OWN)
    assert raised.value.scim_type == "invalidValue"
