"""Signing in to the admin console, and what keeps its session honest, against a real server.

The console is a first-party public client of the server itself: authorization code with
PKCE (RFC 7636), a second factor asked for with ``acr_values`` (OIDC Core §3.1.2.1), the ID
token checked as a relying party checks it (OIDC Core §3.1.3.7). Its own session is a
sealed cookie tied to the Ostiary session (``sid``), re-checked on every request.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ostiary.accounts import lifecycle
from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID
from ostiary.domain.mfa import ACR_MFA
from ostiary.services import Services
from tests.conftest import LiveServer, own_server
from tests.e2e.console_helpers import (
    console_client,
    console_csrf,
    make_console_user,
    sign_in,
    signed_in_client,
)
from tests.e2e.helpers import PASSWORD, csrf_of


def test_console_pages_send_a_person_to_sign_in_first(server: LiveServer) -> None:
    with console_client(server) as web:
        answer = web.get("/admin/", params={"q": "x"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login?next=/admin/%3Fq%3Dx"


def test_login_asks_the_authorization_endpoint_for_code_pkce_and_a_second_factor(
    server: LiveServer,
) -> None:
    with console_client(server) as web:
        answer = web.get("/admin/login")
        assert answer.status_code == 303
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == (
            f"{server.base_url}/authorize"
        )
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert query["client_id"] == CONSOLE_CLIENT_ID
        assert query["response_type"] == "code"
        assert query["redirect_uri"] == f"{server.base_url}/admin/callback"
        # RFC 7636 §4.3 and RFC 9700 §2.1.1: S256 PKCE, never plain.
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["acr_values"] == ACR_MFA
        assert query["state"] and query["nonce"]
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("ost_console_login=") and "HttpOnly" in cookie
        assert "Path=/admin" in cookie


def test_an_admin_signs_in_with_password_and_code_and_sees_the_dashboard(
    server: LiveServer,
) -> None:
    admin = make_console_user(server, "admin")
    with console_client(server) as web:
        answer = sign_in(web, admin)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/"
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("ost_console="))
        assert "HttpOnly" in session and "SameSite=Strict" in session
        assert "Path=/admin" in session
        # A loopback http issuer (development) cannot carry Secure cookies.
        assert "Secure" not in session
        page = web.get("/admin/")
        assert page.status_code == 200
        for name in ("Users", "Clients", "Roles", "Groups", "Scopes", "Providers", "Keys", "Audit"):
            assert f">{name}</a>" in page.text
        assert admin.username in page.text


def test_console_pages_forbid_inline_script_framing_and_caching(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        page = web.get("/admin/")
        policy = page.headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and "style=" not in page.text


def test_a_user_without_a_console_role_is_refused_at_the_callback(server: LiveServer) -> None:
    nobody = make_console_user(server, None)
    with console_client(server) as web:
        answer = sign_in(web, nobody)
        assert answer.status_code == 403
        assert "no console role" in answer.text
        assert not any(c.startswith("ost_console=") for c in answer.headers.get_list("set-cookie"))
        assert web.get("/admin/").status_code == 303


@pytest.mark.parametrize("role", ["user-admin", "auditor"])
def test_narrower_console_roles_sign_in_too(server: LiveServer, role: str) -> None:
    person = make_console_user(server, role)
    with signed_in_client(server, person) as web:
        page = web.get("/admin/")
        assert page.status_code == 200
        assert role in page.text


def test_without_a_factor_the_console_leads_to_enrolment_not_in(server: LiveServer) -> None:
    """The console wants acr mfa: an admin with only a password is taken to set up a
    second factor by the authorization endpoint and gets no console session before."""
    admin = make_console_user(server, "admin", with_totp=False)
    with console_client(server) as web:
        start = web.get("/admin/login")
        page = web.get(start.headers["location"].removeprefix(server.base_url))
        interaction = page.text.split('action="', 1)[1].split('/login"', 1)[0]
        answer = web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(page.text), "username": admin.username, "password": PASSWORD},
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"{interaction}/mfa"
        enrol = web.get(f"{interaction}/mfa")
        assert enrol.status_code == 200 and "otpauth://" in enrol.text
        assert web.get("/admin/").status_code == 303


def test_with_mfa_off_a_password_is_enough(database_url: str) -> None:
    with own_server(database_url, mfa="off") as live:
        admin = make_console_user(live, "admin", with_totp=False)
        with console_client(live) as web:
            start = web.get("/admin/login")
            assert "acr_values" not in start.headers["location"]
            assert sign_in(web, admin).status_code == 303
            assert web.get("/admin/").status_code == 200


def test_a_forged_or_replayed_callback_is_refused(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with console_client(server) as web:
        # RFC 6749 §10.12: no login started in this browser, so no state to match.
        assert web.get("/admin/callback", params={"code": "x", "state": "y"}).status_code == 400
        web.get("/admin/login")
        assert web.get("/admin/callback", params={"code": "x", "state": "y"}).status_code == 400
    with console_client(server) as web:
        answer = sign_in(web, admin)
        callback = answer.request.url
        assert answer.status_code == 303
    with console_client(server) as other:
        # The same callback URL in another browser: no pending login there.
        assert other.get(str(callback)).status_code == 400


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example/", "//evil.example/admin", "/admin\\@evil.example", "/elsewhere"],
)
def test_the_way_back_after_sign_in_never_leaves_the_console(
    server: LiveServer, next_path: str
) -> None:
    admin = make_console_user(server, "admin")
    with console_client(server) as web:
        answer = sign_in(web, admin, path=next_path)
        assert answer.headers["location"] == "/admin"


def test_disabling_the_admin_ends_their_console_at_the_next_request(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        assert web.get("/admin/").status_code == 200

        async def disable(services: Services) -> None:
            user = await services.store.users.get(admin.user_id)
            assert user is not None
            await lifecycle.disable(services, user)

        server.call(disable)
        assert web.get("/admin/").status_code == 303


def test_taking_the_role_away_ends_console_access_at_once(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        server.call(lambda services: services.store.access.unassign(admin.user_id, "admin"))
        assert web.get("/admin/").status_code == 303


def test_sign_out_ends_the_console_and_the_ostiary_session(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        csrf = console_csrf(web)
        answer = web.post("/admin/logout", data={"csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/signed-out"
        assert web.get("/admin/").status_code == 303
        # The single sign-on session ended too: signing in again asks for the password.
        start = web.get("/admin/login")
        again = web.get(start.headers["location"].removeprefix(server.base_url))
        assert again.status_code == 200 and 'name="password"' in again.text
        sessions = server.call(lambda services: services.store.sessions.for_user(admin.user_id))
        assert sessions == []


def test_forms_without_the_sessions_csrf_token_are_refused(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    other = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web, signed_in_client(server, other) as web2:
        theirs = console_csrf(web2)
        assert web.post("/admin/logout", data={}).status_code == 403
        assert web.post("/admin/logout", data={"csrf": theirs}).status_code == 403
        assert web.post("/admin/logout", data={"csrf": "é"}).status_code == 403
        # Still signed in: a refused form changes nothing.
        assert web.get("/admin/").status_code == 200


def test_a_tampered_session_cookie_counts_as_none(server: LiveServer) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        value = web.cookies["ost_console"]
        web.cookies.set("ost_console", value[:-4] + "AAAA", path="/admin")
        assert web.get("/admin/").status_code == 303


def test_an_idle_console_asks_to_sign_in_again(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        idle = server.settings.admin_console.idle_timeout
        from ostiary import clock

        real = clock.now
        monkeypatch.setattr(clock, "now", lambda: real() + idle + 1)
        assert web.get("/admin/").status_code == 303


def test_the_console_can_be_switched_off(database_url: str) -> None:
    with (
        own_server(database_url, admin_console={"enabled": False}) as live,
        httpx.Client(base_url=live.base_url) as web,
    ):
        assert web.get("/admin/").status_code == 404
        assert web.get("/admin/login").status_code == 404


@pytest.mark.parametrize("path", ["/admin/?q=%00", "/admin/users/%00", "/admin/clients/a%00b"])
def test_a_console_address_with_nul_is_a_clear_400(server: LiveServer, path: str) -> None:
    admin = make_console_user(server, "admin")
    with signed_in_client(server, admin) as web:
        answer = web.get(path)
        assert answer.status_code == 400
        assert "NUL" in answer.text


def test_the_consoles_client_is_made_or_moved_at_sign_in(database_url: str) -> None:
    """The run's database is shared: the client may exist for another test server's issuer.
    (That a fresh start makes no client: ``test_serve.py``.)"""
    with own_server(database_url) as live, console_client(live) as web:
        assert web.get("/admin/login").status_code == 303
        client = live.call(lambda services: services.store.clients.get(CONSOLE_CLIENT_ID))
        assert client is not None and client.public and client.first_party
        # Each test server has its own issuer (port): the client follows it.
        assert client.redirect_uris == (f"{live.base_url}/admin/callback",)
