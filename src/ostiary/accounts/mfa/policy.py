"""Who must use a second factor, and which level an authorization request needs.

MFA is required for a sign-in when ``OSTIARY_MFA=required``, when the client is registered
with ``require_mfa``, or when one of the user's roles or groups (direct, through a group,
or through a parent group) has it. A user who has enrolled a factor always uses it, unless
``OSTIARY_MFA=off``. On top of that an application may ask for a level per request:
``acr_values`` (OIDC Core §3.1.2.1) or an ``acr`` claim request (§5.5.1.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ostiary.domain.clients import Client
from ostiary.domain.mfa import ACR_LEVELS, ACR_MFA, ACR_PHR, ACR_PWD, AMR_MFA, Factor
from ostiary.domain.repositories import Store
from ostiary.settings import Settings


async def required(
    store: Store,
    settings: Settings,
    user_id: str,
    client: Client | None,
    access: bool | None = None,
) -> bool:
    """Whether MFA is required of this user signing in to this client; ``access``: whether
    the user's roles or groups require it, when read already (None: read here)."""
    if settings.mfa == "off":
        return False
    if applies(settings, client):
        return True
    if access is None:
        access = bool(await store.access.mfa_required_by(user_id))
    return access


def asked_level(acr_values: Iterable[str], essential: Iterable[str] | None = None) -> str | None:
    """The weakest known level among those the request names (the one that satisfies it):
    an essential ``acr`` claim request wins over ``acr_values``. Unknown values are
    ignored (None: nothing known asked)."""
    for wanted in (essential, acr_values):
        known = [ACR_LEVELS.index(v) for v in wanted or () if v in ACR_LEVELS]
        if known:
            return ACR_LEVELS[min(known)]
    return None


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if ACR_LEVELS.index(a) >= ACR_LEVELS.index(b) else b


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """What a sign-in still owes after the first factor."""

    # The level to reach: ACR_MFA or ACR_PHR.
    level: str
    # True: the user has no factor that reaches it and must enrol one first.
    enrol: bool


def owed(
    settings: Settings, kinds: Iterable[str], required: bool, asked: str | None
) -> SecondFactor | None:
    """Whether a user whose confirmed factors are of these ``kinds``, after one factor,
    owes a second (None: no). ``required``: the policy requires MFA; ``asked``: the level
    the request asks for. A user with a factor always uses it."""
    if settings.mfa == "off":
        return None
    kinds = list(kinds)
    level = stronger(ACR_MFA if (required or kinds) else None, asked)
    if level is None or level == ACR_PWD:
        return None
    usable = [k for k in kinds if level != ACR_PHR or k == "passkey"]
    return SecondFactor(level, enrol=not usable)


def confirmed_kinds(factors: Iterable[Factor]) -> list[str]:
    return [f.kind for f in factors if f.confirmed]


async def second_factor(
    store: Store, settings: Settings, user_id: str, client: Client | None, asked: str | None
) -> SecondFactor | None:
    """What a user who just passed one factor still owes (None: nothing). Reads the
    user's factors, and the roles and groups only when no factor makes MFA apply anyway."""
    if settings.mfa == "off":
        return None
    kinds = confirmed_kinds(await store.factors.for_user(user_id))
    required = bool(kinds) or applies(settings, client)
    if not required:
        required = bool(await store.access.mfa_required_by(user_id))
    return owed(settings, kinds, required, asked)


def applies(settings: Settings, client: Client | None) -> bool:
    """MFA is required whoever signs in: by the setting, or by the client."""
    return settings.mfa == "required" or (client is not None and client.require_mfa)


# Upstream acr values that say the user passed more than one factor there: ours, the
# OpenID EAP ones (phr, phrh) and the PAPE multi-factor policies.
_UPSTREAM_PHR = frozenset({ACR_PHR, "phrh"})
_UPSTREAM_MFA = _UPSTREAM_PHR | {
    ACR_MFA,
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
}


def upstream_level(trusted: bool, amr: Iterable[str], acr: str | None) -> str:
    """The level a sign-in at an upstream provider counts for here: one factor, unless
    the provider is trusted for MFA (``ostiary provider update NAME --trust-mfa``) and its
    ``acr`` or ``amr`` (RFC 8176 ``mfa``) says the user passed more."""
    if not trusted:
        return ACR_PWD
    if acr in _UPSTREAM_PHR:
        return ACR_PHR
    if acr in _UPSTREAM_MFA or AMR_MFA in set(amr):
        return ACR_MFA
    return ACR_PWD
