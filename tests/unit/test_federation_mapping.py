"""The claim-mapping rule language: strict parsing (property-based), and evaluation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.federation.mapping import (
    OPERATORS,
    Condition,
    MappingError,
    Rule,
    evaluate,
    parse_rule,
    parse_rules,
)

names = st.from_regex(
    r"[A-Za-z][A-Za-z0-9_:-]{0,10}(\.[A-Za-z][A-Za-z0-9_]{0,5}){0,2}", fullmatch=True
)
targets = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    operator = draw(st.sampled_from(OPERATORS))
    value = None if operator == "exists" else draw(st.text(max_size=20))
    return Condition(draw(names), operator, value)


rules = st.builds(
    Rule,
    st.lists(conditions(), min_size=1, max_size=3).map(tuple),
    st.sampled_from(("role", "group")),
    targets,
)


@given(rules)
def test_render_then_parse_is_the_same_rule(rule: Rule) -> None:
    assert parse_rule(rule.render()) == rule


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_mapping_error_only(text: str) -> None:
    try:
        rule = parse_rule(text)
    except MappingError as exc:
        assert "at character" in str(exc) or "rule" in str(exc)
        return
    assert parse_rule(rule.render()) == rule


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.lists(rules, max_size=5), st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_evaluation_never_raises_and_only_names_rule_targets(
    rs: list[Rule], claims: dict[str, Any]
) -> None:
    mapped = evaluate(rs, claims)
    assert mapped.roles <= {r.target for r in rs if r.action == "role"}
    assert mapped.groups <= {r.target for r in rs if r.action == "group"}


CLAIMS = {
    "groups": ["admins", "staff"],
    "email": "ada@example.com",
    "tid": "t-1",
    "email_verified": True,
    "org": {"name": "ACME"},
    "n": 7,
}


@pytest.mark.parametrize(
    ("rule", "applies"),
    [
        ('groups contains "admins" -> role admin', True),
        ('groups contains "admin" -> role admin', False),
        ('email ends with "@example.com" -> group staff', True),
        ('email ends with "@example.org" -> group staff', False),
        ('email starts with "ada@" → role x', True),
        ('tid == "t-1" -> role employee', True),
        ('tid != "t-1" -> role employee', False),
        ('missing != "x" -> role employee', False),
        ('email_verified == "true" and tid == "t-1" -> role v', True),
        ('email_verified == "true" and tid == "t-2" -> role v', False),
        ('org.name == "ACME" -> role acme', True),
        ('n == "7" -> role seven', True),
        ("groups exists -> role any", True),
        ('email contains "example" -> role sub', True),
    ],
)
def test_rules(rule: str, applies: bool) -> None:
    mapped = evaluate(parse_rules([rule]), CLAIMS)
    assert bool(mapped.roles | mapped.groups) is applies


@pytest.mark.parametrize(
    "text",
    [
        "",
        "groups contains admins -> role admin",
        'groups has "a" -> role x',
        'a == "b" -> admin x',
        'a == "b" -> role',
        'a == "b" -> role x y',
        'a == "b"',
        '__import__("os") == "x" -> role x',
        'a == "b" or c == "d" -> role x',
        'a == "unterminated -> role x',
        "x" * 600,
    ],
)
def test_malformed_rules_are_refused_clearly(text: str) -> None:
    with pytest.raises(MappingError):
        parse_rule(text)


def test_arrow_inside_a_value_is_a_value() -> None:
    assert parse_rule('a == "→" -> role x').conditions[0].value == "→"
