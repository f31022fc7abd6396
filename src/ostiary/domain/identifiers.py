"""The one rule for each field that names a person or a grant: username, email address,
role name, group name, single-line text.

Every door that creates or changes a user (command line, admin API, SCIM, federation,
the demo seed) calls these functions, so what one door accepts every door accepts and
what one refuses none stores. Reads never apply them: a row written before a rule
changed is shown, listed, disabled and deleted as stored.
"""

from __future__ import annotations

import re
import unicodedata

import precis_i18n
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

MAX_USERNAME = 150  # users.username
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets, brackets included
MAX_ROLE_NAME = 100  # roles.name
MAX_GROUP_NAME = 150  # groups.name
# Role names travel in access tokens (RFC 9068 §2.2.3.1 roles) and in URL paths.
_ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]*")

# Lone surrogates have no UTF-8 form (no driver can send them) and PostgreSQL cannot
# store NUL: text holding either fails deep in the database layer, so it is refused here.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# C0, DEL and C1 controls and the Unicode line and paragraph separators: a single-line
# value holding one renders differently in a log, a table or a page than it reads.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_CASE_PRESERVED = precis_i18n.get_profile("UsernameCasePreserved")
_CASE_MAPPED = precis_i18n.get_profile("UsernameCaseMapped")
_PRECIS_REASONS = {
    "empty": "must not be empty",
    "spaces": "must not contain spaces",
    "controls": "must not contain control characters",
    "precis_ignorable_properties": (
        "must not contain invisible or formatting characters (zero-width, bidirectional overrides)"
    ),
    "has_compat": "must not contain compatibility characters (ligatures, circled or "
    "superscript forms)",
    "bidi_rule": "mixes right-to-left and left-to-right text in a way RFC 5893 refuses",
    "symbols": "must not contain symbols other than ASCII ones",
    "punctuation": "must not contain punctuation other than ASCII",
    "unassigned": "must not contain unassigned code points",
}
# UTS #39 §5.2 "highly restrictive": letters of one script, or Latin with the scripts
# Chinese, Japanese and Korean writing mixes with it.
_SCRIPT_FAMILIES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
)
_LETTERS = frozenset({"Lu", "Ll", "Lt", "Lo"})
# The probe label a special-use domain is checked under (see ``email``); RFC 2606 §2.
_PROBE = ".example"


