"""Authorization code grant, token request (RFC 6749 §4.1.3, RFC 7636 §4.6)."""

from __future__ import annotations

from typing import Any, NoReturn

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.domain.codes import AuthorizationCode, CodeState
from ostiary.errors import invalid_grant, invalid_request
from ostiary.oauth import pkce
from ostiary.oauth.grants import roles
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oidc import id_token
from ostiary.services import Services
from ostiary.tokens.service import Grant, token_response


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    async def handle(self, request: TokenRequest, services: Services) -> dict[str, Any]:
        code_value = request.params.get("code")
        if code_value is None:
            raise invalid_request("code is required")
        code_hash = digest(code_value)
        # A code this worker issued at the end of a login (the usual case: the client
        # redeems it at once) is known without reading it back; its redemption then also
        # checks in the database what the read would have (one read fewer). If that does not
        # hold (a replay, or the user, the session or the scopes' gates changed), the
        # code's state as the database has it decides, as for any other code.
        issued = services.store.codes.take(code_hash)
        if issued is not None:
            answer = await self._redeem(request, services, code_hash, issued, guarded=True)
            if answer is not None:
                return answer
        # One statement: the code, its user, its session and its scopes' role gates.
        state = await services.store.codes.state(code_hash)
        answer = await self._redeem(request, services, code_hash, state, guarded=False)
        assert answer is not None  # unguarded: redeemed, or an error raised
        return answer

    async def _redeem(
        self,
        request: TokenRequest,
        services: Services,
        code_hash: bytes,
        state: CodeState | None,
        *,
        guarded: bool,
    ) -> dict[str, Any] | None:
        params, client = request.params, request.client
        code = state.code if state is not None else None
        # RFC 6749 §4.1.3: the code was issued to the authenticated client.
        if state is None or code is None or code.client_id != client.client_id:
            raise invalid_grant("authorization code is invalid")
        if code.consumed_at is not None:
            await _replayed(code_hash, services)
        now = clock.now()
        if code.expires_at <= now:
            raise invalid_grant("authorization code has expired")
        _check_redirect_uri(code, params.get("redirect_uri"))
        _check_pkce(code, params.get("code_verifier"))
        user = state.user
        if user is None or user.disabled:
            raise invalid_grant("the user is no longer active")
        # A code outlives neither its session: a logout before redemption kills it.
        if state.session_ended(now):
            raise invalid_grant("the session this code was issued in has ended")

        # Roles may have changed since the code was issued: grant only what is allowed now.
        scopes, extra = await roles.for_token(
            services, client, user.id, frozenset(code.scopes), state.gates
        )
        grant = Grant(
            client,
            user.id,
            user.id,
            scopes,
            auth_time=code.auth_time,
            sid=code.sid,
            acr=code.acr,
            amr=code.amr,
            claims=code.claims,
            extra=extra,
        )
        issued = await services.tokens.access_token(grant)
        wanted, bound_sid = grant.refresh_policy()
        refresh, row = (
            services.tokens.new_refresh_token(grant, issued, sid=bound_sid)
            if wanted
            else (None, None)
        )
        # Single use, exact even under concurrency: only one request consumes the code, and
        # it records what it issues and stores the refresh token in the same statement, so
        # a replay racing it revokes the tokens issued here.
        if not await services.store.codes.redeem(
            code_hash,
            access_jti=issued.jti,
            access_expires_at=issued.expires_at,
            refresh=row,
            guarded=guarded,
        ):
            if guarded:
                return None
            await _replayed(code_hash, services)
        issued_id_token = None
        if "openid" in scopes:
            # OIDC Core §3.1.3.3: the token response carries an ID token.
            issued_id_token = await id_token.issue(
                services,
                client,
                user,
                scopes,
                id_token.Authentication(code.auth_time, code.acr, code.amr, code.sid),
                nonce=code.nonce,
                access_token=issued.token,
                requested=(code.claims or {}).get("id_token"),
                extra=extra,
            )
        services.audit.later(
            "token.issued",
            actor=f"client:{client.client_id}",
            user_id=user.id,
            client_id=client.client_id,
            details={"grant_type": self.grant_type, "scope": " ".join(sorted(scopes))},
        )
        return token_response(issued, scopes, refresh, issued_id_token)


def _check_redirect_uri(code: AuthorizationCode, given: str | None) -> None:
    # RFC 6749 §4.1.3: required if it was in the authorization request, and identical.
    if code.redirect_uri_given and given is None:
        raise invalid_grant("redirect_uri is required")
    if given is not None and given != code.redirect_uri:
        raise invalid_grant("redirect_uri does not match the authorization request")


def _check_pkce(code: AuthorizationCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        # RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        if verifier is not None:
            raise invalid_grant("code_verifier sent but no code_challenge was used")
        return
    if verifier is None:
        raise invalid_grant("code_verifier is required")
    if not pkce.verify(verifier, code.code_challenge):
        raise invalid_grant("code_verifier does not match the code_challenge")


async def _replayed(code_hash: bytes, services: Services) -> NoReturn:
    """RFC 6749 §4.1.2: a code used twice is refused, and what it issued is revoked."""
    code = await services.store.codes.mark_replayed(code_hash)
    denied: list[tuple[str, int]] = []
    if code is not None and code.family_id:
        denied += [
            (r.jti, r.expires_at)
            for r in await services.store.refresh_tokens.revoke_family(code.family_id)
        ]
    if code is not None and code.access_jti and code.access_expires_at:
        denied.append((code.access_jti, code.access_expires_at))
    await services.store.revocations.revoke(denied)
    raise invalid_grant("authorization code was already used")
