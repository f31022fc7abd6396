"""Download my data: what Ostiary holds about a person, as one JSON document.

No password hash, no session or token digests, no secrets: the profile as the admin API
shows it, effective roles and groups, sessions, consents and the person's audit events.
"""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.accounts import self_service
from ostiary.accounts.deps import AccountDeps
from ostiary.accounts.signin import SignedIn

AUDIT_PAGE = 500
# Enough for years of ordinary use; a longer trail is cut and says so.
MAX_AUDIT_EVENTS = 20_000


async def account_data(services: AccountDeps, signed_in: SignedIn) -> dict[str, Any]:
    user = signed_in.user
    effective = await services.store.access.effective(user.id)
    sessions = await self_service.sessions_of(services, signed_in)
    applications = await self_service.applications_of(services, user.id)
    events, complete = await _audit_events(services, user.id)
    return {
        "exported_at": clock.now(),
        "issuer": services.settings.issuer,
        "profile": user.public_view(),
        "roles": sorted(effective.roles),
        "groups": sorted(effective.groups),
        "sessions": [
            {
                "created_at": s.created_at,
                "auth_time": s.auth_time,
                "expires_at": s.expires_at,
                "amr": list(s.amr),
                "applications": list(s.clients),
                "current": s.current,
            }
            for s in sessions
        ],
        "applications": [
            {
                "client_id": a.client_id,
                "name": a.name,
                "scopes": list(a.scopes),
                "granted_at": a.granted_at,
            }
            for a in applications
        ],
        "audit_events": events,
        "audit_events_complete": complete,
    }


async def _audit_events(services: AccountDeps, user_id: str) -> tuple[list[dict[str, Any]], bool]:
    events: list[dict[str, Any]] = []
    after: int | None = None
    while len(events) < MAX_AUDIT_EVENTS:
        page = await services.store.audit.query(user_id=user_id, after_id=after, limit=AUDIT_PAGE)
        events += [e.as_json() for e in page]
        if len(page) < AUDIT_PAGE:
            return events, True
        after = page[-1].id
    return events[:MAX_AUDIT_EVENTS], False