class InvalidIdentifier(ValueError):
    """A value the rule of ``field`` refuses; the message names the field and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def storable(value: str, field: str) -> str:
    """Any text, multi-line included: no lone surrogate, no NUL."""
    if found := _UNSTORABLE.search(value):
        raise InvalidIdentifier(field, f"must not contain U+{ord(found.group()):04X}")
    return value


def single_line(value: str, field: str) -> str:
    """Text shown on one line (names, claims): storable, and no control characters."""
    storable(value, field)
    if found := _CONTROL.search(value):
        raise InvalidIdentifier(
            field, f"must not contain control characters (U+{ord(found.group()):04X})"
        )
    return value


def role_name(value: str, field: str = "role name") -> str:
    """An identifier: letters, digits and ``. _ : ~ -``, starting with a letter or digit."""
    if not 1 <= len(value) <= MAX_ROLE_NAME or not _ROLE_NAME.fullmatch(value):
        raise InvalidIdentifier(
            field,
            f"must be 1 to {MAX_ROLE_NAME} letters, digits, '.', '_', ':', '~' or '-', "
            "starting with a letter or digit",
        )
    return value


def group_name(value: str, field: str = "group name") -> str:
    """Any single line that is not blank (SCIM ``displayName`` carries it as given)."""
    single_line(value, field)
    if not value.strip():
        raise InvalidIdentifier(field, "must not be blank")
    if len(value) > MAX_GROUP_NAME:
        raise InvalidIdentifier(field, f"must be at most {MAX_GROUP_NAME} characters")
    return value


def username(value: str, field: str = "username") -> str:
    """RFC 8265 §3.3.2 UsernameCasePreserved: the form stored and shown.

    Width-mapped (full-width letters become their ASCII forms) and NFC; no spaces,
    controls, invisible or compatibility characters; RFC 5893 bidi rule; at most 150
    code points; letters of one script (see ``_SCRIPT_FAMILIES``). Names are compared by
    ``username_key``, so two names differing only in case or width are one name.
    """
    storable(value, field)
    try:
        prepared = _CASE_PRESERVED.enforce(value)
    except UnicodeEncodeError as exc:
        raise InvalidIdentifier(field, _precis_reason(exc)) from None
    if len(prepared) > MAX_USERNAME:
        raise InvalidIdentifier(field, f"has at most {MAX_USERNAME} characters")
    scripts = _scripts(prepared)
    if len(scripts) > 1 and not any(scripts <= family for family in _SCRIPT_FAMILIES):
        raise InvalidIdentifier(
            field, f"mixes the scripts {', '.join(sorted(scripts)).title()} (a look-alike risk)"
        )
    return prepared


def username_key(value: str) -> str | None:
    """RFC 8265 §3.3.1 UsernameCaseMapped: what usernames are unique by and looked up by.

    A name the rule refuses (a row written before it, or anything typed at a login form)
    is keyed by its lowercase, which is what such rows were stored under; None for text
    no database can hold, which names no account.
    """
    if _UNSTORABLE.search(value):
        return None
    try:
        return _CASE_MAPPED.enforce(value)
    except UnicodeEncodeError:
        return value.lower()


def email(value: str, field: str = "email") -> str:
    """One address (RFC 5322 §3.4.1 addr-spec, RFC 5321 limits), normalised: NFC, the
    domain lowercased in its Unicode form.

    Refused: quoted local parts, address literals (``a@[127.0.0.1]``), display names,
    a domain of one label other than ``localhost`` (``a@b``), control characters.
    Accepted: internationalised addresses, and special-use domains operators test with
    (``example.test``, ``localhost``, ``.local``, ``.invalid``) — email-validator refuses
    those outright, so their syntax is checked with a probe label appended.
    No DNS lookup is made.
    """
    single_line(value, field)
    _, at, domain = value.rpartition("@")
    if not at:
        raise InvalidIdentifier(field, "is not an email address (no @)")
    special = domain.rsplit(".", 1)[-1].lower() in SPECIAL_USE_DOMAIN_NAMES
    try:
        checked = validate_email(
            value + _PROBE if special else value,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise InvalidIdentifier(field, f"is not an email address: {exc}") from None
    normalized = checked.normalized.removesuffix(_PROBE) if special else checked.normalized
    host = normalized.rpartition("@")[2]
    if "." not in host and host != "localhost":
        raise InvalidIdentifier(field, "is not an email address: the domain needs a dot")
    if len(normalized.encode()) > MAX_EMAIL:
        raise InvalidIdentifier(field, f"is longer than {MAX_EMAIL} octets")
    return normalized


def _precis_reason(exc: UnicodeEncodeError) -> str:
    kind = exc.reason.rpartition("/")[2]
    if kind in _PRECIS_REASONS:
        return _PRECIS_REASONS[kind]
    where = exc.object[exc.start : exc.start + 1] if isinstance(exc.object, str) else ""
    code = f" (U+{ord(where):04X})" if where else ""
    return f"holds a character RFC 8265 §3.3 does not allow in a username{code}"


def _scripts(value: str) -> frozenset[str]:
    """The scripts of the letters in ``value``, by the first word of each letter's Unicode
    name (LATIN, CYRILLIC, GREEK, CJK, ...); digits, marks and punctuation belong to none."""
    found = set()
    for char in value:
        if unicodedata.category(char) in _LETTERS:
            word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
            found.add("KATAKANA" if word == "KATAKANA-HIRAGANA" else word)
    return frozenset(found)
