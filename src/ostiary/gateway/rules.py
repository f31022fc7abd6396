"""Access rules: a strict grammar, path normalisation, and most-specific-rule matching.

Grammar of one rule (whitespace separated)::

    [METHOD[,METHOD...]] PATTERN REQUIREMENT...
    REQUIREMENT := public | authenticated | scope=NAME | role=NAME

``PATTERN`` is an absolute path; a segment ``*`` matches exactly one segment, a final
``/*`` matches the path itself and everything beneath it. Paths are compared after
:func:`normalise_path`, and that normalised path is what the upstream receives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

# RFC 9110 §5.6.2 token; methods are case-sensitive (RFC 9110 §9.1), so upper case only.
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]{0,31}")
# RFC 3986 §3.3 pchar without "%" (patterns name decoded paths), plus the "*" wildcard.
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()+,;=:@-]+")
_NAME = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_PCHAR_SAFE = "/!$&'()*+,;=:@-._~"
_FORBIDDEN_ENCODED = ("%2f", "%5c", "%00")


class RuleError(ValueError):
    """A rule that does not follow the grammar; the message says what and where."""


class BadPath(ValueError):
    """A request path the gateway refuses to interpret (answered with 400)."""


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[str] | None  # None: any method
    pattern: str
    public: bool = False
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    source: str = ""

    @property
    def segments(self) -> tuple[str, ...]:
        return _split(self.pattern)

    @property
    def prefix(self) -> bool:
        return self.pattern.endswith("/*")

    def specificity(self) -> tuple[int, int, int]:
        """More literal segments, then exact over prefix, then a method list over any."""
        segments = self.segments[:-1] if self.prefix else self.segments
        literal = sum(1 for segment in segments if segment != "*")
        return (literal, 0 if self.prefix else 1, 0 if self.methods is None else 1)

    def matches(self, method: str, path: str, *, fold_case: bool = False) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        pattern = self.segments[:-1] if self.prefix else self.segments
        wanted = _split(path.lower() if fold_case else path)
        if self.prefix:
            if len(wanted) < len(pattern):
                return False
            wanted = wanted[: len(pattern)]
        elif len(wanted) != len(pattern) or path.endswith("/") != self.pattern.endswith("/"):
            return False
        for want, have in zip(pattern, wanted, strict=True):
            expected = want.lower() if fold_case else want
            if want != "*" and expected != have:
                return False
        return True


def _split(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.split("/") if segment)


def parse_rule(text: str) -> Rule:
    """One rule from its text form; RuleError names the offending word."""
    words = text.split()
    if not words:
        raise RuleError("empty rule")
    methods: frozenset[str] | None = None
    if not words[0].startswith("/"):
        methods = _methods(words.pop(0), text)
    if not words or not words[0].startswith("/"):
        raise RuleError(f"rule {text!r}: expected a path starting with '/'")
    pattern = _pattern(words.pop(0), text)
    if not words:
        raise RuleError(f"rule {text!r}: say who may pass: public, authenticated, scope=, role=")
    public, authenticated = False, False
    scopes: set[str] = set()
    roles: set[str] = set()
    for word in words:
        kind, sep, value = word.partition("=")
        if word == "public":
            public = True
        elif word == "authenticated":
            authenticated = True
        elif sep and kind in ("scope", "role"):
            if not _NAME.fullmatch(value):
                raise RuleError(f"rule {text!r}: {kind}= needs a name, got {value!r}")
            (scopes if kind == "scope" else roles).add(value)
        else:
            raise RuleError(
                f"rule {text!r}: unknown requirement {word!r} "
                "(use public, authenticated, scope=NAME or role=NAME)"
            )
    if public and (authenticated or scopes or roles):
        raise RuleError(f"rule {text!r}: public cannot be combined with other requirements")
    return Rule(methods, pattern, public, frozenset(scopes), frozenset(roles), text.strip())


def _methods(word: str, text: str) -> frozenset[str] | None:
    if word == "*":
        return None
    methods = word.split(",")
    for method in methods:
        if not _METHOD.fullmatch(method):
            hint = " (methods are case-sensitive: write them in upper case)" * (
                method.upper() != method
            )
            raise RuleError(f"rule {text!r}: {method!r} is not an HTTP method{hint}")
    # RFC 9110 §9.3.2: HEAD is GET without the content, so a GET rule covers it.
    return frozenset(methods) | ({"HEAD"} if "GET" in methods else set())


def _pattern(word: str, text: str) -> str:
    if word == "/" or word == "/*":
        return word
    body = word[1:-1] if word.endswith("/") else word[1:]
    for segment in body.split("/"):
        if segment == "*":
            continue
        if segment in ("", ".", ".."):
            raise RuleError(f"rule {text!r}: empty, '.' and '..' segments are not allowed")
        if "*" in segment:
            raise RuleError(f"rule {text!r}: '*' must be a whole segment ({segment!r})")
        if not _SEGMENT.fullmatch(segment):
            raise RuleError(f"rule {text!r}: {segment!r} has characters a path cannot hold")
    if word.endswith("*/"):
        raise RuleError(f"rule {text!r}: a pattern ends in '/*', not '*/'")
    return word


def normalise_path(raw: bytes) -> str:
    """The decoded path the rules see and the upstream receives.

    Refuses (BadPath) encoded "/", "\\" and NUL, bad percent-escapes, non-UTF-8 and
    control characters; decodes the rest; removes dot-segments (RFC 3986 §5.2.4) and
    refuses ones that climb above the root; collapses runs of "/".
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BadPath("the path must be ASCII (percent-encode the rest)") from None
    if not text.startswith("/"):
        raise BadPath("the path must be absolute")
    lowered = text.lower()
    if any(bad in lowered for bad in _FORBIDDEN_ENCODED) or "\\" in text:
        raise BadPath("encoded slashes, backslashes and NUL are not allowed in the path")
    decoded = _percent_decode(text)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise BadPath("control characters are not allowed in the path")
    output: list[str] = []
    parts = decoded.split("/")[1:]
    for index, segment in enumerate(parts):
        last = index == len(parts) - 1
        if segment == "..":
            # RFC 3986 §5.2.4 would silently stay at the root; climbing out is an attack.
            if not output:
                raise BadPath("the path climbs above the root")
            output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        elif segment or last:
            output.append(segment)
    return "/" + "/".join(output)


