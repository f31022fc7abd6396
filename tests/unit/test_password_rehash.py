"""A stored hash is rehashed exactly when argon2-cffi says its parameters are not current.

``Passwords.needs_rehash`` answers a hash made with the configured parameters from its
prefix (each login asks) and leaves every other hash to argon2-cffi.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from ostiary.accounts.passwords import Passwords
from ostiary.settings import PasswordSettings

CONFIGURED = PasswordSettings()  # m=19456, t=2, p=1
CURRENT = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1, "type": Type.ID}


@pytest.mark.parametrize(
    "made_with",
    [
        pytest.param({}, id="current"),
        pytest.param({"time_cost": 3}, id="time"),
        pytest.param({"memory_cost": 20480}, id="memory"),
        pytest.param({"parallelism": 2}, id="parallelism"),
        pytest.param({"type": Type.I}, id="argon2i"),
        pytest.param({"salt_len": 8}, id="shorter-salt"),
        pytest.param({"hash_len": 16}, id="shorter-hash"),
        pytest.param({"salt_len": 32, "hash_len": 64}, id="longer-both"),
    ],
)
def test_rehash_decision_is_argon2_cffis(made_with: dict[str, object]) -> None:
    passwords = Passwords(CONFIGURED)
    stored = PasswordHasher(**{**CURRENT, **made_with}).hash("correct horse")  # type: ignore[arg-type]
    expected = PasswordHasher(**CURRENT).check_needs_rehash(stored)  # type: ignore[arg-type]
    assert passwords.needs_rehash(stored) is expected
    assert expected is (made_with != {})
