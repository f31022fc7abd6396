"""Recovery codes without I/O: ten single-use codes of Crockford's base32, only their
SHA-256 digests kept, typed the way people type them; and the typed-code check that uses
one (audit, lockout, how many are left). Factors and codes live in the in-memory store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.accounts.mfa import recovery, verify
from ostiary.domain.mfa import AMR_MFA, AMR_OTP, RECOVERY_CODE_COUNT
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.memory import MemoryStore
from ostiary.storage.memory.factors import MemoryFactors
from ostiary.storage.memory.tables import Tables

pytestmark = pytest.mark.anyio

SETTINGS = load_settings(
    issuer="https://id.example.test",
    secret_key="unit-recovery-key-" + "x" * 32,
    lockout={"account_threshold": 3},
)
CODE = st.text(alphabet=recovery.ALPHABET, min_size=10, max_size=10)
# What Crockford's base32 reads as a digit (§ "Decoding" of the specification).
LOOK_ALIKES = {"0": "oO", "1": "iIlL"}


@pytest.fixture
def factors() -> MemoryFactors:
    return MemoryFactors(Tables())


def test_ten_distinct_codes_of_two_groups_of_five() -> None:
    codes = recovery.new_codes()
    assert len(codes) == len(set(codes)) == RECOVERY_CODE_COUNT == 10
    for code in codes:
        first, second = code.split("-")
        assert len(first) == len(second) == 5
        assert set(first + second) <= set(recovery.ALPHABET)
    # 32 symbols, 10 of them: 50 bits each; a thousand draws never repeat in practice.
    assert len({c for _ in range(100) for c in recovery.new_codes()}) == 1000


@given(CODE)
def test_stored_form_is_the_sha256_of_the_ten_characters(raw: str) -> None:
    shown = f"{raw[:5]}-{raw[5:]}"
    assert recovery.digest(shown) == hashlib.sha256(raw.encode()).digest()


@given(
    CODE,
    st.lists(st.sampled_from(["", " ", "-", "\t", "  "]), min_size=11, max_size=11),
    st.booleans(),
    st.data(),
)
def test_typed_case_spaces_dashes_and_look_alikes_are_one_code(
    raw: str, gaps: list[str], upper: bool, data: st.DataObject
) -> None:
    typed = "".join(gap + char for gap, char in zip(gaps, raw + " ", strict=True)).strip()
    typed = "".join(
        data.draw(st.sampled_from(LOOK_ALIKES[c] + c)) if c in LOOK_ALIKES else c for c in typed
    )
    typed = typed.upper() if upper else typed
    assert recovery.normalise(typed) == raw
    assert recovery.digest(typed) == recovery.digest(raw)


@given(st.text(max_size=30))
def test_anything_typed_is_a_well_formed_code_or_none(typed: str) -> None:
    raw = recovery.normalise(typed)
    assert raw is None or (len(raw) == 10 and set(raw) <= set(recovery.ALPHABET))
    assert (recovery.digest(typed) is None) == (raw is None)


@pytest.mark.parametrize(
    "typed", ["", "abcde", "abcde-fghjk-m", "abcde-fghju", "ábcde-fghjk", "\x00" * 10]
)
def test_not_a_code(typed: str) -> None:
    assert recovery.normalise(typed) is None


async def test_each_code_works_once_and_the_count_goes_down(factors: MemoryFactors) -> None:
    codes = await recovery.replace(factors, "u1")
    assert await factors.recovery_codes_left("u1") == 10
    for left, code in zip(range(9, -1, -1), codes, strict=True):
        assert await recovery.use(factors, "u1", code.upper()) == left
        assert await recovery.use(factors, "u1", code) is None
    assert await factors.recovery_codes_left("u1") == 0


async def test_codes_are_per_user_and_new_ones_replace_all_old_ones(factors: MemoryFactors) -> None:
    old = await recovery.replace(factors, "u1")
    assert await recovery.use(factors, "u2", old[0]) is None
    assert await recovery.use(factors, "u1", old[0]) == 9
    new = await recovery.replace(factors, "u1")
    assert not set(old) & set(new)
    assert await factors.recovery_codes_left("u1") == 10
    assert all([await recovery.use(factors, "u1", c) is None for c in old])
    assert await recovery.use(factors, "u1", new[0]) == 9
    assert await recovery.use(factors, "u1", "not a code") is None


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    built = build_services(SETTINGS, store=MemoryStore())
    yield built
    await built.close()


async def _user(services: Services) -> str:
    user = await services.store.users.add(username="ann", email=None, password_hash=None)
    return user.id


async def test_check_code_recovery_counts_amr_audit_and_lockout(services: Services) -> None:
    user_id = await _user(services)
    user = await services.store.users.get(user_id)
    assert user is not None
    codes = await recovery.replace(services.store.factors, user_id)
    checked = await verify.check_code(services, user, "recovery", codes[3], ip="192.0.2.1")
    # RFC 8176 §2: the code stands in for the second factor (otp) of two (mfa).
    assert checked.ok and checked.amr == (AMR_OTP, AMR_MFA) and checked.recovery_left == 9
    for _ in range(3):
        assert not (await verify.check_code(services, user, "recovery", codes[3], ip=None)).ok
    locked = await verify.check_code(services, user, "recovery", codes[4], ip=None)
    assert not locked.ok and locked.wait > 0
    assert await services.store.factors.recovery_codes_left(user_id) == 9
    await services.audit.flush()
    events = await services.store.audit.query(user_id=user_id, limit=50)
    kinds = [(e.type, e.reason) for e in sorted(events, key=lambda e: e.id)]
    assert kinds[0] == ("mfa.recovery_code_used", None)
    assert kinds.count(("mfa.failed", "wrong_code")) == 3 and ("mfa.failed", "locked") in kinds
    assert not any(code in repr(events) for code in codes)
