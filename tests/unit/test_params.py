"""``parse_params``: form-encoded request parameters (RFC 6749 §3.1, §3.2, Appendix B)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.errors import OAuthError
from ostiary.oauth.params import MAX_BODY, MAX_PARAMS, REPEATABLE, parse_params, read_body

# Names of single-valued parameters: ``resource`` may repeat (RFC 8707 §2), tested with
# the rest of resource indicators (tests/unit/test_resource_indicators.py).
names = st.text(min_size=1, max_size=12).filter(lambda n: n not in REPEATABLE)
values = st.text(min_size=1, max_size=20).filter(lambda v: "\x00" not in v)


def _rejects(encoded: str | bytes) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        parse_params(encoded)
    assert info.value.error == "invalid_request"
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize(
    "encoded",
    [
        "scope=a&scope=b",
        "scope=a&scope=a",
        "scope=&scope=a",
        "state=x&client_id=c&state=y",
        b"code=1&code=2",
        "a&a",
        "x%20y=1&x+y=2",  # the same name once decoded
    ],
)
def test_rfc6749_s3_1_repeated_parameter_is_invalid_request(encoded: str | bytes) -> None:
    """RFC 6749 §3.1: request and response parameters MUST NOT be included more than once."""
    error = _rejects(encoded)
    assert error.description is not None
    assert "repeated" in error.description


@given(
    pairs=st.lists(st.tuples(names, st.text(max_size=20)), min_size=1, max_size=20),
    data=st.data(),
)
def test_rfc6749_s3_1_any_repeated_name_raises(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    """RFC 6749 §3.1: whatever else the request holds, a repeated name is invalid_request."""
    name, _ = data.draw(st.sampled_from(pairs))
    position = data.draw(st.integers(0, len(pairs)))
    value = data.draw(st.text(max_size=5))
    pairs = [*pairs[:position], (name, value), *pairs[position:]]
    for encoded in (urlencode(pairs), urlencode(pairs).encode()):
        _rejects(encoded)


@given(
    mapping=st.dictionaries(names, values, max_size=MAX_PARAMS),
    as_bytes=st.booleans(),
)
def test_rfc6749_appendix_b_distinct_names_round_trip_urlencode(
    mapping: dict[str, str], as_bytes: bool
) -> None:
    """RFC 6749 Appendix B: UTF-8 form encoding of distinct names decodes to the same dict."""
    encoded = urlencode(mapping)
    assert parse_params(encoded.encode() if as_bytes else encoded) == mapping


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("", {}),
        ("state=", {}),
        ("state", {}),
        ("state=&scope=read", {"scope": "read"}),
        ("client_id=c&client_secret=", {"client_id": "c"}),
        ("&&a=1&&", {"a": "1"}),
        ("a=+", {"a": " "}),
        ("a=%20", {"a": " "}),
    ],
)
def test_rfc6749_s3_1_blank_value_treated_as_omitted(
    encoded: str, expected: dict[str, str]
) -> None:
    """RFC 6749 §3.1: parameters sent without a value MUST be treated as if omitted."""
    assert parse_params(encoded) == expected


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1", "https://app.example/cb?x=1"),
        ("scope=read+write", "read write"),
        ("scope=read%20write", "read write"),
        ("state=%E2%9C%93", "\u2713"),
        ("state=a%2Bb", "a+b"),
        ("state=%25", "%"),
    ],
)
def test_rfc6749_appendix_b_percent_and_plus_decoding(encoded: str, expected: str) -> None:
    """RFC 6749 Appendix B: application/x-www-form-urlencoded with UTF-8."""
    name = encoded.split("=", 1)[0]
    assert parse_params(encoded) == {name: expected}
    assert parse_params(encoded.encode()) == {name: expected}


@pytest.mark.parametrize(
    "body",
    [
        b"state=\xff",
        b"state=\xc3\x28",
        b"\xfe=1",
        b"state=\xed\xa0\x80",  # an encoded surrogate is not UTF-8
        b"state=ok&code=\x80",
    ],
)
def test_rfc6749_appendix_b_raw_non_utf8_bytes_rejected(body: bytes) -> None:
    """RFC 6749 Appendix B: the body is UTF-8; any other bytes are invalid_request."""
    error = _rejects(body)
    assert error.description == "parameters are not valid UTF-8"


@pytest.mark.parametrize(
    "body",
    [b"state=%FF", b"state=%C3%28", "state=%FF", b"%FE=1"],
    ids=["bytes-ff", "bytes-c3-28", "str-ff", "name-fe"],
)
def test_rfc6749_appendix_b_percent_encoded_non_utf8_rejected(body: str | bytes) -> None:
    """RFC 6749 Appendix B: percent-encoded octets must also be UTF-8."""
    _rejects(body)


@pytest.mark.parametrize("encoded", ["state=a%00b", "code=%00", b"a=1&b=x%00", "a=\x00"])
def test_rfc6749_s3_1_nul_in_value_rejected(encoded: str | bytes) -> None:
    """RFC 6749 §3.1 (parameters): a NUL character is never a legitimate value."""
    error = _rejects(encoded)
    assert error.description is not None
    assert "NUL" in error.description


@pytest.mark.parametrize("count", [1, MAX_PARAMS - 1, MAX_PARAMS])
def test_rfc6749_s3_1_up_to_max_params_accepted(count: int) -> None:
    """RFC 6749 §3.1: a request with up to MAX_PARAMS parameters parses."""
    encoded = "&".join(f"p{i}=v{i}" for i in range(count))
    assert parse_params(encoded) == {f"p{i}": f"v{i}" for i in range(count)}


@pytest.mark.parametrize("count", [MAX_PARAMS + 1, 10 * MAX_PARAMS])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_rfc6749_s3_1_too_many_params_rejected(count: int, as_bytes: bool) -> None:
    """RFC 6749 §3.1: more parameters than any endpoint takes is invalid_request."""
    encoded = "&".join(f"p{i}=v{i}" for i in range(count))
    error = _rejects(encoded.encode() if as_bytes else encoded)
    assert error.description == "too many parameters"


def test_rfc6749_s3_1_body_at_size_limit_accepted() -> None:
    """RFC 6749 §3.1: a body of exactly MAX_BODY bytes is still parsed."""
    body = b"state=" + b"a" * (MAX_BODY - len(b"state="))
    assert len(body) == MAX_BODY
    assert parse_params(body) == {"state": "a" * (MAX_BODY - 6)}


@pytest.mark.parametrize("extra", [1, MAX_BODY])
def test_rfc6749_s3_1_oversized_body_rejected(extra: int) -> None:
    """RFC 6749 §3.1: a body over MAX_BODY bytes is refused before decoding."""
    body = b"state=" + b"a" * (MAX_BODY - len(b"state=") + extra)
    error = _rejects(body)
    assert error.description == "request too large"


def test_rfc6749_s3_1_oversized_check_precedes_utf8_check() -> None:
    """RFC 6749 §3.1: size is checked first, so a huge invalid body costs no decoding."""
    error = _rejects(b"\xff" * (MAX_BODY + 1))
    assert error.description == "request too large"


@pytest.mark.parametrize("encoded", ["state=" + "a" * 100, b"state=" + b"a" * 100])
def test_rfc6749_s3_1_size_limit_of_the_caller(encoded: str | bytes) -> None:
    """An endpoint with a smaller bound (the authorization request) passes its own limit;
    a query string counts like a body."""
    assert parse_params(encoded, limit=106) == {"state": "a" * 100}
    with pytest.raises(OAuthError) as info:
        parse_params(encoded, limit=105)
    assert info.value.description == "request too large"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "limit"),
    [((b"a=1", b"&b=2", b""), 8), ((b"x" * 8,), 8), ((), 8), ((b"",), 0)],
)
def test_read_body_joins_chunks_up_to_the_limit(parts: tuple[bytes, ...], limit: int) -> None:
    assert asyncio.run(read_body(_chunks(*parts), limit)) == b"".join(parts)


def test_read_body_stops_at_the_first_chunk_past_the_limit() -> None:
    """The body is refused as soon as it passes the limit: later chunks are never read."""
    read: list[bytes] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            read.append(b"x" * 1000)
            yield read[-1]

    with pytest.raises(OAuthError) as info:
        asyncio.run(read_body(endless(), 2500))
    assert info.value.description == "request too large"
    assert len(read) == 3
