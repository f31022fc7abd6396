"""Redirect URI registration and matching (RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §7)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ostiary.oauth.redirect_uris import (
    WILDCARD,
    find_match,
    matches,
    registration_problem,
    stored_problems,
)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com",
        "https://app.example.com:8443/cb?tenant=a",
        "HTTPS://app.example.com/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://127.9.9.9:1/cb",
        "http://[::1]/cb",
        "http://[::1]:51234/cb",
        "http://localhost:3000/cb",
    ],
)
def test_rfc6749_s3_1_2_web_and_loopback_uris_may_be_registered(uri: str) -> None:
    """RFC 6749 §3.1.2, RFC 8252 §7.3: https anywhere; http only on a loopback host."""
    assert registration_problem(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "com.example.app:/oauth2redirect",
        "com.example.app:/",
        "io.github.user.app://callback",
        "com.example-app.ios:/cb?x=1",
    ],
)
def test_rfc8252_s7_1_private_use_reverse_dns_scheme_may_be_registered(uri: str) -> None:
    """RFC 8252 §7.1: a private-use URI scheme based on a reverse domain name is allowed."""
    assert registration_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("http://127.0.0.1/cb#x", "fragment"),
        ("http://app.example.com/cb", "loopback"),
        ("http://10.0.0.1/cb", "loopback"),
        ("http://0.0.0.0/cb", "loopback"),
        ("http://127.0.0.1.evil.com/cb", "loopback"),
        ("http://localhost.evil.com/cb", "loopback"),
        ("javascript:alert(1)", "not allowed"),
        ("JavaScript:alert(1)", "not allowed"),
        ("data:text/html,<script>alert(1)</script>", "not allowed"),
        ("vbscript:msgbox", "not allowed"),
        ("file:///etc/passwd", "not allowed"),
        ("about:blank", "not allowed"),
        ("blob:https://app.example.com/x", "not allowed"),
        ("myapp://callback", "reverse domain"),
        ("ftp://files.example.com/cb", "reverse domain"),
        ("https://app.example.com:99999/cb", "valid URI"),
        ("https://app.example.com:-1/cb", "valid URI"),
        ("https://app.example.com:http/cb", "valid URI"),
        ("http://[::1/cb", "valid URI"),
        ("/callback", "absolute"),
        ("app.example.com/cb", "absolute"),
        ("", "absolute"),
        ("https:///cb", "host"),
        ("https://app.example.com/c b", "white space"),
        ("https://app.example.com/cb\n", "white space"),
    ],
)
def test_rfc6749_s3_1_2_registration_problems(uri: str, reason: str) -> None:
    """RFC 6749 §3.1.2, RFC 9700 §2.6/§4.1, RFC 8252 §7.1/§7.3: refused at registration."""
    problem = registration_problem(uri)
    assert problem is not None
    assert reason in problem


REGISTERED_WEB = "https://app.example.com/callback"


@pytest.mark.parametrize(
    "requested",
    [
        "https://app.example.com/callback/",
        "https://app.example.com/callbackx",
        "https://app.example.com/callbac",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback?",
        "https://app.example.com/callback#",
        "https://app.example.com/callback#x",
        "https://APP.example.com/callback",
        "HTTPS://app.example.com/callback",
        "https://app.example.com/Callback",
        "https://app.example.com:443/callback",
        "https://app.example.com./callback",
        "https://app.example.com/callback/../callback",
        "https://app.example.com/./callback",
        "https://app.example.com//callback",
        "https://app.example.com/%63allback",
        "https://app.example.com/callback/../../evil",
        "https://evil@app.example.com/callback",
        "https://app.example.com@evil.com/callback",
        "https://app.example.com.evil.com/callback",
        "https://evil.com/https://app.example.com/callback",
        "http://app.example.com/callback",
        " https://app.example.com/callback",
        "https://app.example.com/callback ",
        "https://app.example.com/call\tback",
        "https://app.example.com/callback\n",
        "",
    ],
)
def test_rfc9700_s4_1_3_exact_string_match_only(requested: str) -> None:
    """RFC 9700 §4.1.3: exact string matching; no prefix, suffix, case or path tricks."""
    assert matches(REGISTERED_WEB, REGISTERED_WEB, native=True)
    assert not matches(requested, REGISTERED_WEB, native=True)


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        ("http://127.0.0.1:51234/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"),
        ("http://127.0.0.1:9999/cb", "http://127.0.0.1:8080/cb"),
        ("http://127.0.0.1:1/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:65535/cb?a=1", "http://127.0.0.1/cb?a=1"),
        ("http://127.0.0.1:5000", "http://127.0.0.1"),
        ("http://[::1]:51234/cb", "http://[::1]/cb"),
        ("http://[::1]/cb", "http://[::1]:8080/cb"),
        ("http://[::1]:1/cb", "http://[::1]:2/cb"),
    ],
)
def test_rfc8252_s7_3_loopback_ip_any_port(requested: str, registered: str) -> None:
    """RFC 8252 §7.3: for http loopback IP literals the port is chosen at run time."""
    assert matches(requested, registered, native=True)
    assert (
        find_match(requested, ("https://other.example/cb", registered), native=True) == registered
    )


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        # RFC 8252 §8.3: "localhost" is NOT RECOMMENDED and gets no port exception.
        ("http://localhost:5000/cb", "http://localhost/cb"),
        ("http://localhost:5000/cb", "http://localhost:3000/cb"),
        # The exception is for http only.
        ("https://127.0.0.1:5000/cb", "https://127.0.0.1/cb"),
        ("https://[::1]:5000/cb", "https://[::1]:4000/cb"),
        ("https://127.0.0.1:5000/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb", "https://127.0.0.1/cb"),
        # Only the port may differ.
        ("http://127.0.0.1:5000/other", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb/", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/CB", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb?x=1", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb", "http://127.0.0.1/cb?x=1"),
        ("http://127.0.0.1:5000/cb?x=2", "http://127.0.0.1/cb?x=1"),
        ("http://127.0.0.1:5000/cb#x", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb#", "http://127.0.0.1/cb"),
        ("http://127.0.0.2:5000/cb", "http://127.0.0.1/cb"),
        ("http://[::1]:5000/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb", "http://[::1]/cb"),
        ("http://localhost:5000/cb", "http://127.0.0.1/cb"),
        ("http://evil@127.0.0.1:5000/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000@evil.com/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1.evil.com:5000/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/../cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:notaport/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:0/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:65536/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:99999/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000\\@evil.com/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb", "http://app.example.com/cb"),
    ],
)
def test_rfc8252_s7_3_port_exception_is_narrow(requested: str, registered: str) -> None:
    """RFC 8252 §7.3 / §8.3, RFC 9700 §4.1.3: loopback IP + http + port only, nothing else."""
    assert not matches(requested, registered, native=True)
    assert find_match(requested, (registered,), native=True) is None


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:5000/c\nb",
        "http://127.0.0.1:5000/c\tb",
        "http://127.0.0.1/cb\r",
        " http://127.0.0.1:5000/cb",
        "\x00http://127.0.0.1/cb",
        "HTTP://127.0.0.1:5000/cb",
        "http://127.0.0.1:5000/cb?",
        "http://127.0.0.1:/cb",
    ],
)
def test_rfc8252_s7_3_loopback_exception_only_relaxes_port(requested: str) -> None:
    """RFC 8252 §7.3: only the port may differ; other characters must match exactly."""
    assert not matches(requested, "http://127.0.0.1/cb", native=True)


# -- properties -----------------------------------------------------------------------------

NON_LOOPBACK_REGISTERED = [
    REGISTERED_WEB,
    "https://app.example.com/cb?tenant=a",
    "https://127.0.0.1/cb",
    "https://[::1]:8443/cb",
    "http://localhost/cb",
    "http://localhost:3000/cb",
    "com.example.app:/oauth2redirect",
]
LOOPBACK_REGISTERED = [
    "http://127.0.0.1/cb",
    "http://127.0.0.1:8080/cb",
    "http://127.0.0.1:8080/cb?mode=native",
    "http://[::1]/cb",
    "http://[::1]:51234/oauth/callback",
]
ALL_REGISTERED = NON_LOOPBACK_REGISTERED + LOOPBACK_REGISTERED

_LOOPBACK = re.compile(r"(http://(?:127\.0\.0\.1|\[::1\]))(?::\d+)?(/.*)?")


def _port_only_difference(requested: str, registered: str) -> bool:
    """The reference model: registered http loopback URI, and requested differs only by port."""
    reg = _LOOPBACK.fullmatch(registered)
    if reg is None:
        return False
    origin, rest = reg.group(1), reg.group(2) or ""
    pattern = re.escape(origin) + r"(?::[0-9]+)?" + re.escape(rest)
    if re.fullmatch(pattern, requested) is None:
        return False
    port = requested[len(origin) :].removesuffix(rest).lstrip(":")
    # Port 0 is no port a native app can listen on.
    return port == "" or 0 < int(port) <= 65535


@st.composite
def _mutations(draw: st.DrawFn, uri: str) -> str:
    """``uri`` with a few characters inserted, deleted, replaced or case-flipped."""
    chars = list(uri)
    alphabet = st.one_of(st.sampled_from("/:?#@.%[]\\ \t\n\x00" + "019"), st.characters())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "case"]))
        index = draw(st.integers(0, max(len(chars) - 1, 0)))
        if op == "insert":
            chars.insert(index, draw(alphabet))
        elif chars and op == "delete":
            del chars[index]
        elif chars and op == "replace":
            chars[index] = draw(alphabet)
        elif chars:
            chars[index] = chars[index].swapcase()
    return "".join(chars)


@st.composite
def _registered_and_other(draw: st.DrawFn, registered: list[str]) -> tuple[str, str]:
    uri = draw(st.sampled_from(registered))
    other = draw(st.one_of(st.text(max_size=60), _mutations(uri), st.sampled_from(ALL_REGISTERED)))
    return uri, other


@given(pair=_registered_and_other(NON_LOOPBACK_REGISTERED))
def test_rfc9700_s4_1_3_property_non_loopback_is_exact_string_equality(
    pair: tuple[str, str],
) -> None:
    """RFC 9700 §4.1.3: outside the loopback-IP rule, matches(v, u) is exactly v == u."""
    registered, requested = pair
    assert matches(requested, registered, native=True) is (requested == registered)


@given(
    registered=st.sampled_from(LOOPBACK_REGISTERED),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_rfc8252_s7_3_property_any_port_matches_loopback(registered: str, port: int | None) -> None:
    """RFC 8252 §7.3: every port (or none) on the registered loopback IP URI matches."""
    reg = _LOOPBACK.fullmatch(registered)
    assert reg is not None
    requested = reg.group(1) + ("" if port is None else f":{port}") + (reg.group(2) or "")
    assert _port_only_difference(requested, registered)
    assert matches(requested, registered, native=True)


_segment = st.text(alphabet="abcXYZ019-._~%/!$&'()*+,;=@:", min_size=1, max_size=8)


@given(
    registered=st.sampled_from(LOOPBACK_REGISTERED),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    change=st.sampled_from(["scheme", "host", "userinfo", "path", "query", "fragment"]),
    new=_segment,
)
def test_rfc8252_s7_3_property_changing_anything_but_port_never_matches(
    registered: str, port: int | None, change: str, new: str
) -> None:
    """RFC 8252 §7.3: with any port, a different scheme/host/userinfo/path/query is refused."""
    reg = _LOOPBACK.fullmatch(registered)
    assert reg is not None
    origin, rest = reg.group(1), reg.group(2) or ""
    host = origin.removeprefix("http://")
    path, _, query = rest.partition("?")
    port_part = "" if port is None else f":{port}"
    scheme = "https" if change == "scheme" else "http"
    if change == "host":
        host = "127.0.0.2" if host == "[::1]" else "[::1]"
    userinfo = f"{new}@" if change == "userinfo" else ""
    if change == "path":
        path = path + "/" + new
    if change == "query":
        query = query + new
    requested = f"{scheme}://{userinfo}{host}{port_part}{path}"
    if query:
        requested += "?" + query
    if change == "fragment":
        requested += "#" + new
    assert requested != registered
    assert not matches(requested, registered, native=True)


@given(pair=_registered_and_other(ALL_REGISTERED))
@example(pair=("http://127.0.0.1/cb", "http://127.0.0.1:5000/c\nb"))
def test_rfc9700_s4_1_3_property_different_string_never_matches_unless_loopback_port(
    pair: tuple[str, str],
) -> None:
    """RFC 9700 §4.1.3 + RFC 8252 §7.3: matches(v, u) for v != u only if v is u with a port."""
    registered, requested = pair
    if requested != registered:
        assert matches(requested, registered, native=True) is _port_only_difference(
            requested, registered
        )


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        ("http://127.0.0.1:51234/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"),
        ("http://127.0.0.1:9999/cb", "http://127.0.0.1:8080/cb"),
        ("http://[::1]:51234/cb", "http://[::1]/cb"),
    ],
)
def test_rfc9700_s4_1_3_confidential_client_loopback_is_exact(
    requested: str, registered: str
) -> None:
    """RFC 9700 §4.1.3, §2.1: the RFC 8252 §7.3 port exception is for native (public)
    clients; a confidential client's loopback URI matches only as registered."""
    assert matches(requested, registered, native=True)
    assert not matches(requested, registered, native=False)
    assert find_match(requested, (registered,), native=False) is None
    assert find_match(registered, (registered,), native=False) == registered


