"""Request sequences in the shapes Microsoft Entra ID and Okta send (their provisioning
documentation): create, update, group membership add / remove, deactivate, delete.
Deactivation must leave a live session's tokens dead (checked in test_scim_api)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, unique
from tests.e2e.scim_fixtures import scim_client, scim_token

DATA = Path(__file__).parent / "data" / "scim"


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _at(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(body, list):
            body = body[int(part)]
        else:
            body = body.get(part) if isinstance(body, dict) else None
    return body


@pytest.mark.parametrize("vendor", ["entra", "okta"])
def test_recorded_provisioning_sequence(server: LiveServer, vendor: str) -> None:
    recording = json.loads((DATA / f"{vendor}.json").read_text())
    tag = unique(vendor)
    names = {
        "userName": f"{tag}@contoso.example",
        "externalId": tag,
        "groupName": f"{tag}-group",
    }
    with scim_client(server, scim_token(server)) as http:
        for step in recording["steps"]:
            body = _fill(step.get("body"), names)
            path = _fill(step["path"], names)
            response = http.request(
                step["method"], path, content=json.dumps(body) if body is not None else None
            )
            assert response.status_code == step["status"], (step["name"], response.text)
            if "save" in step:
                names[step["save"]] = response.json()["id"]
            for dotted, wanted in _fill(step.get("expect", {}), names).items():
                assert _at(response.json(), dotted) == wanted, (step["name"], dotted)
    _check_final_state(server, names, vendor)


def _check_final_state(server: LiveServer, names: dict[str, str], vendor: str) -> None:
    async def state(services: Any) -> tuple[bool | None, list[str]]:
        user = await services.store.users.get(names["user"])
        return (user.disabled if user else None), await services.store.access.members(
            names["group"]
        )

    disabled, members = server.call(state)
    # Entra deletes the user at the end; Okta leaves it deactivated.
    assert disabled is (None if vendor == "entra" else True)
    assert members == []
