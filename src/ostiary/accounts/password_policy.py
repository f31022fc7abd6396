"""What a new password must be: long enough, not absurdly long, not common, not the name.

NIST SP 800-63B §5.1.1.2 asks for a minimum length, a check against passwords known from
breaches, and no composition rules; that is all this does.
"""

from __future__ import annotations

import functools
import importlib.resources

from ostiary.accounts.passwords import MAX_PASSWORD_LENGTH

COMMON_LIST = "data/common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of the most common passwords, lower-cased (loaded once)."""
    text = (importlib.resources.files("ostiary.accounts") / COMMON_LIST).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def problems(
    password: str, *, min_length: int, username: str | None = None, email: str | None = None
) -> list[str]:
    """Why ``password`` is not acceptable, one sentence each; empty when it is."""
    found = []
    if len(password) < min_length:
        found.append(f"Use at least {min_length} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        found.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    folded = password.strip().casefold()
    if folded in common_passwords():
        found.append("This is one of the most commonly used passwords; choose another.")
    names = {n.strip().casefold() for n in (username, email) if n and n.strip()}
    if email and "@" in email:
        names.add(email.partition("@")[0].strip().casefold())
    if folded in names:
        found.append("Do not use your username or email address as your password.")
    return found
