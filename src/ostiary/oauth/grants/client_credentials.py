"""Client credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

from typing import Any

from ostiary.errors import unauthorized_client
from ostiary.oauth import resource_indicators
from ostiary.oauth.deps import GrantDeps
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.grants.finish import respond
from ostiary.oauth.scopes import check_allowed, parse_scope
from ostiary.tokens.service import Grant


class ClientCredentialsGrant:
    grant_type = "client_credentials"

    async def handle(self, request: TokenRequest, services: GrantDeps) -> dict[str, Any]:
        client = request.client
        # RFC 6749 §4.4: MUST only be used by confidential clients.
        if client.public:
            raise unauthorized_client("public clients cannot use client_credentials")
        scopes = check_allowed(parse_scope(request.params.get("scope")), client.scopes)
        # RFC 8707 §2.2: the resources asked for are the audience, the scopes narrowed.
        target = (
            await resource_indicators.for_token(
                services.store.resources, request.params, scopes, granted=None
            )
            if "resource" in request.params
            else None
        )
        # RFC 9068 §2.2: with no resource owner, sub identifies the client.
        grant = Grant(
            client=client,
            subject=client.client_id,
            user_id=None,
            scopes=scopes,
            jkt=request.jkt,
            x5t=request.x5t,
            target=target,
        )
        access = await services.tokens.access_token(grant)
        # RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
        return await respond(
            services, grant, access, event="token.issued", grant_type=self.grant_type
        )