def _percent_decode(text: str) -> str:
    data = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            pair = text[index + 1 : index + 3]
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise BadPath("malformed percent-encoding in the path")
            data.append(int(pair, 16))
            index += 3
        else:
            data.append(ord(char))
            index += 1
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath("the path is not UTF-8") from None


def encode_path(path: str) -> str:
    """The normalised path as sent upstream: one canonical percent-encoding."""
    return quote(path, safe=_PCHAR_SAFE)


class RuleSet:
    """Rules ordered most specific first; the first that matches decides."""

    def __init__(self, rules: Iterable[Rule], *, fold_case: bool = False) -> None:
        self.rules: Sequence[Rule] = sorted(
            rules, key=lambda rule: rule.specificity(), reverse=True
        )
        self.fold_case = fold_case
        seen: set[tuple[frozenset[str] | None, str]] = set()
        for rule in self.rules:
            key = (rule.methods, rule.pattern.lower() if fold_case else rule.pattern)
            if key in seen:
                raise RuleError(f"rule {rule.source!r} repeats an earlier rule's method and path")
            seen.add(key)

    def match(self, method: str, path: str) -> Rule | None:
        """The deciding rule; None means deny (deny-by-default)."""
        for rule in self.rules:
            if rule.matches(method, path, fold_case=self.fold_case):
                return rule
        return None

    @property
    def needs_identity(self) -> bool:
        return any(not rule.public for rule in self.rules)
