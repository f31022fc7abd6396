"""Ending the SSO session from the browser, with CSRF protection on the form."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.e2e.helpers import (
    authorize_params,
    browser,
    csrf_of,
    login_and_consent,
    login_page,
    make_client,
    make_user,
    pkce_pair,
)


def test_rp_initiated_logout_2_asks_the_user_and_needs_csrf(server: LiveServer) -> None:
    client = make_client(server, first_party=True)
    username = make_user(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        first = login_and_consent(web, authorize_params(client, challenge), username)
        assert "code=" in first.headers["location"]
        # Signed in: a second request goes straight back with a code.
        again = web.get("/authorize", params=authorize_params(client, challenge))
        assert "code=" in again.headers["location"]

        # A forged form does not sign anyone out: the user is asked instead.
        forged = web.post("/logout", data={"csrf": "forged"})
        assert forged.status_code == 200
        assert "Sign out?" in forged.text
        still = web.get("/authorize", params=authorize_params(client, challenge))
        assert "code=" in still.headers["location"]

        confirm = web.get("/logout")
        done = web.post("/logout", data={"csrf": csrf_of(confirm.text)})
        assert done.status_code == 200
        assert "signed out" in done.text
        login_page(web, authorize_params(client, challenge))


def test_rfc6749_10_12_non_ascii_csrf_value_is_refused_not_a_server_error(
    server: LiveServer,
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        location, _ = login_page(web, authorize_params(client, challenge))
        login = web.post(f"{location}/login", data={"csrf": "é" * 64, "username": "x"})
        assert login.status_code == 403
        logout = web.post("/logout", data={"csrf": "é"})
        assert logout.status_code == 200
