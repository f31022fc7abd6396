"""The console's search by name finds a user by the start of their name, given name or
family name, in any case, wherever the name was set: the admin API and the console's
profile form (``users.profile``) as well as SCIM provisioning (``scim_users``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_SCOPE
from ostiary.storage.queries import user_search
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import console_csrf, make_console_user, signed_in_client
from tests.e2e.helpers import make_client
from tests.e2e.scim_fixtures import USER_SCHEMA, scim_client, scim_token
from tests.e2e.test_admin_api import api_client, client_token


@pytest.fixture(scope="module")
def web(server: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(server, make_console_user(server, "admin")) as client:
        yield client


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    client = make_client(
        server, redirect_uris=[], grant_types=["client_credentials"], scopes=[ADMIN_SCOPE]
    )
    assert client.secret is not None
    token = client_token(server, client.client_id, client.secret, ADMIN_SCOPE)
    with api_client(server, token) as http:
        yield http


def person() -> tuple[str, str]:
    """A given and a family name no other test uses (letters, so case applies)."""
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    return f"Ysolde{tag}", f"Quaresma{tag}"


def by_api(api: httpx.Client, given: str, family: str) -> str:
    created = api.post(
        "/users",
        json={
            "username": unique("api"),
            "profile": {"name": f"{given} {family}", "given_name": given, "family_name": family},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def by_console(api: httpx.Client, web: httpx.Client, given: str, family: str) -> str:
    """A user without names, then named through the console's profile form."""
    created = api.post("/users", json={"username": unique("form")})
    assert created.status_code == 201, created.text
    user_id = str(created.json()["id"])
    path = f"/admin/users/{user_id}/edit"
    fields = {"name": f"{given} {family}", "given_name": given, "family_name": family}
    saved = web.post(path, data={"csrf": console_csrf(web, path), "email": "", **fields})
    assert saved.status_code == 303, saved.text
    return user_id


def by_scim(server: LiveServer, given: str, family: str) -> str:
    with scim_client(server, scim_token(server)) as scim:
        created = scim.post(
            "/Users",
            json={
                "schemas": [USER_SCHEMA],
                "userName": unique("scim"),
                "displayName": f"{given} {family}",
                "name": {"givenName": given, "familyName": family},
            },
        )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def found(web: httpx.Client, q: str) -> str:
    page = web.get("/admin/users", params={"q": q, "by": "name"})
    assert page.status_code == 200, page.text
    return page.text


def starts(name: str) -> list[str]:
    """The start of ``name`` in the case given, lower and upper."""
    head = name[: len(name) - 2]
    return [head, head.lower(), head.upper()]


@pytest.mark.parametrize("door", ["api", "console", "scim"])
def test_a_name_is_found_by_the_start_of_each_of_its_parts_in_any_case(
    server: LiveServer, web: httpx.Client, api: httpx.Client, door: str
) -> None:
    given, family = person()
    if door == "api":
        user_id = by_api(api, given, family)
    elif door == "console":
        user_id = by_console(api, web, given, family)
    else:
        user_id = by_scim(server, given, family)
    link = f'href="/admin/users/{user_id}"'
    whole = f"{given} {family}"
    for q in [*starts(given), *starts(family), *starts(whole[: len(given) + 4])]:
        assert link in found(web, q), (door, q)
    assert link not in found(web, given + "x")


def test_users_found_through_both_kinds_of_name_come_in_one_list(
    server: LiveServer, web: httpx.Client, api: httpx.Client
) -> None:
    given, family = person()
    in_profile = by_api(api, given, family + "a")
    in_scim = by_scim(server, given, family + "b")
    page = found(web, family.lower())
    assert f'href="/admin/users/{in_profile}"' in page
    assert f'href="/admin/users/{in_scim}"' in page


def test_a_name_with_other_capitals_is_found_as_typed(web: httpx.Client, api: httpx.Client) -> None:
    # SQLite's lower() changes ASCII letters only: "Éowyn" is looked up as typed too.
    given, family = person()
    user_id = by_api(api, "É" + given, family)
    assert f'href="/admin/users/{user_id}"' in found(web, "É" + given[:5])


def test_a_profile_range_is_capped_like_a_scim_one(
    web: httpx.Client, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server runs in this process: a cap of 2 stands for NAME_CANDIDATES.
    monkeypatch.setattr(user_search, "NAME_CANDIDATES", 2)
    given, family = person()
    for n in range(3):
        by_api(api, f"{given}{n}", family)
    page = found(web, given)
    assert "More names match than can be listed" in page
    assert page.count("Quaresma") == 2
    assert "More names match" not in found(web, given + "1")


def test_the_users_page_no_longer_says_names_are_scim_only(web: httpx.Client) -> None:
    page = web.get("/admin/users")
    assert page.status_code == 200 and "SCIM" not in page.text
