"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.9) applied to stored dicts give
exactly what scim2-models gives for the same valid resource, and never validate: a
stored value the model refuses is projected like any other."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import Context, Group, Resource

from ostiary.scim.responses import parameters, render
from ostiary.scim.user_records import UserModel

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
META = {
    "resourceType": "User",
    "created": "2024-01-01T00:00:00Z",
    "lastModified": "2024-01-02T00:00:00Z",
    "location": "https://id.example/scim/v2/Users/u1",
    "version": 'W/"1-abc"',
}
USER: dict[str, Any] = {
    "schemas": [CORE, ENTERPRISE],
    "id": "u1",
    "externalId": "e1",
    "userName": "bob",
    "name": {"givenName": "Bob", "familyName": "Jones", "formatted": "Bob Jones"},
    "displayName": "Bob",
    "title": "Tester",
    "active": True,
    "emails": [
        {"value": "bob@example.com", "type": "work", "primary": True},
        {"value": "b@example.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
    ENTERPRISE: {
        "employeeNumber": "7",
        "department": "QA",
        "manager": {"value": "m1", "$ref": "https://id.example/scim/v2/Users/m1"},
    },
    "groups": [
        {
            "value": "g1",
            "$ref": "https://id.example/scim/v2/Groups/g1",
            "display": "G",
            "type": "direct",
        }
    ],
    "meta": META,
}
GROUP: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "id": "g1",
    "displayName": "Gee",
    "externalId": "x",
    "members": [
        {
            "value": "u1",
            "$ref": "https://id.example/scim/v2/Users/u1",
            "display": "bob",
            "type": "User",
        }
    ],
    "meta": {**META, "resourceType": "Group", "location": "https://id.example/scim/v2/Groups/g1"},
}
USER_NAMES = [
    "userName", "name", "name.givenName", "NAME.familyname", "emails", "emails.value",
    "emails.type", "phoneNumbers", "active", "id", "meta", "meta.version", "groups",
    "groups.display", "displayName", "title", "externalId", ENTERPRISE,
    f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value", f"{ENTERPRISE}:employeeNumber",
    f"{CORE}:userName", f"{CORE}:name.familyName", f"{CORE}:emails.value",
]  # fmt: skip
GROUP_NAMES = ["displayName", "members", "members.value", "members.display", "meta", "id",
               "externalId", "urn:ietf:params:scim:schemas:core:2.0:Group:displayName"]  # fmt: skip


def _reference(model: type[Resource[Any]], body: dict[str, Any], wanted: Any) -> dict[str, Any]:
    resource = model.model_validate(body, scim_ctx=None)
    dumped: dict[str, Any] = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=wanted
    )
    return dumped


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["user", "group"]),
    data=st.data(),
    excluded=st.booleans(),
)
def test_projection_matches_scim2_models_rfc7644_3_9(
    kind: str, data: st.DataObject, excluded: bool
) -> None:
    model, body, names = (
        (UserModel, USER, USER_NAMES) if kind == "user" else (Group, GROUP, GROUP_NAMES)
    )
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    wanted = parameters(model, None if excluded else chosen, chosen if excluded else None)
    assert render(model, body, wanted) == _reference(model, body, wanted)


def test_stored_values_the_model_refuses_are_projected_not_validated() -> None:
    stored = {
        **USER,
        "emails": [{"value": "a@b", "type": "internet"}],
        "profileUrl": "::not a uri",
        "nickName": 5,
    }
    wanted = parameters(UserModel, ["emails", "profileUrl", "nickName"], None)
    shown = render(UserModel, stored, wanted)
    assert shown == {
        "schemas": [CORE],
        "id": "u1",
        "emails": [{"value": "a@b", "type": "internet"}],
        "profileUrl": "::not a uri",
        "nickName": 5,
    }
    hidden = render(UserModel, stored, parameters(UserModel, None, ["emails", ENTERPRISE]))
    assert "emails" not in hidden and ENTERPRISE not in hidden
    assert hidden["schemas"] == [CORE]
