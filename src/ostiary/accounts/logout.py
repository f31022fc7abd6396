"""Ending an SSO session everywhere: tokens, deny list, and every client's back channel."""

from __future__ import annotations

from ostiary import clock
from ostiary.accounts import backchannel
from ostiary.accounts.deps import SessionEnding
from ostiary.domain.sessions import Session
from ostiary.storage.repos.revocation_events import cutoff


async def end_session(services: SessionEnding, session: Session) -> list[str]:
    """End one SSO session; returns the ids of clients told over the back channel.

    Session-bound refresh tokens are revoked and the access tokens issued in the session
    go on the deny list; offline_access tokens stay (OIDC Core §11). Notifications are
    sent after the response, with retries (Back-Channel Logout §2.5).
    """
    store = services.store
    revoked = await store.refresh_tokens.revoke_for_session(session.sid)
    denied = [(r.jti, r.expires_at) for r in revoked]
    denied += await store.codes.issued_for_session(session.sid)
    await store.revocations.revoke(denied)
    client_ids = await store.sessions.clients_of(session.sid)
    await store.sessions.delete_sid(session.sid)
    if session.sid:
        # Access tokens not on record one by one carry the sid: the feed names the session.
        await store.revocation_events.add_many([cutoff("sid", session.sid, clock.now())])
    told = []
    for client_id in client_ids:
        client = await store.clients.get(client_id)
        if client is not None and client.backchannel_logout_uri:
            services.spawn(_deliver(services, client_id, session))
            told.append(client_id)
    return told


async def _deliver(services: SessionEnding, client_id: str, session: Session) -> None:
    client = await services.store.clients.get(client_id)
    if client is not None:
        await backchannel.deliver(services, client, session.user_id, session.sid)
