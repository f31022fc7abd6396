"""Wildcard redirect URIs, against a real server on SQLite and PostgreSQL (RFC 9700
§4.1.3 / §2.1 exact matching, RFC 6749 §3.1.2): refused at registration through every
door (command line, admin API create and patch) for redirect, post-logout and back-channel
logout URIs, nothing stored; a row stored before the rule is listed and shown through every
door (never a 500), ``client show`` warns about it, and it never matches an expansion."""

from __future__ import annotations

import json
import secrets

import httpx

from ostiary.domain.clients import Client
from ostiary.oauth.redirect_uris import WILDCARD
from ostiary.services import Services
from tests.e2e import test_identity_fields as fields

doors = fields.doors
Doors = fields.Doors
ok = fields.ok

STAR = "https://*.example.com/cb"


def client_ids(doors: Doors) -> set[str]:
    async def listed(services: Services) -> set[str]:
        return {c.client_id for c in await services.store.clients.list()}

    return doors.server.call(listed)


def test_every_door_refuses_a_wildcard_uri_and_stores_nothing(doors: Doors) -> None:
    before = client_ids(doors)
    created = doors.cli("client", "create", "--name", "wild", "--redirect-uri", STAR, "--json")
    assert created.returncode == 1 and created.stdout == ""
    assert created.stderr.strip().splitlines() == [f"error: redirect URI {STAR!r}: {WILDCARD}"]

    good = {"client_name": "tame", "redirect_uris": ["https://app.example.com/cb"]}
    for field, value, named in (
        ("redirect_uris", [STAR], "redirect URI"),
        ("redirect_uris", ["https://{tenant}.example.com/cb"], "redirect URI"),
        ("post_logout_redirect_uris", ["https://app.example.com/*"], "post-logout"),
        ("backchannel_logout_uri", "https://*.example.com/logout", "back-channel logout"),
    ):
        refused = doors.admin.post("/clients", json={**good, field: value})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        detail = refused.json()["detail"]
        assert detail.startswith(named) and ("wildcard" in detail or "not a host name" in detail)
    assert client_ids(doors) == before

    made = ok(doors.admin.post("/clients", json=good), 201)
    patched = doors.admin.patch(f"/clients/{made['client_id']}", json={"redirect_uris": [STAR]})
    assert patched.status_code == 422, patched.text
    assert WILDCARD in patched.json()["detail"]
    assert ok(doors.admin.get(f"/clients/{made['client_id']}"))["redirect_uris"] == [
        "https://app.example.com/cb"
    ]


def test_a_wildcard_row_stored_before_the_rule_is_shown_everywhere_and_matches_only_itself(
    doors: Doors,
) -> None:
    legacy_uris = [STAR, "https://app.example.com/cb"]

    async def store(services: Services) -> Client:
        # Written straight to the repository, as a release without the rule did.
        return await services.store.clients.add(
            name="legacy",
            secret_hash=None,
            public=True,
            token_endpoint_auth_method="none",
            redirect_uris=legacy_uris,
            grant_types=["authorization_code", "refresh_token"],
            scopes=["read"],
            post_logout_redirect_uris=["https://*.example.com/bye"],
        )

    client = doors.server.call(store)
    got = ok(doors.admin.get(f"/clients/{client.client_id}"))
    assert got["redirect_uris"] == legacy_uris
    assert got["post_logout_redirect_uris"] == ["https://*.example.com/bye"]
    listed = ok(doors.admin.get("/clients", params={"limit": 200}))
    assert listed is not None

    shown, cli_listed = doors.cli_all(
        ("client", "show", client.client_id, "--json"), ("client", "list", "--json")
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["redirect_uris"] == legacy_uris
    warnings = shown.stderr.strip().splitlines()
    assert warnings == [
        f"warning: redirect URI {STAR!r} would be refused today ({WILDCARD}); "
        "it matches only itself exactly",
        "warning: post-logout redirect URI 'https://*.example.com/bye' would be refused "
        f"today ({WILDCARD}); it matches only itself exactly",
    ]
    assert client.client_id in {c["client_id"] for c in json.loads(cli_listed.stdout)}

    # Exact matching: an expansion of the '*' is an unregistered redirect URI (an error
    # page, never a redirect); the other registered URI leads to the login page.
    for requested, allowed in ((f"https://{secrets.token_hex(3)}.example.com/cb", False),
                               ("https://app.example.com/cb", True)):  # fmt: skip
        answer = httpx.get(
            doors.server.base_url + "/authorize",
            params={
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": requested,
                "scope": "read",
                "state": "s",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGHSc-9Z2A",
                "code_challenge_method": "S256",
            },
        )
        if allowed:
            assert answer.status_code == 200, answer.text  # the login page
            assert 'name="password"' in answer.text
        else:
            assert answer.status_code == 400, answer.text
            assert "location" not in answer.headers
            assert "redirect_uri is not registered" in answer.text

    # A change to anything else is checked as a whole: the operator is told why.
    renamed = doors.admin.patch(f"/clients/{client.client_id}", json={"client_name": "x"})
    assert renamed.status_code == 422 and WILDCARD in renamed.json()["detail"]
