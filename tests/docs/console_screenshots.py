"""The screenshots of docs/admin-console.md, taken from a real server in Chromium.

    .venv/bin/python -m tests.docs.console_screenshots

Starts Ostiary on a fresh SQLite database, makes a few users, clients, a group and some
sign-ins so the pages have something to show, signs in as an administrator (password and
authenticator code) and saves each main page to ``docs/images/console-*.png``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import Services
from tests import databases
from tests.conftest import free_port, server_settings, start_server
from tests.e2e.chromium import launch_chromium
from tests.e2e.console_helpers import browser_sign_in, make_console_user

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PAGES = {
    "dashboard": "/admin/",
    "users": "/admin/users",
    "clients": "/admin/clients",
    "audit": "/admin/audit",
    "groups": "/admin/groups",
    "keys": "/admin/keys",
}


async def _content(services: Services) -> str:
    """People, applications and a group; the id of one user to show."""
    store = services.store
    shown = ""
    for name, full in (("ada", "Ada Lovelace"), ("grace", "Grace Hopper"), ("alan", "Alan Turing")):
        user = await store.users.add(
            username=name,
            email=f"{name}@example.com",
            password_hash=await services.passwords.hash("a long password 1"),
            profile={"name": full},
        )
        shown = shown or user.id
    await store.access.create_role("payroll-clerk", "approves payroll runs")
    await store.access.assign(shown, "payroll-clerk")
    for name, uri in (
        ("Payroll", "https://payroll.example.com/cb"),
        ("Wiki", "https://wiki.example.com/cb"),
    ):
        await register(
            store.clients,
            ClientSpec(
                name=name, redirect_uris=[uri], grant_types=[], scopes=["openid", "profile"]
            ),
        )
    await register(
        store.clients,
        ClientSpec(
            name="Nightly export", redirect_uris=[], grant_types=[], scopes=["reports:read"]
        ),
    )
    group = await store.access.create_group("finance", None)
    await store.access.add_member(group.id, shown)
    return shown


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = databases.create("sqlite", Path(tmp))
        port = free_port()
        server, stop = start_server(server_settings(url, port), port)
        try:
            user_id = server.call(_content)
            admin = make_console_user(server, "admin")
            with launch_chromium() as chromium:
                page = chromium.new_page(viewport={"width": 1280, "height": 860})
                browser_sign_in(page, server, admin)
                for name, path in {**PAGES, "user": f"/admin/users/{user_id}"}.items():
                    page.goto(f"{server.base_url}{path}")
                    page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=False)
                page.set_viewport_size({"width": 390, "height": 844})
                page.goto(f"{server.base_url}/admin/users/{user_id}")
                page.screenshot(path=str(IMAGES / "console-user-phone.png"))
        finally:
            stop()
            databases.drop(url)
    print(f"saved to {IMAGES}")


if __name__ == "__main__":
    main()
