"""Retention: forget what need not be kept (expired secrets, old audit events)."""

from __future__ import annotations

import asyncio
import logging

from ostiary.accounts.mfa import totp
from ostiary.services import Services
from ostiary.storage.repos.federation_identities import FederationRepository

log = logging.getLogger("ostiary.retention")

INTERVAL = 600
LOGOUT_FAILURES_DAYS = 30
# Codes are kept an hour past expiry so a late replay is still recognised and revoked.
CODE_REPLAY_MEMORY = 3600


async def purge(services: Services) -> dict[str, int]:
    """Delete expired rows everywhere; returns how many of each kind went."""
    store = services.store
    return {
        "authorization_codes": await store.codes.purge_expired(CODE_REPLAY_MEMORY),
        "refresh_tokens": await store.refresh_tokens.purge_expired(),
        "revoked_token_ids": await store.revocations.purge_expired(),
        "revocation_events": await store.revocation_events.purge_expired(),
        "sessions": await store.sessions.purge_expired(),
        "interactions": await store.interactions.purge_expired(),
        "one_time_tokens": await store.one_time_tokens.purge_expired(),
        "pushed_authorizations": await store.pushed_authorizations.purge_expired(),
        "used_jtis": await store.used_jtis.purge_expired(),
        # A second factor's secret that was never confirmed is not kept.
        "unconfirmed_factors": await store.factors.purge_unconfirmed(totp.ENROLMENT_TTL),
        "federation_states": await FederationRepository(services.engine).purge_expired(),
        "throttles": await store.throttles.purge_idle(services.settings.lockout.window),
        "rate_limit_counters": await store.rate_limits.purge_expired(),
        "logout_failures": await store.logout_failures.purge_older_than(
            LOGOUT_FAILURES_DAYS * 86400
        ),
        "audit_events": await store.audit.purge_older_than(
            services.settings.audit.retention_days * 86400
        ),
    }


async def purge_forever(services: Services) -> None:
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            removed = await purge(services)
            log.info("purged %s", {k: v for k, v in removed.items() if v})
        except Exception:
            log.exception("purging expired rows failed")
