"""Passkeys (WebAuthn): registration on the account pages, and sign-in with one."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
