"""The filter parser (RFC 7644 §3.4.2.2): the RFC's own examples parse, bad input is a
400 invalidFilter and never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.scim.errors import ScimError
from ostiary.scim.filters import And, AttrPath, Compare, Not, Or, Present, ValuePath, parse_filter

RFC_EXAMPLES = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'userName sw "J"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    "title pr",
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.lastModified ge "2011-05-13T04:42:34Z"',
    'meta.lastModified lt "2011-05-13T04:42:34Z"',
    'meta.lastModified le "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and (emails.type eq "work")',
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    'emails[type eq "work" and value co "@example.com"] or '
    'ims[type eq "xmpp" and value co "@foo.com"]',
]


@pytest.mark.parametrize("text", RFC_EXAMPLES)
def test_rfc7644_3_4_2_2_examples_parse(text: str) -> None:
    assert parse_filter(text) is not None


def test_precedence_names_and_values() -> None:
    tree = parse_filter("A eq 1 OR b PR and NOT (c.D eq true) and e[f eq null]")
    assert tree == Or(
        Compare(AttrPath("a"), "eq", 1),
        And(
            And(Present(AttrPath("b")), Not(Compare(AttrPath("c", "d"), "eq", True))),
            ValuePath(AttrPath("e"), Compare(AttrPath("f"), "eq", None)),
        ),
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "userName",
        "userName eq",
        'userName eq "x" and',
        "(a pr",
        "a[b[c pr]]",
        'a eq "x',
        "a eq bareword",
        "not a pr",
        "a pr )",
        "a.b.c pr",
        'a eq "\x00"',
    ],
)
def test_bad_filters_are_invalid_filter(text: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text)
    assert caught.value.status == 400 and caught.value.scim_type == "invalidFilter"


@given(st.text(max_size=60))
def test_any_text_parses_or_is_invalid_filter(text: str) -> None:
    try:
        parse_filter(text)
    except ScimError as error:
        assert error.scim_type == "invalidFilter"
