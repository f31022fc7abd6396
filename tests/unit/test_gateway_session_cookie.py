"""Sealed gateway cookies (AES-256-GCM, HKDF-derived key) and the same-origin check."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.gateway.browser_mode import same_origin_path
from ostiary.gateway.session_cookie import CookieError, CookieSealer, read_cookies, set_cookie

SECRET = "s" * 32


def test_round_trip_and_binding_to_the_cookie_name() -> None:
    sealer = CookieSealer(SECRET)
    sub = "user-0123456789-distinctive"
    value = sealer.seal("session", {"sub": sub}, ttl=60)
    assert sealer.open("session", value)["sub"] == sub
    # Encrypted, not merely signed (a two-letter subject could turn up in random base64).
    assert sub not in value and sub.encode() not in base64.urlsafe_b64decode(
        value.split(".", 1)[1] + "=" * (-len(value.split(".", 1)[1]) % 4)
    )
    with pytest.raises(CookieError):
        sealer.open("flow", value)  # the name is authenticated data
    with pytest.raises(CookieError):
        CookieSealer("t" * 32).open("session", value)


def test_expired_and_tampered_cookies_do_not_open() -> None:
    now = [1000.0]
    sealer = CookieSealer(SECRET, clock=lambda: now[0])
    value = sealer.seal("session", {"sub": "u1"}, ttl=60)
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    for bad in (flipped, "v1.", "v2." + value[3:], "garbage", value + "AAAA"):
        with pytest.raises(CookieError):
            sealer.open("session", bad)
    now[0] += 61
    with pytest.raises(CookieError, match="expired"):
        sealer.open("session", value)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CookieSealer("short")


@given(st.text(max_size=200))
def test_any_cookie_value_is_refused_cleanly(value: str) -> None:
    with pytest.raises(CookieError):
        CookieSealer(SECRET).open("session", value)


def test_cookie_attributes() -> None:
    name, value = set_cookie("s", "v", max_age=10, secure=True)
    assert name == b"set-cookie"
    assert value == b"s=v; Path=/; Max-Age=10; HttpOnly; SameSite=Lax; Secure"
    assert b"Secure" not in set_cookie("s", "v", max_age=10, secure=False)[1]
    assert read_cookies('a=1; b="2"; a=3') == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/app?x=1", "/app?x=1"),
        ("/a/../b", "/b"),
        ("https://evil.example/", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("/%2f/evil.example", None),
        ("javascript:alert(1)", None),
        ("/a b", None),
        ("/a#frag", None),
        ("", None),
        (None, None),
    ],
)
def test_same_origin_path(target: str | None, expected: str | None) -> None:
    assert same_origin_path(target) == expected


@given(st.text(max_size=80))
def test_return_target_is_always_a_local_path(target: str) -> None:
    result = same_origin_path(target)
    if result is not None:
        assert result.startswith("/") and not result.startswith("//")
        assert "\\" not in result and "://" not in result.split("?")[0]


# -- secret rotation: the first secret seals, every listed secret opens ----------------------

OLD, NEW = "o" * 32, "n" * 32


def test_rotation_old_cookie_opens_and_is_flagged_for_resealing() -> None:
    old_value = CookieSealer(OLD).seal("session", {"sub": "u1"}, ttl=60)
    rotated = CookieSealer([NEW, OLD])
    payload, stale = rotated.unseal("session", old_value)
    assert payload["sub"] == "u1" and stale
    resealed = rotated.seal("session", payload, ttl=60)
    assert CookieSealer(NEW).unseal("session", resealed) == (
        {"sub": "u1", "_exp": payload["_exp"]},
        False,
    )
    with pytest.raises(CookieError):
        CookieSealer(OLD).open("session", resealed)  # sealed under the first secret only


def test_rotation_cookie_under_a_removed_secret_does_not_open() -> None:
    old_value = CookieSealer(OLD).seal("session", {"sub": "u1"}, ttl=60)
    with pytest.raises(CookieError, match="does not open"):
        CookieSealer([NEW]).open("session", old_value)


def test_rotation_every_secret_is_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CookieSealer([NEW, "short"])
    with pytest.raises(ValueError, match="at least one"):
        CookieSealer([])


@given(st.lists(st.text(min_size=32, max_size=40), min_size=1, max_size=4, unique=True))
def test_rotation_any_listed_secret_opens_and_only_the_first_is_fresh(keys: list[str]) -> None:
    rotated = CookieSealer(keys)
    for index, key in enumerate(keys):
        value = CookieSealer(key).seal("flow", {"i": index}, ttl=60)
        payload, stale = rotated.unseal("flow", value)
        assert payload["i"] == index
        assert stale == (index > 0)
