"""The one rule per identity field (``ostiary.domain.identifiers``): RFC 8265 §3.3
usernames, RFC 5322 §3.4.1 / RFC 5321 §4.5.3.1 addresses, single-line text. No I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ostiary.domain import identifiers
from ostiary.domain.identifiers import InvalidIdentifier
from ostiary.scim.errors import ScimError
from ostiary.scim.user_records import UserModel, checked

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# What no accepted value may hold: lone surrogates, C0/C1 controls, DEL, line separators.
FORBIDDEN = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)] + [
    chr(c) for c in (0xD800, 0xDBFF, 0xDC00, 0xDFFF)
]


def scim_user(user_name: str, *emails: str) -> Any:
    body: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": user_name}
    if emails:
        body["emails"] = [{"value": e} for e in emails]
    return UserModel.model_validate(body, scim_ctx=None)


@pytest.mark.parametrize(
    ("given_name", "stored", "key"),
    [
        ("alice", "alice", "alice"),
        ("Alice", "Alice", "alice"),
        ("José", "José", "josé"),
        ("Jose\u0301", "José", "josé"),  # NFC
        ("\uff21\uff2c\uff29\uff23\uff25", "ALICE", "alice"),  # RFC 8265 §3.3.2 width mapping
        ("ΣΑΣ", "ΣΑΣ", "σας"),
        ("user@example.com", "user@example.com", "user@example.com"),
        ("x.y_z-1+2", "x.y_z-1+2", "x.y_z-1+2"),
        ("東京たろう", "東京たろう", "東京たろう"),  # Han with Hiragana (UTS #39 §5.2)
        ("taroタロウ", "taroタロウ", "taroタロウ"),  # Latin with Katakana
    ],
)
def test_rfc8265_3_3_usernames_accepted_stored_case_preserved_keyed_case_mapped(
    given_name: str, stored: str, key: str
) -> None:
    assert identifiers.username(given_name) == stored
    assert identifiers.username_key(given_name) == key


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("dave smith", "spaces"),
        ("a\u200bdmin", "invisible"),  # zero-width space
        ("\u202eadmin", "invisible"),  # right-to-left override
        ("ad\u2060min", "invisible"),  # word joiner
        ("ﬀ", "compatibility"),  # ligature
        ("ⓐdmin", "compatibility"),  # circled letter
        ("\u0430dmin", "scripts"),  # Cyrillic a + Latin dmin: "admin" to the eye
        ("p\u0430ypal", "scripts"),
        ("\u03b1dmin", "scripts"),  # Greek + Latin
        ("abc\u05d0", "RFC 5893"),  # bidi rule
        ("snow☃", "symbols"),
        ("a\x01b", "control"),
        ("a\x85b", "control"),
        ("\ud800", "U+D800"),
        ("a\x00", "U+0000"),
        ("a" * 151, "150"),
    ],
)
def test_rfc8265_3_3_usernames_refused_with_the_reason(value: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        identifiers.username(value)
    assert caught.value.field == "username"
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("value", "normalized"),
    [
        ("a@example.test", "a@example.test"),  # RFC 6761 §6.2 special-use: operators test
        ("x@localhost", "x@localhost"),
        ("X@LocalHost", "X@localhost"),
        ("a@foo.local", "a@foo.local"),
        ("Alice@EXAMPLE.com", "Alice@example.com"),  # domain lowercased, local part kept
        ("José@exämple.com", "José@exämple.com"),  # RFC 6531 internationalised
        ("a@xn--mnchen-3ya.de", "a@münchen.de"),
        ("first.last+tag@sub.example.org", "first.last+tag@sub.example.org"),
    ],
)
def test_email_accepted_and_normalised(value: str, normalized: str) -> None:
    assert identifiers.email(value) == normalized


@pytest.mark.parametrize(
    "value",
    [
        "notanemail",
        "a@b",  # one label: only localhost stands alone
        "a@test",
        "@example.com",
        "a@",
        '"quoted"@example.com',
        "a@[127.0.0.1]",
        "Bob <b@example.com>",
        " a@example.com",
        "a@example.com.",
        "a b@example.com",
        "a\x01@example.com",
        "a@exa\x7fmple.com",
        "\ud800@example.com",
        "a@@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_email_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        identifiers.email(value, "emails.value")
    assert str(caught.value).startswith("emails.value ")


def test_names_differing_only_in_case_or_width_share_one_key() -> None:
    keys = {
        identifiers.username_key(v)
        for v in ("alice", "ALICE", "Alice", "\uff21\uff2c\uff29\uff23\uff25")
    }
    assert keys == {"alice"}


def test_a_refused_name_is_keyed_by_its_lowercase_and_unstorable_text_by_none() -> None:
    """Rows stored before the rule keep the key they were stored under."""
    assert identifiers.username_key("Dave Smith") == "dave smith"
    assert identifiers.username_key("\ud800") is None
    assert identifiers.username_key("a\x00") is None


def test_scim_user_normalised_by_the_same_rule() -> None:
    user = checked(scim_user("Jose\u0301", "X@LocalHost"))
    assert user.user_name == "José"
    assert user.emails is not None and user.emails[0].value == "X@localhost"


@pytest.mark.parametrize(
    ("user_name", "email", "named"),
    [
        ("dave smith", None, "userName"),
        ("\u0430dmin", None, "userName"),
        ("\ud800", None, "userName"),
        ("ok", "a@b", "emails.value"),
        ("ok", "notanemail", "emails.value"),
    ],
)
def test_scim_user_refused_as_rfc7644_invalid_value(
    user_name: str, email: str | None, named: str
) -> None:
    with pytest.raises(ScimError) as caught:
        checked(scim_user(user_name, *([email] if email else [])))
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidValue"
    assert named in caught.value.detail


def test_scim_write_keeps_what_the_user_already_holds() -> None:
    """A PATCH of an account stored under an older rule changes it without a 400."""
    before = {"userName": "dave smith", "emails": [{"value": "a@b"}]}
    user = checked(scim_user("dave smith", "a@b"), before)
    assert user.user_name == "dave smith"
    with pytest.raises(ScimError):
        checked(scim_user("dave smith", "a@b", "c@d"), before)


# -- properties -----------------------------------------------------------------------

any_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=400, deadline=None)
@given(any_text)
@example("\uff21\uff22\uff23")
@example("Jose\u0301")
@example("İstanbul")
def test_username_normalisation_is_idempotent_and_yields_storable_text(value: str) -> None:
    try:
        stored = identifiers.username(value)
    except InvalidIdentifier:
        return
    assert identifiers.username(stored) == stored
    key = identifiers.username_key(stored)
    assert key is not None
    assert identifiers.username_key(key) == key
    assert identifiers.username_key(value) == key
    assert json.loads(json.dumps(stored)) == stored
    assert stored.encode("utf-8").decode("utf-8") == stored
    assert not any(ch in stored for ch in FORBIDDEN)
    assert 1 <= len(stored) <= identifiers.MAX_USERNAME
    assert checked(scim_user(stored)).user_name == stored


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.emails(), any_text.map(lambda t: t + "@example.test")))
def test_email_normalisation_is_idempotent_and_scim_accepts_exactly_it(value: str) -> None:
    try:
        normalized = identifiers.email(value)
    except InvalidIdentifier:
        with pytest.raises(ScimError):
            checked(scim_user("someone", value))
        return
    assert identifiers.email(normalized) == normalized
    assert json.loads(json.dumps(normalized)) == normalized
    assert normalized.encode("utf-8").decode("utf-8") == normalized
    assert not any(ch in normalized for ch in FORBIDDEN)
    scim = checked(scim_user("someone", value))
    assert scim.emails is not None and scim.emails[0].value == normalized


@settings(max_examples=300, deadline=None)
@given(any_text, st.sampled_from(FORBIDDEN), st.integers(min_value=0, max_value=40))
def test_nothing_holding_a_surrogate_or_control_is_accepted(text: str, bad: str, at: int) -> None:
    value = text[:at] + bad + text[at:]
    assume(value)
    for rule in (
        identifiers.username,
        identifiers.email,
        lambda v: identifiers.email(v + "@example.com"),
        lambda v: identifiers.single_line(v, "name"),
    ):
        with pytest.raises(InvalidIdentifier):
            rule(value)
