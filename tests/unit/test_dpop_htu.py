"""RFC 9449 §4.3 (9): a proof's htu against the request URL, compared after RFC 3986
§6.2.2 syntax-based and §6.2.3 scheme-based normalisation; property-based."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.resource.htu import (
    check_origin,
    external_url,
    normalise_path,
    normalise_uri,
    remove_dot_segments,
    request_url,
    same_uri,
)

UNRESERVED = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS = "!$&'()*+,;=:@"
segment = st.text(UNRESERVED + SUB_DELIMS, min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
paths = st.lists(segment, max_size=5).map(lambda parts: "/" + "/".join(parts))
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True)
schemes = st.sampled_from(["http", "https"])
ports = st.one_of(st.none(), st.integers(1, 65535))


def url(scheme: str, host: str, port: int | None, path: str) -> str:
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(text, flips, strict=True))


@given(schemes, hosts, ports, paths)
def test_normal_form_is_a_fixed_point(scheme: str, host: str, port: int | None, path: str) -> None:
    normal = normalise_uri(url(scheme, host, port, path))
    assert normal is not None
    assert normalise_uri(normal) == normal
    assert same_uri(normal, url(scheme, host, port, path))


@given(st.data(), schemes, hosts, ports, paths)
def test_rfc3986_6_2_2_1_scheme_and_host_case_do_not_matter(
    data: st.DataObject, scheme: str, host: str, port: int | None, path: str
) -> None:
    shouted = url(random_case(data.draw, scheme), random_case(data.draw, host), port, path)
    assert same_uri(shouted, url(scheme, host, port, path))


@given(schemes, hosts, paths)
def test_rfc3986_6_2_3_default_and_empty_ports_are_no_port(
    scheme: str, host: str, path: str
) -> None:
    default = 80 if scheme == "http" else 443
    plain = url(scheme, host, None, path)
    assert same_uri(url(scheme, host, default, path), plain)
    assert same_uri(f"{scheme}://{host}:{path}", plain)
    other = 443 if scheme == "http" else 80
    assert not same_uri(url(scheme, host, other, path), plain)


@given(schemes, hosts, ports, paths)
def test_rfc3986_6_2_3_empty_path_is_slash(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    assert same_uri(url(scheme, host, port, ""), url(scheme, host, port, "/"))


@given(st.data(), schemes, hosts, paths)
def test_rfc3986_6_2_2_2_encoded_unreserved_characters_are_the_characters(
    data: st.DataObject, scheme: str, host: str, path: str
) -> None:
    encoded = "".join(
        f"%{ord(ch):0{2}{data.draw(st.sampled_from('xX'))}}"
        if ch in UNRESERVED and data.draw(st.booleans())
        else ch
        for ch in path
    )
    assert same_uri(url(scheme, host, None, encoded), url(scheme, host, None, path))


@given(st.data(), schemes, hosts, paths)
def test_rfc3986_6_2_2_3_dot_segments_do_not_matter(
    data: st.DataObject, scheme: str, host: str, path: str
) -> None:
    parts = path.split("/")[1:]
    dotted: list[str] = []
    for part in parts:
        dotted += data.draw(st.sampled_from([[], ["."], ["x", ".."], [".", "y", ".."]]))
        dotted.append(part)
    assert same_uri(url(scheme, host, None, "/" + "/".join(dotted)), url(scheme, host, None, path))


@given(schemes, hosts, paths, st.text(UNRESERVED + "=&/?", max_size=10), st.text(max_size=5))
def test_rfc9449_4_2_query_and_fragment_are_ignored(
    scheme: str, host: str, path: str, query: str, fragment: str
) -> None:
    fragment = "".join(ch for ch in fragment if ch.isascii() and ch.isprintable() and ch != " ")
    assert same_uri(
        url(scheme, host, None, f"{path}?{query}#{fragment}"), url(scheme, host, None, path)
    )


@given(schemes, hosts, paths, paths)
def test_different_paths_never_compare_equal(scheme: str, host: str, left: str, right: str) -> None:
    equal = same_uri(url(scheme, host, None, left), url(scheme, host, None, right))
    assert equal == (left.rstrip("/") == right.rstrip("/") and left == right)


@given(hosts, hosts, paths)
def test_different_hosts_never_compare_equal(left: str, right: str, path: str) -> None:
    assert same_uri(url("https", left, None, path), url("https", right, None, path)) == (
        left == right
    )


@given(st.text(max_size=40))
def test_any_text_is_a_uri_or_none_and_never_an_error(text: str) -> None:
    normal = normalise_uri(text)
    assert normal is None or normalise_uri(normal) == normal


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        # RFC 3986 §5.2.4 and §6.2.2 examples.
        ("/a/b/c/./../../g", "/a/g"),
        ("/./a", "/a"),
        ("/a/..", "/"),
        ("/a/b/", "/a/b/"),
        ("/..", "/"),
        ("", "/"),
        ("/%7euser", "/~user"),
        ("/a%2fb", "/a%2Fb"),
        ("/%41%42", "/AB"),
        ("/%e2%82%ac", "/%E2%82%AC"),
        ("/%2E%2E/x", "/x"),
        ("/a|b", "/a%7Cb"),
    ],
)
def test_rfc3986_6_2_2_path_examples(path: str, normal: str) -> None:
    assert normalise_path(path) == normal


def test_rfc3986_5_2_4_remove_dot_segments_example() -> None:
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"


@pytest.mark.parametrize(
    "uri",
    [
        "/relative",
        "ftp://h/x",
        "https://",
        "https://user@h/x",
        "https://h:99999/",
        "https://h:x/",
        "https://h/%",
        "https://h/%4",
        "https://h/%G1",
        "https://h/a b",
        "https://h/caf\u00e9",
        "https://[::1/x",
        "https://h%41/",
    ],
)
def test_not_an_absolute_http_uri_matches_nothing(uri: str) -> None:
    assert normalise_uri(uri) is None
    assert not same_uri(uri, uri)


def test_the_request_url_as_the_client_sent_it() -> None:
    assert request_url("HTTPS", "API.example.com", b"/caf\xc3\xa9?q=1") == (
        "https://API.example.com/caf%C3%A9"
    )
    assert request_url("wss", "h", "/socket") == "https://h/socket"
    assert same_uri(
        "https://api.example.com/caf%c3%a9",
        request_url("https", "api.example.com", b"/caf\xc3\xa9"),
    )


def test_external_url_prefers_the_configured_origin_then_trusted_forwarding() -> None:
    parts = {"scheme": "http", "host": "10.0.0.5:8000", "raw_path": b"/x"}
    assert external_url(**parts) == "http://10.0.0.5:8000/x"
    assert (
        external_url(**parts, public_origin="https://api.example.com")
        == "https://api.example.com/x"
    )
    forwarded = external_url(
        **parts, forwarded_proto="https, http", forwarded_host="api.example.com, lb"
    )
    assert forwarded == "https://api.example.com/x"


@pytest.mark.parametrize(
    "origin",
    ["api.example.com", "https://api.example.com/v1", "https://u@h", "ftp://h", "https://h?x"],
)
def test_a_public_origin_is_scheme_host_and_port_only(origin: str) -> None:
    with pytest.raises(ValueError):
        check_origin(origin)
    assert check_origin("https://api.example.com:8443/") == "https://api.example.com:8443"
