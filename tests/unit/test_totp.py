"""TOTP (RFC 6238) as a second factor, without I/O: the RFC's own test vectors, the
window of one step either side, single use, the sealed secret, the URI an app scans and
its QR code. The factors live in the in-memory repository; time is moved with the one
clock (``ostiary.clock``)."""

from __future__ import annotations

import base64
import string

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary import clock
from ostiary.accounts.mfa import totp
from ostiary.crypto.sealing import Sealer, UnsealError
from ostiary.settings import load_settings
from ostiary.storage.memory.factors import MemoryFactors
from ostiary.storage.memory.tables import Tables

pytestmark = pytest.mark.anyio

SETTINGS = load_settings(issuer="https://id.example.test", secret_key="unit-totp-key-" + "x" * 32)
# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
# (T, the 8-digit TOTP of Appendix B's table, SHA-1 rows). A 6-digit code is the same
# truncated value modulo 10^6 (RFC 4226 §5.3), so its last six digits.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
NOW = 1_700_000_010  # ten seconds into a step


def code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * totp.STEP)


@pytest.fixture
def factors() -> MemoryFactors:
    return MemoryFactors(Tables())


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The clock, stopped at NOW; change ``at[0]`` to move it."""
    moment = [NOW]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


@pytest.mark.parametrize(("t", "eight_digits"), RFC_VECTORS)
async def test_rfc6238_appendix_b_sha1_vectors(t: int, eight_digits: str) -> None:
    assert totp.matching_step(RFC_SECRET, eight_digits[-6:], t) == t // 30


def test_rfc6238_s4_defaults_30_second_step_6_digits_sha1() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "ann", "id.example.test")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.interval, parsed.digits, parsed.digest().name) == (30, 6, "sha1")
    assert parsed.name == "ann" and parsed.issuer == "id.example.test"
    assert uri.startswith("otpauth://totp/id.example.test:ann?secret=" + RFC_SECRET)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_rfc6238_s5_2_one_step_either_side_is_accepted(offset: int, accepted: bool) -> None:
    secret = totp.new_secret()
    step = NOW // 30 + offset
    found = totp.matching_step(secret, code(secret, step), NOW)
    assert found == (step if accepted else None)


def test_rfc4226_s4_secret_has_160_bits_or_more() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(base64.b32decode(s)) * 8 >= 160 for s in secrets)


@given(st.text(max_size=40))
def test_normalise_gives_six_ascii_digits_or_none(typed: str) -> None:
    digits = totp.normalise(typed)
    assert digits is None or (len(digits) == 6 and set(digits) <= set(string.digits))


@given(
    st.text(alphabet=string.digits, min_size=6, max_size=6),
    st.lists(st.text(alphabet=" \t\n\u00a0\u3000", max_size=2), min_size=7, max_size=7),
)
def test_normalise_ignores_whitespace_anywhere(digits: str, gaps: list[str]) -> None:
    typed = "".join(gap + digit for gap, digit in zip(gaps, digits + " ", strict=True))
    assert totp.normalise(typed) == digits


@pytest.mark.parametrize(
    "typed",
    [
        "12345",
        "1234567",
        "12345a",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "\u0661\u0662\u0663\u0664\u0665\u0666",
        "¹²³⁴⁵⁶",
    ],
)
def test_normalise_refuses_what_is_not_six_ascii_digits(typed: str) -> None:
    assert totp.normalise(typed) is None
    assert totp.matching_step(totp.new_secret(), typed, NOW) is None


async def test_begin_stores_an_unconfirmed_factor_with_a_sealed_secret(
    factors: MemoryFactors, at: list[int]
) -> None:
    factor_id, secret = await totp.begin(factors, SETTINGS, "u1", "Phone")
    factor = await factors.get(factor_id)
    assert factor is not None
    assert (factor.kind, factor.name, factor.confirmed, factor.created_at) == (
        "totp",
        "Phone",
        False,
        NOW,
    )
    assert factor.secret is not None and secret.encode() not in factor.secret
    assert totp.secret_of(SETTINGS, factor) == secret
    other_key = Sealer(b"another server key".ljust(32, b"x"), "mfa-totp-secrets")
    with pytest.raises(UnsealError):
        other_key.unseal(factor.secret)


async def test_unconfirmed_factor_signs_in_nobody(factors: MemoryFactors, at: list[int]) -> None:
    _, secret = await totp.begin(factors, SETTINGS, "u1", "Phone")
    assert await totp.verify(factors, SETTINGS, "u1", code(secret, NOW // 30)) is None


async def test_confirm_needs_a_current_code_of_the_users_own_factor(
    factors: MemoryFactors, at: list[int]
) -> None:
    factor_id, secret = await totp.begin(factors, SETTINGS, "u1", "Phone")
    step = NOW // 30
    assert not await totp.confirm(factors, SETTINGS, "u1", factor_id, code(secret, step + 2))
    assert not await totp.confirm(factors, SETTINGS, "u2", factor_id, code(secret, step))
    assert not await totp.confirm(factors, SETTINGS, "u1", "no-such-id", code(secret, step))
    assert await totp.confirm(factors, SETTINGS, "u1", factor_id, code(secret, step))
    confirmed = await factors.get(factor_id)
    assert confirmed is not None and confirmed.confirmed and confirmed.last_step == step
    # Once only.
    assert not await totp.confirm(factors, SETTINGS, "u1", factor_id, code(secret, step + 1))


async def test_rfc6238_s5_2_each_step_is_accepted_once_and_never_an_earlier_one(
    factors: MemoryFactors, at: list[int]
) -> None:
    factor_id, secret = await totp.begin(factors, SETTINGS, "u1", "Phone")
    step = NOW // 30
    assert await totp.confirm(factors, SETTINGS, "u1", factor_id, code(secret, step - 1))
    # The confirming code is used: it signs in nobody afterwards.
    assert await totp.verify(factors, SETTINGS, "u1", code(secret, step - 1)) is None
    used = await totp.verify(factors, SETTINGS, "u1", code(secret, step + 1))
    assert used is not None and used.id == factor_id
    # Within the window, but before the step used last: refused.
    assert await totp.verify(factors, SETTINGS, "u1", code(secret, step)) is None
    assert await totp.verify(factors, SETTINGS, "u1", code(secret, step + 1)) is None
    at[0] += 60  # two steps later: the next code works
    assert await totp.verify(factors, SETTINGS, "u1", code(secret, step + 2)) is not None
    stored = await factors.get(factor_id)
    assert stored is not None and stored.last_step == step + 2 and stored.last_used_at == at[0]


async def test_verify_finds_which_of_several_factors_a_code_is_for(
    factors: MemoryFactors, at: list[int]
) -> None:
    step = NOW // 30
    secrets = {}
    for name in ("Phone", "Tablet"):
        factor_id, secret = await totp.begin(factors, SETTINGS, "u1", name)
        assert await totp.confirm(factors, SETTINGS, "u1", factor_id, code(secret, step - 1))
        secrets[name] = (factor_id, secret)
    tablet_id, tablet_secret = secrets["Tablet"]
    found = await totp.verify(factors, SETTINGS, "u1", code(tablet_secret, step))
    assert found is not None and found.id == tablet_id
    # Another user's codes are not this user's.
    assert await totp.verify(factors, SETTINGS, "u2", code(tablet_secret, step + 1)) is None


def test_qr_code_is_an_inline_svg_without_script_or_style() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "ann", "id.example.test"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>Authenticator QR code</title>" in svg
    # The pages' Content-Security-Policy allows no inline script or style.
    assert "<script" not in svg and "style=" not in svg and "<?xml" not in svg
