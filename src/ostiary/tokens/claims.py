"""Standard claims, the scopes that release them, and the claims request (OIDC Core §5)."""

from __future__ import annotations

from typing import Any

import orjson

from ostiary.domain.users import User
from ostiary.errors import invalid_request

# OIDC Core §5.4: which scope values release which claims.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
OIDC_SCOPES = ("openid", "offline_access", *SCOPE_CLAIMS)
SUPPORTED_CLAIMS = sorted({"sub", *[c for cs in SCOPE_CLAIMS.values() for c in cs]})
# Stored in the profile JSON; the rest are columns or derived.
PROFILE_FIELDS = frozenset(SUPPORTED_CLAIMS) - {
    "sub",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "preferred_username",
    "updated_at",
}
MAX_CLAIMS_REQUEST = 4096


def user_claims(user: User) -> dict[str, Any]:
    """Every standard claim Ostiary holds for the user (OIDC Core §5.1), by name."""
    claims: dict[str, Any] = {
        k: v for k, v in user.profile.items() if k in PROFILE_FIELDS and v not in (None, "")
    }
    claims["preferred_username"] = user.username
    claims["updated_at"] = user.updated_at
    if user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    if user.phone_number:
        claims["phone_number"] = user.phone_number
        claims["phone_number_verified"] = user.phone_number_verified
    return claims


def names_for_scopes(scopes: frozenset[str] | tuple[str, ...]) -> set[str]:
    return {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())}


def release(
    user: User, scopes: frozenset[str] | tuple[str, ...], requested: dict[str, Any] | None
) -> dict[str, Any]:
    """The claims the granted scopes and the claims request (§5.5) allow, plus sub."""
    names = names_for_scopes(scopes) | set(requested or {})
    available = user_claims(user)
    released = {name: available[name] for name in sorted(names) if name in available}
    released["sub"] = user.id
    return released


def parse_claims_request(value: str | None) -> dict[str, dict[str, Any]] | None:
    """OIDC Core §5.5: a JSON object with optional userinfo and id_token members."""
    if value is None:
        return None
    if len(value) > MAX_CLAIMS_REQUEST:
        raise invalid_request("claims parameter is too large")
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid_request("claims parameter is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise invalid_request("claims parameter must be a JSON object")
    result: dict[str, dict[str, Any]] = {}
    for target in ("userinfo", "id_token"):
        members = parsed.get(target)
        if members is None:
            continue
        if not isinstance(members, dict):
            raise invalid_request(f"claims.{target} must be a JSON object")
        kept = {}
        for name, spec in members.items():
            if spec is not None and not isinstance(spec, dict):
                raise invalid_request(f"claims.{target}.{name} must be null or an object")
            # Only claims Ostiary knows are kept; others are ignored (§5.5). acr is kept
            # for its authentication requirement (§5.5.1.1), not released from the profile.
            if name in SUPPORTED_CLAIMS or (target == "id_token" and name == "acr"):
                kept[name] = spec
        result[target] = kept
    return result


def requested_sub(claims: dict[str, dict[str, Any]] | None) -> str | None:
    """OIDC Core §3.1.2.2 / §5.5.1: the one user the ID token may be about, if named."""
    spec = (claims or {}).get("id_token", {}).get("sub")
    value = spec.get("value") if isinstance(spec, dict) else None
    return value if isinstance(value, str) else None


def requested_acr(claims: dict[str, dict[str, Any]] | None) -> frozenset[str]:
    """OIDC Core §5.5.1.1: the acr values the ID token's acr is asked to have, essential
    or voluntary (empty: none asked)."""
    spec = (claims or {}).get("id_token", {}).get("acr")
    if not isinstance(spec, dict):
        return frozenset()
    values = spec.get("values")
    if not isinstance(values, list):
        values = [spec["value"]] if "value" in spec else []
    return frozenset(v for v in values if isinstance(v, str))


def essential_acr(claims: dict[str, dict[str, Any]] | None) -> frozenset[str] | None:
    """OIDC Core §5.5.1.1: the acr values one of which MUST be met, when essential."""
    spec = (claims or {}).get("id_token", {}).get("acr")
    if not isinstance(spec, dict) or spec.get("essential") is not True:
        return None
    values = spec.get("values")
    if not isinstance(values, list):
        values = [spec["value"]] if "value" in spec else []
    wanted = frozenset(v for v in values if isinstance(v, str))
    return wanted or None
