"""Authorization code grant, token request (RFC 6749 §4.1.3, RFC 7636 §4.6)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NoReturn

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.domain.codes import AuthorizationCode, CodeState, Refused
from ostiary.domain.tokens import NewRefreshToken
from ostiary.domain.users import User
from ostiary.errors import invalid_grant, invalid_request
from ostiary.oauth import pkce, resource_indicators
from ostiary.oauth.deps import GrantDeps
from ostiary.oauth.grants import roles
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.grants.finish import respond
from ostiary.tokens.service import Grant, IssuedAccessToken


class AuthorizationCodeGrant:
    grant_type = "authorization_code"

    async def handle(self, request: TokenRequest, services: GrantDeps) -> dict[str, Any]:
        code_value = request.params.get("code")
        if code_value is None:
            raise invalid_request("code is required")
        code_hash = digest(code_value)
        redeemed = await services.store.codes.redeem(
            code_hash, request.client.client_id, _Decision(request, services)
        )
        # RFC 6749 §4.1.3: the code was issued to the authenticated client.
        if redeemed is Refused.UNKNOWN:
            raise invalid_grant("authorization code is invalid")
        if redeemed is Refused.REPLAYED:
            await _replayed(code_hash, services)
        return await respond(
            services,
            redeemed.grant,
            redeemed.access,
            event="token.issued",
            grant_type=self.grant_type,
            user=redeemed.user,
            nonce=redeemed.nonce,
            refresh_token=redeemed.refresh_token,
        )


@dataclass(frozen=True, slots=True)
class _Redeemed:
    """What a code's redemption issues (``domain.codes.Redemption``), for the response."""

    grant: Grant
    access: IssuedAccessToken
    refresh_token: str | None
    refresh: NewRefreshToken | None
    user: User
    nonce: str | None

    @property
    def access_jti(self) -> str:
        return self.access.jti

    @property
    def access_expires_at(self) -> int:
        return self.access.expires_at


class _Decision:
    """Decides a code's redemption from its state (``CodeRepository.redeem`` calls it once,
    or twice when what this worker remembered of the code did not hold)."""

    __slots__ = ("_last", "_request", "_services")

    def __init__(self, request: TokenRequest, services: GrantDeps) -> None:
        self._request = request
        self._services = services
        self._last: _Redeemed | None = None

    async def __call__(self, state: CodeState) -> _Redeemed:
        params, client, services = self._request.params, self._request.client, self._services
        code = state.code
        now = clock.now()
        if code.expires_at <= now:
            raise invalid_grant("authorization code has expired")
        _check_redirect_uri(code, params.get("redirect_uri"))
        _check_pkce(code, params.get("code_verifier"))
        _check_dpop_binding(code, self._request.jkt)
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
        # RFC 8707 §2.2: only resources the authorization request named (fewer downscope
        # the access token; the refresh token keeps them all); none named: all of them.
        target = await resource_indicators.for_token(
            services.store.resources, params, scopes, granted=tuple(code.resources or ())
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
            jkt=self._request.jkt,
            x5t=self._request.x5t,
            target=target,
        )
        last = self._last
        if last is not None and last.grant == grant:
            # Read back, the code grants what the remembered copy did: the tokens already
            # made stand (one signature per request), for the user as read now.
            return replace(last, user=user)
        access = await services.tokens.access_token(grant)
        wanted, bound_sid = grant.refresh_policy()
        refresh, row = (
            services.tokens.new_refresh_token(grant, access, sid=bound_sid)
            if wanted
            else (None, None)
        )
        self._last = _Redeemed(grant, access, refresh, row, user, code.nonce)
        return self._last


def _check_redirect_uri(code: AuthorizationCode, given: str | None) -> None:
    # RFC 6749 §4.1.3: required if it was in the authorization request, and identical.
    if code.redirect_uri_given and given is None:
        raise invalid_grant("redirect_uri is required")
    if given is not None and given != code.redirect_uri:
        raise invalid_grant("redirect_uri does not match the authorization request")


def _check_dpop_binding(code: AuthorizationCode, jkt: str | None) -> None:
    bound = (code.cnf or {}).get("jkt")
    # RFC 9449 §10: a code bound by dpop_jkt is redeemed only with a proof by that key.
    if bound is not None and jkt != bound:
        raise invalid_grant("the DPoP proof is not signed by the key the code is bound to")


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


async def _replayed(code_hash: bytes, services: GrantDeps) -> NoReturn:
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
