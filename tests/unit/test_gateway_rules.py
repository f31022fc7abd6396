"""The gateway's rule grammar, path normalisation and matching (docs/gateway.md)."""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.gateway.rules import (
    BadPath,
    RuleError,
    RuleSet,
    encode_path,
    normalise_path,
    parse_rule,
)


@pytest.mark.parametrize(
    ("text", "methods", "pattern", "public", "scopes", "roles"),
    [
        ("GET /api/* scope=orders:read", {"GET", "HEAD"}, "/api/*", False, {"orders:read"}, set()),
        ("/admin/* role=admin", None, "/admin/*", False, set(), {"admin"}),
        ("GET /health public", {"GET", "HEAD"}, "/health", True, set(), set()),
        ("POST,PUT /x scope=a scope=b role=r", {"POST", "PUT"}, "/x", False, {"a", "b"}, {"r"}),
        ("* /users/*/profile authenticated", None, "/users/*/profile", False, set(), set()),
    ],
)
def test_parse_rule(
    text: str,
    methods: set[str] | None,
    pattern: str,
    public: bool,
    scopes: set[str],
    roles: set[str],
) -> None:
    rule = parse_rule(text)
    assert rule.methods == (frozenset(methods) if methods is not None else None)
    assert (rule.pattern, rule.public) == (pattern, public)
    assert (rule.scopes, rule.roles) == (frozenset(scopes), frozenset(roles))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty rule"),
        ("GET", "expected a path"),
        ("GET /x", "say who may pass"),
        ("get /x public", "case-sensitive"),
        ("GET api/x public", "expected a path"),
        ("GET /x/../y public", "'..' segments"),
        ("GET //x public", "empty"),
        ("GET /x* public", "whole segment"),
        ("GET /x%2f public", "characters a path cannot hold"),
        ("GET /x public scope=a", "cannot be combined"),
        ("GET /x scope=", "needs a name"),
        ("GET /x admin", "unknown requirement"),
        ('GET /x role=a"b', "needs a name"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_rule(text)


def test_duplicate_rules_are_refused() -> None:
    with pytest.raises(RuleError, match="repeats"):
        RuleSet([parse_rule("GET /x public"), parse_rule("GET /x scope=a")])


def test_most_specific_rule_wins_whatever_the_order() -> None:
    rules = RuleSet(
        [
            parse_rule("/* authenticated"),
            parse_rule("/admin/* role=admin"),
            parse_rule("GET /admin/health public"),
        ]
    )
    assert rules.match("GET", "/admin/health").public  # type: ignore[union-attr]
    assert rules.match("POST", "/admin/health").roles == {"admin"}  # type: ignore[union-attr]
    assert rules.match("GET", "/admin").roles == {"admin"}  # type: ignore[union-attr]
    assert rules.match("GET", "/adminx").roles == frozenset()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("/api/*", "/api", True),
        ("/api/*", "/api/", True),
        ("/api/*", "/api/a/b", True),
        ("/api/*", "/apiary", False),
        ("/api", "/api/", False),
        ("/api/", "/api", False),
        ("/users/*/profile", "/users/7/profile", True),
        ("/users/*/profile", "/users/profile", False),
        ("/users/*/profile", "/users/7/8/profile", False),
        ("/", "/", True),
        ("/", "/x", False),
        ("/*", "/anything/at/all", True),
    ],
)
def test_matching(pattern: str, path: str, matched: bool) -> None:
    rules = RuleSet([parse_rule(f"GET {pattern} public")])
    assert (rules.match("GET", path) is not None) is matched


