"""Which grants get a refresh token, and whether it dies with the SSO session (OIDC Core §11)."""

from __future__ import annotations

import itertools

import pytest

from ostiary.domain.clients import Client
from ostiary.tokens.service import Grant

SID = "sid-4f1d9c"
WITH_REFRESH = frozenset({"authorization_code", "refresh_token"})
CODE_ONLY = frozenset({"authorization_code"})


def make_client(grant_types: frozenset[str], *, session_refresh_tokens: bool) -> Client:
    return Client(
        client_id="rp-refresh",
        name="RP",
        secret_hash=b"\x00" * 32,
        public=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=("https://rp.example.com/cb",),
        grant_types=grant_types,
        scopes=frozenset({"openid", "offline_access", "profile", "read"}),
        audience=(),
        first_party=False,
        access_token_ttl=None,
        refresh_token_ttl=None,
        created_at=1_700_000_000,
        session_refresh_tokens=session_refresh_tokens,
    )


def make_grant(
    grant_types: frozenset[str],
    session_refresh_tokens: bool,
    scopes: frozenset[str],
    sid: str | None = SID,
) -> Grant:
    client = make_client(grant_types, session_refresh_tokens=session_refresh_tokens)
    return Grant(client=client, subject="user-1", user_id="user-1", scopes=scopes, sid=sid)


@pytest.mark.parametrize(
    ("grant_types", "session_refresh_tokens", "scopes", "expected"),
    [
        # The client is not registered for refresh tokens: never one, whatever it asks.
        (CODE_ONLY, False, {"openid", "offline_access"}, (False, None)),
        (CODE_ONLY, True, {"openid", "offline_access"}, (False, None)),
        (CODE_ONLY, True, {"openid"}, (False, None)),
        (CODE_ONLY, False, {"read"}, (False, None)),
        (CODE_ONLY, True, {"read"}, (False, None)),
        # §11 offline_access: a refresh token that outlives the session (bound to none).
        (WITH_REFRESH, False, {"openid", "offline_access"}, (True, None)),
        (WITH_REFRESH, True, {"openid", "offline_access"}, (True, None)),
        (WITH_REFRESH, False, {"openid", "offline_access", "profile"}, (True, None)),
        (WITH_REFRESH, False, {"offline_access"}, (True, None)),
        # OpenID request without offline_access: only for clients that opted in, and then
        # bound to the SSO session.
        (WITH_REFRESH, False, {"openid"}, (False, None)),
        (WITH_REFRESH, False, {"openid", "profile"}, (False, None)),
        (WITH_REFRESH, True, {"openid"}, (True, SID)),
        (WITH_REFRESH, True, {"openid", "profile"}, (True, SID)),
        # Plain OAuth 2.0 (no openid): refresh tokens as RFC 6749 §6, bound to the session.
        (WITH_REFRESH, False, {"read"}, (True, SID)),
        (WITH_REFRESH, True, {"read"}, (True, SID)),
        (WITH_REFRESH, False, set(), (True, SID)),
    ],
)
def test_oidc_core_11_refresh_policy_table(
    grant_types: frozenset[str],
    session_refresh_tokens: bool,
    scopes: set[str],
    expected: tuple[bool, str | None],
) -> None:
    grant = make_grant(grant_types, session_refresh_tokens, frozenset(scopes))
    assert grant.refresh_policy() == expected


@pytest.mark.parametrize("scopes", [{"openid"}, {"read"}])
def test_oidc_core_11_session_bound_refresh_without_a_session_is_unbound(scopes: set[str]) -> None:
    """A grant without an SSO session (sid None) yields a refresh token bound to nothing."""
    grant = make_grant(WITH_REFRESH, True, frozenset(scopes), sid=None)
    assert grant.refresh_policy() == (True, None)


@pytest.mark.parametrize(
    ("has_refresh", "session_refresh", "openid", "offline", "sid"),
    list(
        itertools.product([False, True], [False, True], [False, True], [False, True], [None, SID])
    ),
)
def test_oidc_core_11_refresh_policy_invariants(
    has_refresh: bool, session_refresh: bool, openid: bool, offline: bool, sid: str | None
) -> None:
    """Over every combination: no refresh grant → none; a bound sid is the grant's own;
    offline_access is never bound; a refresh token for OpenID needs offline_access or opt-in."""
    scopes = frozenset({"read"} | ({"openid"} if openid else set()))
    scopes |= {"offline_access"} if offline else set()
    grant = make_grant(WITH_REFRESH if has_refresh else CODE_ONLY, session_refresh, scopes, sid)
    issue, bound = grant.refresh_policy()
    if not has_refresh:
        assert (issue, bound) == (False, None)
    if not issue:
        assert bound is None
    assert bound in (None, sid)
    if offline:
        assert bound is None
    if issue and openid and not offline:
        assert session_refresh
