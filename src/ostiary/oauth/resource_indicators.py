"""Resource indicators (RFC 8707): the resources a client names with ``resource`` at the
authorization endpoint (and in a pushed request) and at the token endpoint, the audience
of the access token, and the scopes it carries there.

The endpoints call these rules with plain values; the registry comes in as ``Lookup``
(``Store.resources``). A request without ``resource`` changes nothing: the token's
audience stays the client's registered one or the default.

Scopes. RFC 8707 §2.2 makes a request with resources and scopes ask for every scope at
every resource (the cartesian product), and tells the server to downscope each token, "to
the extent possible", to what its resources can process. So a requested scope that none of
the token's resources accepts is left out of that access token, not refused: the same
grant (a code, a refresh token) may cover several resources, each token naming some of
them, and a scope meant for one is no error in a token for another. This is what
node-oidc-provider does (a resource server's token carries only the scopes that resource
server declares); the response's ``scope`` says what was issued (RFC 6749 §5.1). The ID
token and the refresh token keep the whole grant: OpenID scopes (``openid``, ``profile``,
``offline_access``) are the server's, not a resource's, and §2.2 binds a refresh token to
the full original grant.

Audience. A token request without ``resource`` on a grant that holds resources (a code
or refresh token issued with some) gets a token for all of them: they are what the
resource owner approved, an ``aud`` may name several (RFC 7519 §4.1.3), and a client that
wants a narrower token names one (node-oidc-provider asks for exactly one instead; the
RFC leaves it to the server).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from ostiary.domain.resources import MAX_NAME, Resource, Target, uri_problem
from ostiary.errors import OAuthError
from ostiary.oauth.params import values
from ostiary.oauth.scopes import is_scope_token

PARAMETER = "resource"
# More than any client needs for one token; each value costs a registry lookup.
MAX_RESOURCES = 10
MAX_SCOPES = 100
MAX_SCOPE = 200


class Lookup(Protocol):
    async def get(self, uri: str) -> Resource | None: ...


def invalid_target(description: str) -> OAuthError:
    """RFC 8707 §2: the error for a resource that is invalid, unknown or not acceptable
    (400 at the token endpoint, §5.2 of RFC 6749)."""
    return OAuthError("invalid_target", description)


def requested(params: Mapping[str, str]) -> tuple[str, ...]:
    """The request's resource values, in the order given, each once."""
    found = tuple(dict.fromkeys(values(params, PARAMETER)))
    if len(found) > MAX_RESOURCES:
        raise invalid_target(f"at most {MAX_RESOURCES} resource values are accepted")
    for uri in found:
        problem = uri_problem(uri)
        # RFC 8707 §2: the value MUST be an absolute URI without a fragment; one the
        # server cannot parse or accept is invalid_target.
        if problem is not None:
            raise invalid_target(f"a resource value {problem}")
    return found


async def registered(lookup: Lookup, uris: Iterable[str]) -> tuple[Resource, ...]:
    """The registered resources of ``uris``, in order."""
    found = []
    for uri in uris:
        resource = await lookup.get(uri)
        # RFC 8707 §2: a resource the server does not know is refused (invalid_target).
        if resource is None:
            raise invalid_target(f"resource {uri!r} is not registered here")
        found.append(resource)
    return tuple(found)


def within(asked: Iterable[str], granted: tuple[str, ...]) -> None:
    """RFC 8707 §2.2: a code's or refresh token's token request names only resources the
    grant holds (a subset downscopes; nothing else was approved)."""
    beyond = [uri for uri in asked if uri not in granted]
    if beyond:
        raise invalid_target(f"resource {beyond[0]!r} was not granted")


def narrowed(scopes: frozenset[str], resources: Iterable[Resource]) -> frozenset[str]:
    """RFC 8707 §2.2: the scopes the token keeps, those some of its resources accept."""
    accepted: set[str] = set()
    for resource in resources:
        accepted |= resource.scopes
    return scopes & accepted


async def for_authorization(lookup: Lookup, params: Mapping[str, str]) -> tuple[str, ...]:
    """RFC 8707 §2.1: the resources an authorization request names, each a registered
    one, to keep with the request and its code."""
    uris = requested(params)
    await registered(lookup, uris)
    return uris


async def for_token(
    lookup: Lookup,
    params: Mapping[str, str],
    scopes: frozenset[str],
    *,
    granted: tuple[str, ...] | None,
) -> Target | None:
    """What the access token is issued for (RFC 8707 §2.2), or None: no resource asked
    for or held, so the client's default audience and ``scopes`` as they are.

    ``granted``: the resources of the code or refresh token being used (empty: none), or
    None for a grant that holds none (client credentials: any registered resource)."""
    asked = requested(params)
    if granted is None:
        if not asked:
            return None
        audience = kept = asked
    else:
        if not asked and not granted:
            return None
        within(asked, granted)
        audience, kept = asked or granted, granted
    resources = await registered(lookup, audience)
    return Target(audience, narrowed(scopes, resources), kept)


def registration_problem(uri: str, name: str, scopes: Iterable[str]) -> str | None:
    """Why a resource may not be registered so, or None: the rule of the command line and
    the admin API alike (the URI's is ``uri_problem``, the one the endpoints apply)."""
    problem = uri_problem(uri)
    if problem is not None:
        return f"uri {problem}"
    if len(name) > MAX_NAME or not name.isprintable():
        return f"name must be at most {MAX_NAME} printable characters"
    listed = list(scopes)
    if len(listed) > MAX_SCOPES:
        return f"at most {MAX_SCOPES} scopes"
    for scope in listed:
        # RFC 6749 §3.3: a scope is a scope-token; anything else could never be requested.
        if not is_scope_token(scope) or len(scope) > MAX_SCOPE:
            return (
                f"scope {scope[:MAX_SCOPE]!r} is not a scope token of at most {MAX_SCOPE} "
                "characters (RFC 6749 §3.3)"
            )
    return None
