"""The SCIM filter grammar (RFC 7644 §3.4.2.2): a tokenizer and a recursive-descent parser.

Attribute names and operators are case-insensitive (§3.4.2.2: "Attribute names and
attribute operators used in filters are case insensitive"); the AST keeps names lowercased
and the schema URN, if any, apart. ``and`` binds tighter than ``or`` (§3.4.2.2 Table 4
precedence), ``not`` applies to a parenthesised filter, and a value path
``emails[type eq "work"]`` holds a filter on one multi-valued entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ostiary import strict_json as json_input
from ostiary.domain.scim_filter import (
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
)
from ostiary.scim.errors import ScimError

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 50
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
      | (?P<punct>[()\[\]])
      | (?P<word>[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ATTRNAME = re.compile(r"\$?[A-Za-z][\w$-]*")
_URN_ATTR = re.compile(r"(?P<urn>urn:[^\s\[\]()\"]+):(?P<rest>[^:]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "string", "punct", "word" or "end"
    text: str
    at: int


def invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(f"unexpected character at offset {pos}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_attr_path(text: str) -> AttrPath:
    """``urn:...:User:name.familyName`` → AttrPath("name", "familyname", urn)."""
    schema = None
    urn = _URN_ATTR.fullmatch(text)
    if urn:
        schema, text = urn.group("urn"), urn.group("rest")
    parts = text.split(".")
    if len(parts) > 2 or not all(_ATTRNAME.fullmatch(p) for p in parts):
        raise invalid(f"{text!r} is not an attribute path")
    return AttrPath(parts[0].lower(), parts[1].lower() if len(parts) == 2 else None, schema)


def _value(token: Token) -> Value:
    if token.kind == "string":
        # The same reader as request bodies: a literal naming a lone surrogate or a NUL
        # is refused here, before it can reach a query.
        try:
            text: str = json_input.loads(token.text)
        except json_input.InvalidJson as exc:
            raise invalid(f"the string at offset {token.at} is invalid: {exc.reason}") from None
        return text
    if token.kind == "word":
        word = token.text.lower()
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if _NUMBER.fullmatch(token.text):
            try:
                number: int | float = json_input.loads(token.text)
            except json_input.InvalidJson:
                raise invalid(f"the number at offset {token.at} is out of range") from None
            return number
    raise invalid(f"expected a value at offset {token.at}")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "word" and token.text.lower() in words:
            self.pos += 1
            return token.text.lower()
        return None

    def expect(self, text: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != text:
            raise invalid(f"expected {text!r} at offset {token.at}")

    def or_expr(self, in_value: bool) -> Filter:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise invalid("the filter nests too deeply")
        left = self.and_expr(in_value)
        while self.keyword("or"):
            left = Or(left, self.and_expr(in_value))
        self.depth -= 1
        return left

    def and_expr(self, in_value: bool) -> Filter:
        left = self.unary(in_value)
        while self.keyword("and"):
            left = And(left, self.unary(in_value))
        return left

    def unary(self, in_value: bool) -> Filter:
        token = self.peek()
        following = self.tokens[min(self.pos + 1, len(self.tokens) - 1)]
        if token.kind == "word" and token.text.lower() == "not" and following.text == "(":
            self.pos += 1
            self.expect("(")
            inner = self.or_expr(in_value)
            self.expect(")")
            return Not(inner)
        if token.kind == "punct" and token.text == "(":
            self.pos += 1
            inner = self.or_expr(in_value)
            self.expect(")")
            return inner
        return self.attr_expr(in_value)

    def attr_expr(self, in_value: bool) -> Filter:
        token = self.take()
        if token.kind != "word":
            raise invalid(f"expected an attribute path at offset {token.at}")
        path = parse_attr_path(token.text)
        if self.peek().kind == "punct" and self.peek().text == "[":
            # RFC 7644 §3.4.2.2: valFilter holds no further value path.
            if in_value or path.sub is not None:
                raise invalid(f"a value filter cannot nest at offset {token.at}")
            self.pos += 1
            inner = self.or_expr(True)
            self.expect("]")
            return ValuePath(path, inner)
        op = self.keyword("pr", *COMPARE_OPS)
        if op is None:
            raise invalid(f"expected an operator at offset {self.peek().at}")
        if op == "pr":
            return Present(path)
        return Compare(path, op, _value(self.take()))


def parse_filter(text: str) -> Filter:
    """Parse a filter or raise a 400 ``invalidFilter`` ScimError."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid(f"a filter is at most {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise invalid("a filter must not contain NUL characters")
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "end":
        raise invalid("the filter is empty")
    result = parser.or_expr(False)
    if parser.peek().kind != "end":
        raise invalid(f"unexpected {parser.peek().text!r} at offset {parser.peek().at}")
    return result
