"""Claim-mapping rules: a small, strictly parsed language; nothing is ever evaluated as code.

    rule      = condition *( "and" condition ) "->" action
    condition = claim operator value  /  claim "exists"
    operator  = "==" / "!=" / "contains" / "starts with" / "ends with"
    claim     = name *( "." name )          ; name = ALPHA *( ALPHA / DIGIT / "_" / "-" / ":" )
    value     = a JSON string ("admins", with \\" and \\\\ escapes)
    action    = ( "role" / "group" ) target ; target = 1*( ALPHA / DIGIT / "_" / "-" / "." / ":" )

``→`` may be written for ``->``. Example: ``groups contains "admins" -> role admin``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("==", "!=", "contains", "starts with", "ends with", "exists")
ACTIONS = ("role", "group")
MAX_RULE_LENGTH = 500
MAX_RULES = 100
CLAIM = re.compile(r"[A-Za-z][A-Za-z0-9_:-]*(?:\.[A-Za-z][A-Za-z0-9_:-]*)*")
TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
_SPACE = re.compile(r"[ \t]+")


class MappingError(ValueError):
    """A rule does not parse; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Condition:
    claim: str
    operator: str
    value: str | None = None

    def render(self) -> str:
        if self.operator == "exists":
            return f"{self.claim} exists"
        return f"{self.claim} {self.operator} {json.dumps(self.value, ensure_ascii=False)}"


@dataclass(frozen=True, slots=True)
class Rule:
    conditions: tuple[Condition, ...]
    action: str
    target: str

    def render(self) -> str:
        when = " and ".join(c.render() for c in self.conditions)
        return f"{when} -> {self.action} {self.target}"


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self, required: bool = False) -> None:
        match = _SPACE.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        elif required and not self.done():
            self.fail("expected a space")

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, why: str) -> None:
        raise MappingError(f"{why} at character {self.pos + 1} of {self.text!r}")

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        match = pattern.match(self.text, self.pos)
        if not match:
            self.fail(f"expected {what}")
        assert match is not None
        self.pos = match.end()
        return match.group(0)

    def take_word(self, options: Iterable[str]) -> str | None:
        for option in sorted(options, key=len, reverse=True):
            end = self.pos + len(option)
            if self.text.startswith(option, self.pos) and (
                end == len(self.text) or self.text[end] in " \t"
            ):
                self.pos = end
                return option
        return None


def parse_rule(text: str) -> Rule:
    if not isinstance(text, str) or not text.strip():
        raise MappingError("a rule must not be empty")
    if len(text) > MAX_RULE_LENGTH:
        raise MappingError(f"a rule has at most {MAX_RULE_LENGTH} characters")
    reader = _Reader(text.strip())
    conditions = [_condition(reader)]
    while True:
        reader.skip_space(required=True)
        if reader.take_word(["and"]):
            reader.skip_space(required=True)
            conditions.append(_condition(reader))
            continue
        if reader.take_word(["->", "→"]):
            break
        reader.fail("expected 'and' or '->'")
    reader.skip_space(required=True)
    action = reader.take_word(ACTIONS)
    if action is None:
        reader.fail("expected 'role' or 'group'")
    reader.skip_space(required=True)
    target = reader.take(TARGET, "a role or group name")
    if not reader.done():
        reader.fail("unexpected text after the name")
    assert action is not None
    return Rule(tuple(conditions), action, target)


def _condition(reader: _Reader) -> Condition:
    claim = reader.take(CLAIM, "a claim name")
    reader.skip_space(required=True)
    operator = reader.take_word(OPERATORS)
    if operator is None:
        reader.fail(f"expected one of {', '.join(OPERATORS)}")
    assert operator is not None
    if operator == "exists":
        return Condition(claim, operator)
    reader.skip_space(required=True)
    literal = reader.take(_STRING, 'a "quoted" value')
    return Condition(claim, operator, json.loads(literal))


def parse_rules(texts: Iterable[str]) -> tuple[Rule, ...]:
    rules = tuple(parse_rule(t) for t in texts)
    if len(rules) > MAX_RULES:
        raise MappingError(f"at most {MAX_RULES} rules per provider")
    return rules


def _lookup(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def holds(condition: Condition, claims: Mapping[str, Any]) -> bool:
    value = _lookup(claims, condition.claim)
    if condition.operator == "exists":
        return value is not None
    expected = condition.value or ""
    if condition.operator == "contains":
        if isinstance(value, list):
            return any(_scalar(item) == expected for item in value)
        return isinstance(value, str) and expected in value
    text = _scalar(value)
    if text is None:
        # A missing or structured claim matches no comparison, not even "!=".
        return False
    if condition.operator == "==":
        return text == expected
    if condition.operator == "!=":
        return text != expected
    if condition.operator == "starts with":
        return text.startswith(expected)
    return text.endswith(expected)


@dataclass(frozen=True, slots=True)
class Mapped:
    roles: frozenset[str]
    groups: frozenset[str]


def evaluate(rules: Iterable[Rule], claims: Mapping[str, Any]) -> Mapped:
    """Every rule whose conditions all hold adds its role or group."""
    found: dict[str, set[str]] = {"role": set(), "group": set()}
    for rule in rules:
        if all(holds(c, claims) for c in rule.conditions):
            found[rule.action].add(rule.target)
    return Mapped(frozenset(found["role"]), frozenset(found["group"]))