def test_case_folding_is_opt_in() -> None:
    strict = RuleSet([parse_rule("/admin/* role=admin")])
    folded = RuleSet([parse_rule("/admin/* role=admin")], fold_case=True)
    assert strict.match("GET", "/ADMIN/x") is None
    assert folded.match("GET", "/ADMIN/x") is not None


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (b"/a/b", "/a/b"),
        (b"//a///b", "/a/b"),
        (b"/a/./b", "/a/b"),
        (b"/a/b/..", "/a/"),
        (b"/a/../b", "/b"),
        (b"/a/%2e%2e/b", "/b"),
        (b"/a/%2E/b", "/a/b"),
        (b"/%61", "/a"),
        (b"/caf%C3%A9", "/caf\u00e9"),
        (b"/a/", "/a/"),
    ],
)
def test_normalise_path(raw: bytes, normalised: str) -> None:
    assert normalise_path(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [b"/..", b"/a/../..", b"/%2e%2e", b"/a%2fb", b"/a%2Fb", b"/a%5cb", b"/a\\b", b"/a%00",
     b"/a%0a", b"/%zz", b"/%4", b"/%ff", b"a/b", "/é".encode()],
)  # fmt: skip
def test_bad_paths_are_refused(raw: bytes) -> None:
    with pytest.raises(BadPath):
        normalise_path(raw)


SEGMENT = st.text(alphabet="abcAB.%2eEfF/\\-_~:@", min_size=0, max_size=12)


@given(st.lists(SEGMENT, max_size=6))
def test_normalised_paths_are_canonical_and_stable(parts: list[str]) -> None:
    """Property: a normalised path has no dot-segments, no empty segments except a
    trailing slash, and normalising its encoded form gives it back (what is matched is
    exactly what is forwarded)."""
    raw = ("/" + "/".join(parts)).encode()
    try:
        path = normalise_path(raw)
    except BadPath:
        return
    segments = path.split("/")[1:]
    assert all(segment not in (".", "..") for segment in segments)
    assert all(segment for segment in segments[:-1])
    assert normalise_path(encode_path(path).encode()) == path


@given(st.lists(st.sampled_from(["x", "..", ".", "%2e%2e", "%2E.", "", "admin"]), max_size=8))
def test_no_encoding_of_dot_dot_escapes_a_prefix_rule(parts: list[str]) -> None:
    """Property: whatever the dot-segment spelling, a request matched by the public
    /public/* rule has a normalised path under /public."""
    rules = RuleSet([parse_rule("GET /public/* public"), parse_rule("GET /admin/* role=admin")])
    try:
        path = normalise_path(("/public/" + "/".join(parts)).encode())
    except BadPath:
        return
    rule = rules.match("GET", path)
    if rule is not None and rule.public:
        assert path == "/public" or path.startswith("/public/")


@given(st.text(min_size=1, max_size=20))
def test_any_decoded_text_round_trips_through_encoding(text: str) -> None:
    path = "/" + text.replace("/", "_").replace("\\", "_")
    try:
        normalised = normalise_path(quote(path, safe="/").encode())
    except BadPath:
        return
    assert normalise_path(encode_path(normalised).encode()) == normalised


@given(st.text(max_size=60))
def test_parser_never_fails_with_anything_but_rule_error(text: str) -> None:
    try:
        rule = parse_rule(text)
    except RuleError:
        return
    assert rule.pattern.startswith("/")
    assert rule.source == text.strip()


LITERAL = st.text(alphabet="abcXYZ019._~-:@", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
NAME = st.text(alphabet="abc:/._-", min_size=1, max_size=10)


@given(
    st.one_of(st.none(), st.sets(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), min_size=1)),
    st.lists(st.one_of(LITERAL, st.just("*")), max_size=5),
    st.booleans(),
    st.sets(NAME, max_size=3),
    st.sets(NAME, max_size=3),
)
def test_well_formed_rules_parse_to_what_they_say(
    methods: set[str] | None,
    segments: list[str],
    prefix: bool,
    scopes: set[str],
    roles: set[str],
) -> None:
    """Property: any rule written per the grammar parses back to its parts."""
    pattern = "/" + "/".join(segments) + ("/*" if prefix and segments else "")
    requirements = [f"scope={s}" for s in sorted(scopes)] + [f"role={r}" for r in sorted(roles)]
    text = " ".join([",".join(sorted(methods))] if methods else [])
    text = f"{text} {pattern} {' '.join(requirements) or 'public'}".strip()
    rule = parse_rule(text)
    expected = (
        None if methods is None else frozenset(methods) | ({"HEAD"} if "GET" in methods else set())
    )
    assert rule.methods == expected
    assert rule.pattern == pattern
    assert (rule.scopes, rule.roles) == (frozenset(scopes), frozenset(roles))
    assert rule.public is not bool(requirements)