@given(pair=_registered_and_other(ALL_REGISTERED))
@example(pair=("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb"))
def test_rfc9700_s4_1_3_property_confidential_is_exact_string_equality(
    pair: tuple[str, str],
) -> None:
    """RFC 9700 §4.1.3: for a confidential client matches(v, u) is exactly v == u, loopback
    or not."""
    registered, requested = pair
    assert matches(requested, registered, native=False) is (requested == registered)


# -- wildcards and patterns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://*.example.com/cb", "wildcard"),
        ("https://app.*.example.com/cb", "wildcard"),
        ("https://*/cb", "wildcard"),
        ("https://app*.example.com/cb", "wildcard"),
        ("https://app.example.*/cb", "wildcard"),
        ("https://app.example.com:*/cb", "wildcard"),
        ("https://app.example.com/*", "wildcard"),
        ("https://app.example.com/cb/*/done", "wildcard"),
        ("https://app.example.com/cb?tenant=*", "wildcard"),
        ("http://127.0.0.1:*/cb", "wildcard"),
        ("http://localhost:*/cb", "wildcard"),
        ("com.example.app:/*", "wildcard"),
        ("*", "wildcard"),
        ("https://{tenant}.example.com/cb", "not a host name"),
        ("https://%2A.example.com/cb", "not a host name"),
        ("https://app-?.example.com/cb", None),  # '?' starts the query: host "app-"
        ("https://app.example.com$/cb", "not a host name"),
        ("https://(a|b).example.com/cb", "not a host name"),
        ("https://app~1.example.com/cb", "not a host name"),
    ],
)
def test_rfc9700_s4_1_3_wildcards_and_patterns_are_refused(uri: str, reason: str | None) -> None:
    """RFC 9700 §4.1.3 / §2.1, RFC 6749 §3.1.2: redirect URIs match as exact strings, so a
    wildcard or a placeholder, wherever it stands, is refused at registration with a
    message that says why."""
    problem = registration_problem(uri)
    if reason is None:
        # Not a pattern at all: an ordinary URI (whose host is "app-") with a query.
        assert problem is None
        return
    assert problem is not None
    assert reason in problem
    if reason == "wildcard":
        assert "exact" in problem and "RFC 9700" in problem


