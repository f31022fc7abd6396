"""The end every grant shares: the ID token, the audit event, the RFC 6749 §5.1 response."""

from __future__ import annotations

from typing import Any

from ostiary.domain.users import User
from ostiary.oauth.deps import GrantDeps
from ostiary.tokens import id_token
from ostiary.tokens.service import Grant, IssuedAccessToken, token_response


async def respond(
    services: GrantDeps,
    grant: Grant,
    access: IssuedAccessToken,
    *,
    event: str,
    grant_type: str | None = None,
    user: User | None = None,
    nonce: str | None = None,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    """The response for ``grant`` (what the access token was issued for).

    ``event``: the audit event (queued, ``AuditLog.later``), with ``grant_type`` among its
    details when given. ``user``: the resource owner, for the ID token, which goes with the
    response when ``openid`` was granted (OIDC Core §3.1.3.3; §12.2 for a refresh, whose
    ``nonce`` is None).
    """
    client, scopes = grant.client, grant.scopes
    issued_id_token = None
    if user is not None and "openid" in scopes:
        issued_id_token = await id_token.issue(
            services,
            client,
            user,
            scopes,
            id_token.Authentication(grant.auth_time or 0, grant.acr, grant.amr, grant.sid),
            nonce=nonce,
            access_token=access.token,
            requested=(grant.claims or {}).get("id_token"),
            extra=grant.extra,
        )
    # RFC 8707 §2.2: the access token's scopes, narrowed to its resources (the response's
    # scope is the access token's, RFC 6749 §5.1).
    access_scopes = grant.access_scopes
    scope = " ".join(sorted(access_scopes))
    details = {"grant_type": grant_type, "scope": scope} if grant_type else {"scope": scope}
    if grant.target is not None:
        details["resource"] = " ".join(grant.target.audience)
    services.audit.later(
        event,
        actor=f"client:{client.client_id}",
        user_id=grant.user_id,
        client_id=client.client_id,
        details=details,
    )
    return token_response(access, access_scopes, refresh_token, issued_id_token)
