"""Scope strings (RFC 6749 §3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.domain.scopes import format_scope
from ostiary.errors import OAuthError
from ostiary.oauth.scopes import check_allowed, is_scope_token, parse_scope

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
TOKEN_CHARS = "".join(chr(c) for c in [0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)])
CONTROL_CHARS = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7F])
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20)


def _invalid_scope(value: str) -> None:
    with pytest.raises(OAuthError) as info:
        parse_scope(value)
    assert info.value.error == "invalid_scope"
    assert info.value.status == 400


def test_rfc6749_s3_3_token_alphabet_is_exactly_the_grammar() -> None:
    """RFC 6749 §3.3: every printable ASCII character except SP, '"' and '\\' is allowed."""
    allowed = {chr(c) for c in range(0x80) if is_scope_token(chr(c))}
    assert allowed == set(TOKEN_CHARS)
    assert not {" ", '"', "\\"} & allowed


@given(token=tokens)
def test_rfc6749_s3_3_any_token_of_allowed_chars_parses(token: str) -> None:
    """RFC 6749 §3.3: a string of scope-token characters is one scope."""
    assert is_scope_token(token)
    assert parse_scope(token) == frozenset({token})


@given(scopes=st.lists(tokens, max_size=8), gaps=st.lists(st.integers(1, 4), min_size=9))
def test_rfc6749_s3_3_space_delimited_list_parses_to_set(
    scopes: list[str], gaps: list[int]
) -> None:
    """RFC 6749 §3.3: space-delimited, order-independent, repeats collapse."""
    value = " " * gaps[0] + "".join(s + " " * g for s, g in zip(scopes, gaps[1:], strict=False))
    assert parse_scope(value) == frozenset(scopes)


@given(
    prefix=st.text(alphabet=TOKEN_CHARS + " ", max_size=10),
    bad=st.sampled_from(['"', "\\", *CONTROL_CHARS]),
    suffix=st.text(alphabet=TOKEN_CHARS + " ", max_size=10),
)
def test_rfc6749_s3_3_quote_backslash_or_control_char_is_invalid_scope(
    prefix: str, bad: str, suffix: str
) -> None:
    """RFC 6749 §3.3: '"', '\\' and control characters are outside scope-token."""
    _invalid_scope(prefix + bad + suffix)


@pytest.mark.parametrize(
    "value", ["caf\u00e9", "read\u00a0write", "\u2603", "read\twrite", "read\nwrite", "a\x7fb"]
)
def test_rfc6749_s3_3_non_ascii_and_other_whitespace_is_invalid_scope(value: str) -> None:
    """RFC 6749 §3.3: only SP separates tokens; non-ASCII is never a scope-token."""
    _invalid_scope(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, frozenset()),
        ("", frozenset()),
        ("   ", frozenset()),
        ("read", frozenset({"read"})),
        ("read write", frozenset({"read", "write"})),
        ("read  write", frozenset({"read", "write"})),
        (" read write ", frozenset({"read", "write"})),
        ("write read read", frozenset({"read", "write"})),
        ("openid profile email", frozenset({"openid", "profile", "email"})),
        ("https://api.example.com/x:read", frozenset({"https://api.example.com/x:read"})),
        ("!#[]~", frozenset({"!#[]~"})),
    ],
)
def test_rfc6749_s3_3_parse_scope_table(value: str | None, expected: frozenset[str]) -> None:
    """RFC 6749 §3.3: scope parsing, tolerant of extra spaces."""
    assert parse_scope(value) == expected


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        (set(), set()),
        (set(), {"read"}),
        ({"read"}, {"read"}),
        ({"read"}, {"read", "write"}),
        ({"read", "write"}, {"read", "write", "admin"}),
    ],
)
def test_rfc6749_s3_3_check_allowed_accepts_subset(requested: set[str], allowed: set[str]) -> None:
    """RFC 6749 §3.3: a request within the client's registered scopes is granted as asked."""
    assert check_allowed(frozenset(requested), frozenset(allowed)) == frozenset(requested)


@pytest.mark.parametrize(
    ("requested", "allowed", "extra"),
    [
        ({"admin"}, set(), "admin"),
        ({"read", "admin"}, {"read", "write"}, "admin"),
        ({"zeta", "alpha", "read"}, {"read"}, "alpha zeta"),
        ({"Read"}, {"read"}, "Read"),
    ],
)
def test_rfc6749_s3_3_check_allowed_rejects_superset(
    requested: set[str], allowed: set[str], extra: str
) -> None:
    """RFC 6749 §3.3: scopes beyond the registration are invalid_scope, named sorted."""
    with pytest.raises(OAuthError) as info:
        check_allowed(frozenset(requested), frozenset(allowed))
    assert info.value.error == "invalid_scope"
    assert info.value.description is not None
    assert info.value.description.endswith(": " + extra)


@given(requested=st.frozensets(tokens, max_size=6), allowed=st.frozensets(tokens, max_size=6))
def test_rfc6749_s3_3_check_allowed_is_the_subset_relation(
    requested: frozenset[str], allowed: frozenset[str]
) -> None:
    """RFC 6749 §3.3: check_allowed succeeds exactly when requested ⊆ allowed."""
    if requested <= allowed:
        assert check_allowed(requested, allowed) == requested
    else:
        with pytest.raises(OAuthError) as info:
            check_allowed(requested, allowed)
        assert info.value.error == "invalid_scope"


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (frozenset(), ""),
        (frozenset({"read"}), "read"),
        (frozenset({"write", "read", "admin"}), "admin read write"),
        ({"b", "B", "a"}, "B a b"),
        (("z", "y"), "y z"),
        (["openid", "email"], "email openid"),
    ],
)
def test_rfc6749_s3_3_format_scope_sorted_space_delimited(
    scopes: frozenset[str] | set[str] | tuple[str, ...] | list[str], expected: str
) -> None:
    """RFC 6749 §3.3: the scope parameter is a space-delimited list (sorted, deterministic)."""
    assert format_scope(scopes) == expected


@given(scopes=st.frozensets(tokens, max_size=8))
def test_rfc6749_s3_3_format_then_parse_round_trips(scopes: frozenset[str]) -> None:
    """RFC 6749 §3.3: format_scope output parses back to the same set."""
    formatted = format_scope(scopes)
    assert parse_scope(formatted) == scopes
    assert formatted.split(" ") == sorted(scopes) or (formatted == "" and not scopes)