@pytest.mark.parametrize(
    "uri",
    [
        "https://app_1.example.com/cb",
        "https://bücher.example/cb",
        "https://app.example.com/%2A",
        "https://app.example.com./cb",
        "https://user@app.example.com/cb",
        "https://192.0.2.1/cb",
        "https://[2001:db8::1]:8443/cb",
    ],
)
def test_rfc6749_s3_1_2_literal_hosts_and_encoded_stars_may_be_registered(uri: str) -> None:
    """Letters of any script, digits, '-', '.', '_' and IP literals make a host; a
    percent-encoded '*' in a path is an ordinary character, matched literally."""
    assert registration_problem(uri) is None


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@given(
    uri=st.sampled_from([*ALL_REGISTERED, "https://app.example.com:8443/cb?tenant=a"]),
    data=st.data(),
)
def test_rfc9700_s4_1_3_property_a_star_anywhere_is_refused(uri: str, data: st.DataObject) -> None:
    """Any registrable URI with '*' put anywhere in it is refused as a wildcard."""
    assert registration_problem(uri) is None
    at = data.draw(st.integers(0, len(uri)))
    assert registration_problem(uri[:at] + "*" + uri[at:]) == WILDCARD


@given(
    stored=st.sampled_from(
        [
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://*.*.example.com/cb",
            "http://127.0.0.1:*/cb",
            "http://*/cb",
        ]
    ),
    labels=st.lists(_label, min_size=1, max_size=3),
    other=st.one_of(st.text(max_size=40), st.sampled_from(ALL_REGISTERED)),
    native=st.booleans(),
)
def test_rfc9700_s4_1_3_property_stored_wildcard_matches_only_itself(
    stored: str, labels: list[str], other: str, native: bool
) -> None:
    """A wildcard URI stored before the rule is shown as stored but is never a pattern:
    no expansion of its '*' (nor anything else) matches; only the identical string."""
    expanded = stored
    for label in labels:
        expanded = expanded.replace("*", label, 1)
    expanded = expanded.replace("*", labels[0])
    assert "*" not in expanded
    assert not matches(expanded, stored, native=native)
    assert matches(stored, stored, native=native)
    if other != stored:
        assert find_match(other, (stored,), native=native) is None


def test_stored_problems_flag_only_refused_uris() -> None:
    """Read paths (``ostiary client show``) warn about rows stored before a rule."""
    found = stored_problems(
        [
            ("redirect URI", "https://*.example.com/cb"),
            ("redirect URI", "https://app.example.com/cb"),
            ("post-logout redirect URI", "https://{tenant}.example.com/bye"),
        ]
    )
    assert len(found) == 2
    assert found[0].startswith("redirect URI 'https://*.example.com/cb' would be refused today")
    assert "matches only itself" in found[0]
    assert found[1].startswith("post-logout redirect URI 'https://{tenant}.example.com/bye'")
