"""The second factor of a sign-in at the authorization endpoint: after the password (or
for a step-up of a signed-in session), the interaction owes a factor or an enrolment."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
