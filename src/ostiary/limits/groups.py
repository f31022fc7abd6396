"""Which endpoint group a request belongs to (each group has its own limit)."""

from __future__ import annotations

from ostiary.settings import RATE_LIMIT_DEFAULTS

GROUPS = tuple(RATE_LIMIT_DEFAULTS)
# Answered with RFC 6749 §5.2 JSON; the other groups are pages a person reads.
JSON_GROUPS = frozenset({"token"})

_POSTS = {
    "/token": "token",
    "/revoke": "token",
    "/introspect": "token",
    # RFC 9126 §2.3 (429): the PAR endpoint is limited as the token endpoint is.
    "/par": "token",
    "/account/login": "login",
    "/account/login/mfa": "login",
    "/account/login/passkey": "login",
    "/account/login/passkey/options": "login",
    "/account/forgot": "recovery",
    "/account/reset": "recovery",
}
# The second factor, its enrolment and a passkey's options and answer are sign-in
# attempts like the password's.
_INTERACTION_STEPS = {
    ("login",): "login",
    ("consent",): "consent",
    ("mfa",): "login",
    ("mfa", "enrol"): "login",
    ("passkey",): "login",
    ("passkey", "options"): "login",
}
_FEDERATION_STEPS = {"login", "callback"}


def group_of(method: str, path: str) -> str | None:
    """The group of ``method path``, or None for a request no limit applies to."""
    if path == "/authorize":
        # HEAD too: the router answers it with the GET endpoint's work.
        return "authorize" if method in ("GET", "HEAD", "POST") else None
    if method == "POST":
        group = _POSTS.get(path)
        if group is not None:
            return group
        if path.startswith("/interaction/"):
            parts = path.split("/")
            # "", "interaction", id, step[, sub-step]
            if len(parts) in (4, 5) and parts[2]:
                return _INTERACTION_STEPS.get(tuple(parts[3:]))
        return None
    if method in ("GET", "HEAD") and path.startswith("/federation/"):
        parts = path.split("/")
        if len(parts) == 4 and parts[2] and parts[3] in _FEDERATION_STEPS:
            return "federation"
    return None
