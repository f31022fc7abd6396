"""Standard claims, scope-based release and the claims request (OIDC Core §5.1, §5.4, §5.5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ostiary.domain.users import User
from ostiary.errors import OAuthError
from ostiary.tokens.claims import (
    MAX_CLAIMS_REQUEST,
    OIDC_SCOPES,
    SCOPE_CLAIMS,
    SUPPORTED_CLAIMS,
    parse_claims_request,
    release,
    user_claims,
)

# OIDC Core §5.4, transcribed from the specification rather than from the module under test.
SPEC_SCOPE_CLAIMS: dict[str, set[str]] = {
    "profile": {
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    },
    "email": {"email", "email_verified"},
    "address": {"address"},
    "phone": {"phone_number", "phone_number_verified"},
}
SPEC_CLAIMS = {"sub"}.union(*SPEC_SCOPE_CLAIMS.values())
USER_ID = "5b0c8f9e-4a1d-4c8e-9a57-0d6f3e2b1a90"
UPDATED_AT = 1_700_000_100
FULL_PROFILE: dict[str, Any] = {
    "name": "Alice Liddell",
    "family_name": "Liddell",
    "given_name": "Alice",
    "middle_name": "Pleasance",
    "nickname": "Al",
    "profile": "https://alice.example.org/",
    "picture": "https://alice.example.org/me.png",
    "website": "https://alice.example.org",
    "gender": "female",
    "birthdate": "1852-05-04",
    "zoneinfo": "Europe/London",
    "locale": "en-GB",
    "address": {"formatted": "Christ Church, Oxford", "country": "GB"},
}


def make_user(**overrides: Any) -> User:
    values: dict[str, Any] = {
        "id": USER_ID,
        "username": "alice",
        "email": None,
        "password_hash": None,
        "disabled": False,
        "created_at": 1_700_000_000,
        "updated_at": UPDATED_AT,
    }
    values.update(overrides)
    return User(**values)


def full_user() -> User:
    return make_user(
        email="alice@example.org",
        email_verified=True,
        phone_number="+44 1865 276150",
        phone_number_verified=False,
        profile=dict(FULL_PROFILE),
    )


def _invalid(value: str) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        parse_claims_request(value)
    assert info.value.error == "invalid_request"
    assert info.value.status == 400
    return info.value


# -- §5.4 scope values ----------------------------------------------------------------------


def test_oidc_core_5_4_scope_claims_match_the_specification_exactly() -> None:
    """§5.4: profile, email, address and phone release exactly the listed claims."""
    assert {scope: set(names) for scope, names in SCOPE_CLAIMS.items()} == SPEC_SCOPE_CLAIMS
    for names in SCOPE_CLAIMS.values():
        assert len(names) == len(set(names))


def test_oidc_core_5_4_supported_claims_are_the_standard_claims_and_sub() -> None:
    """§5.1: the supported claim names are sub plus every claim some scope releases."""
    assert set(SUPPORTED_CLAIMS) == SPEC_CLAIMS
    assert sorted(SUPPORTED_CLAIMS) == SUPPORTED_CLAIMS


def test_oidc_core_11_and_5_4_oidc_scopes_are_openid_offline_access_and_claim_scopes() -> None:
    """§3.1.2.1, §11, §5.4: the scope values OpenID Connect defines."""
    assert set(OIDC_SCOPES) == {"openid", "offline_access", *SPEC_SCOPE_CLAIMS}


# -- §5.1 user_claims ------------------------------------------------------------------------


def test_oidc_core_5_1_preferred_username_is_the_username_and_updated_at_the_row_time() -> None:
    claims = user_claims(make_user(username="alice.l"))
    assert claims["preferred_username"] == "alice.l"
    assert claims["updated_at"] == UPDATED_AT


@pytest.mark.parametrize("email", [None, ""])
def test_oidc_core_5_1_email_claims_only_when_an_email_is_set(email: str | None) -> None:
    claims = user_claims(make_user(email=email, email_verified=True))
    assert "email" not in claims
    assert "email_verified" not in claims


@pytest.mark.parametrize("verified", [True, False])
def test_oidc_core_5_1_email_verified_goes_with_the_email(verified: bool) -> None:
    claims = user_claims(make_user(email="a@example.org", email_verified=verified))
    assert claims["email"] == "a@example.org"
    assert claims["email_verified"] is verified


@pytest.mark.parametrize(
    ("phone", "verified", "expected"),
    [
        (None, True, {}),
        ("", True, {}),
        ("+1 555 0100", False, {"phone_number": "+1 555 0100", "phone_number_verified": False}),
        ("+1 555 0100", True, {"phone_number": "+1 555 0100", "phone_number_verified": True}),
    ],
)
def test_oidc_core_5_1_phone_claims_only_when_a_number_is_set(
    phone: str | None, verified: bool, expected: dict[str, Any]
) -> None:
    claims = user_claims(make_user(phone_number=phone, phone_number_verified=verified))
    got = {k: v for k, v in claims.items() if k.startswith("phone_number")}
    assert got == expected


def test_oidc_core_5_1_profile_json_fields_become_claims() -> None:
    claims = user_claims(full_user())
    for name, value in FULL_PROFILE.items():
        assert claims[name] == value
    assert claims["address"] == {"formatted": "Christ Church, Oxford", "country": "GB"}


@pytest.mark.parametrize(
    "profile",
    [
        {"favourite_colour": "blue"},
        {"password_hash": "$argon2id$..."},
        {"sub": "someone-else"},
        {"email": "spoof@example.org", "email_verified": True},
        {"phone_number": "+1 555 0199", "phone_number_verified": True},
        {"preferred_username": "mallory"},
        {"updated_at": 1},
        {"iss": "https://evil.example", "aud": "x"},
    ],
)
def test_oidc_core_5_1_unknown_or_column_profile_keys_are_dropped(profile: dict[str, Any]) -> None:
    """Only standard claims stored in the profile JSON are released; the profile can never
    override the columns (email, phone, username, sub) or add claims of its own."""
    user = make_user(profile=profile)
    claims = user_claims(user)
    assert claims == {"preferred_username": "alice", "updated_at": UPDATED_AT}


@pytest.mark.parametrize("empty", [None, ""])
def test_oidc_core_5_1_empty_profile_values_are_omitted(empty: str | None) -> None:
    """§5.1 / §5.3.2: claims without a value are omitted rather than sent as null or ""."""
    claims = user_claims(make_user(profile={"name": empty, "given_name": "Alice"}))
    assert "name" not in claims
    assert claims["given_name"] == "Alice"


# -- release ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ((), {"sub"}),
        (("openid",), {"sub"}),
        (("openid", "offline_access"), {"sub"}),
        (("openid", "profile"), {"sub", *SPEC_SCOPE_CLAIMS["profile"]}),
        (("openid", "email"), {"sub", "email", "email_verified"}),
        (("openid", "address"), {"sub", "address"}),
        (("openid", "phone"), {"sub", "phone_number", "phone_number_verified"}),
        (("openid", "read", "write"), {"sub"}),
        (("openid", "profile", "email", "address", "phone"), SPEC_CLAIMS),
    ],
)
def test_oidc_core_5_4_scope_values_release_their_claims(
    scopes: tuple[str, ...], expected: set[str]
) -> None:
    released = release(full_user(), scopes, None)
    assert set(released) == expected
    assert released["sub"] == USER_ID


def test_oidc_core_5_4_profile_scope_releases_only_what_the_user_has() -> None:
    released = release(make_user(profile={"given_name": "Alice"}), ("openid", "profile"), None)
    assert released == {
        "sub": USER_ID,
        "given_name": "Alice",
        "preferred_username": "alice",
        "updated_at": UPDATED_AT,
    }


def test_oidc_core_5_4_email_scope_without_an_email_releases_nothing_but_sub() -> None:
    assert release(make_user(), frozenset({"openid", "email"}), None) == {"sub": USER_ID}


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ({"email": None}, {"sub", "email"}),
        ({"email_verified": {"essential": True}}, {"sub", "email_verified"}),
        ({"given_name": None, "address": None}, {"sub", "given_name", "address"}),
        ({"phone_number": None}, {"sub", "phone_number"}),
        ({"sub": {"value": USER_ID}}, {"sub"}),
        ({"shoe_size": None}, {"sub"}),
        ({}, {"sub"}),
    ],
)
def test_oidc_core_5_5_requested_claims_are_released_without_their_scope(
    requested: dict[str, Any], expected: set[str]
) -> None:
    """§5.5: individual claims may be requested without the scope that would release them."""
    released = release(full_user(), ("openid",), requested)
    assert set(released) == expected
    assert released["sub"] == USER_ID


def test_oidc_core_5_5_requested_claims_add_to_scope_claims() -> None:
    released = release(full_user(), ("openid", "email"), {"name": None})
    assert set(released) == {"sub", "email", "email_verified", "name"}


def test_oidc_core_2_sub_is_always_released_and_is_the_user_id() -> None:
    """§2 / §5.3.2: sub is in every ID token and UserInfo response, and is never spoofable."""
    user = make_user(profile={"sub": "attacker"})
    assert release(user, (), None) == {"sub": USER_ID}
    assert release(user, ("openid",), {"sub": None})["sub"] == USER_ID


# -- release, property -----------------------------------------------------------------------

_PROFILE_KEYS = st.one_of(
    st.sampled_from(sorted(SPEC_CLAIMS | {"iss", "aud", "password_hash", "favourite"})),
    st.text(max_size=10),
)
_PROFILE_VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=8),
    st.integers(),
    st.booleans(),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_USERS = st.builds(
    make_user,
    username=st.text(min_size=1, max_size=10),
    email=st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=10)),
    email_verified=st.booleans(),
    phone_number=st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=10)),
    phone_number_verified=st.booleans(),
    profile=st.dictionaries(_PROFILE_KEYS, _PROFILE_VALUES, max_size=12),
)
_SCOPES = st.frozensets(
    st.one_of(st.sampled_from([*SPEC_SCOPE_CLAIMS, "openid", "offline_access"]), st.text()),
    max_size=6,
)
_REQUESTED = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from(sorted(SPEC_CLAIMS)), st.text(max_size=10)),
        st.one_of(st.none(), st.fixed_dictionaries({"essential": st.booleans()})),
        max_size=6,
    ),
)


@given(_USERS, _SCOPES, _REQUESTED)
def test_oidc_core_5_4_5_5_released_claims_are_what_scopes_and_request_allow(
    user: User, scopes: frozenset[str], requested: dict[str, Any] | None
) -> None:
    """Released claims are within (scope claims | requested | {sub}); each value is the
    user's own; all that is allowed and held is released; nothing non-standard leaks."""
    released = release(user, scopes, requested)
    allowed = {name for scope in scopes for name in SPEC_SCOPE_CLAIMS.get(scope, ())}
    wanted = allowed | set(requested or {})
    assert set(released) <= wanted | {"sub"}
    assert set(released) <= SPEC_CLAIMS
    assert released["sub"] == user.id
    available = user_claims(user)
    for name, value in released.items():
        if name != "sub":
            assert value == available[name]
            assert value is not None
            assert value != ""
    assert (wanted & set(available)) - {"sub"} <= set(released)


# -- §5.5 claims request parameter -----------------------------------------------------------


def test_oidc_core_5_5_absent_claims_parameter_is_none() -> None:
    assert parse_claims_request(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{}", {}),
        ('{"userinfo": {}}', {"userinfo": {}}),
        ('{"id_token": {}}', {"id_token": {}}),
        ('{"userinfo": null, "id_token": null}', {}),
        (
            '{"userinfo": {"given_name": {"essential": true}, "nickname": null,'
            ' "email": {"essential": true}, "email_verified": {"essential": true},'
            ' "picture": null},'
            ' "id_token": {"sub": {"value": "248289761001"}}}',
            {
                "userinfo": {
                    "given_name": {"essential": True},
                    "nickname": None,
                    "email": {"essential": True},
                    "email_verified": {"essential": True},
                    "picture": None,
                },
                "id_token": {"sub": {"value": "248289761001"}},
            },
        ),
        (
            '{"id_token": {"email": {"essential": false}, "locale": {"values": ["en", "fr"]}}}',
            {"id_token": {"email": {"essential": False}, "locale": {"values": ["en", "fr"]}}},
        ),
        ('{"userinfo": {"email": {}}}', {"userinfo": {"email": {}}}),
    ],
)
def test_oidc_core_5_5_valid_claims_requests_parse(value: str, expected: dict[str, Any]) -> None:
    """§5.5 / §5.5.1: members are null or an object; essential and value(s) are kept."""
    assert parse_claims_request(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"userinfo": {"shoe_size": null, "email": null}}', {"userinfo": {"email": None}}),
        ('{"id_token": {"http://example.info/claims/groups": null}}', {"id_token": {}}),
        (  # acr is kept for its authentication requirement (§5.5.1.1)
            '{"id_token": {"acr": {"essential": true}, "auth_time": {"essential": true}}}',
            {"id_token": {"acr": {"essential": True}}},
        ),
        ('{"userinfo": {"acr": {"essential": true}}}', {"userinfo": {}}),
        ('{"userinfo": {"EMAIL": null}}', {"userinfo": {}}),
        ('{"request": {"email": null}, "userinfo": {}}', {"userinfo": {}}),
        ('{"foo": [1, 2], "bar": "x"}', {}),
    ],
)
def test_oidc_core_5_5_unknown_claims_and_members_are_ignored(
    value: str, expected: dict[str, Any]
) -> None:
    """§5.5: claims the OP does not understand are ignored, as are unknown top-level members."""
    assert parse_claims_request(value) == expected


@pytest.mark.parametrize(
    "value",
    ["[]", '[{"userinfo": {}}]', "null", "true", "1", '"userinfo"', "1.5"],
)
def test_oidc_core_5_5_non_object_claims_parameter_is_invalid_request(value: str) -> None:
    _invalid(value)


@pytest.mark.parametrize(
    "value",
    [
        '{"userinfo": []}',
        '{"userinfo": "email"}',
        '{"id_token": 1}',
        '{"id_token": true}',
        '{"userinfo": {}, "id_token": ["email"]}',
    ],
)
def test_oidc_core_5_5_non_object_member_is_invalid_request(value: str) -> None:
    assert "must be a JSON object" in (_invalid(value).description or "")


@pytest.mark.parametrize(
    "value",
    [
        '{"userinfo": {"email": true}}',
        '{"userinfo": {"email": "yes"}}',
        '{"id_token": {"email": ["essential"]}}',
        '{"id_token": {"unknown_claim": 1}}',
    ],
)
def test_oidc_core_5_5_claim_spec_must_be_null_or_object(value: str) -> None:
    assert "null or an object" in (_invalid(value).description or "")


@pytest.mark.parametrize(
    "value",
    ["", "{", "{'userinfo': {}}", '{"userinfo": {},}', "NaN", "\ud800", '{"a": "\ud800"}', "\x00"],
)
def test_oidc_core_5_5_invalid_json_is_invalid_request(value: str) -> None:
    _invalid(value)


def test_oidc_core_5_5_deeply_nested_json_is_invalid_request_not_a_crash() -> None:
    _invalid('{"userinfo": {"email": ' + "[" * 5000 + "]" * 5000 + "}}")


def test_oidc_core_5_5_claims_parameter_size_limit() -> None:
    """A bounded parameter: at the limit it parses, one character more is invalid_request."""
    body = '{"userinfo": {"email": null}}'
    at_limit = body + " " * (MAX_CLAIMS_REQUEST - len(body))
    assert len(at_limit) == MAX_CLAIMS_REQUEST
    assert parse_claims_request(at_limit) == {"userinfo": {"email": None}}
    assert "too large" in (_invalid(at_limit + " ").description or "")


# -- §5.5 claims request, property -----------------------------------------------------------

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=8), children, max_size=3),
    ),
    max_leaves=12,
)
_CLAIM_SPECS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "essential": st.booleans(),
            "value": _JSON_SCALARS,
            "values": st.lists(_JSON_SCALARS, max_size=3),
        },
    ),
    _JSON,
)
_MEMBERS = st.dictionaries(
    st.one_of(st.sampled_from(sorted(SPEC_CLAIMS | {"acr", "auth_time"})), st.text(max_size=8)),
    _CLAIM_SPECS,
    max_size=5,
)
_CLAIMS_LIKE = st.one_of(
    _JSON,
    st.dictionaries(
        st.sampled_from(["userinfo", "id_token", "other"]),
        st.one_of(_MEMBERS, _JSON),
        max_size=3,
    ),
)


def _expected(value: str) -> dict[str, Any] | None:
    """An independent oracle for §5.5 parsing of valid JSON: the result, or None for an error."""
    if len(value) > MAX_CLAIMS_REQUEST:
        return None
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        return None
    result: dict[str, Any] = {}
    for target in ("userinfo", "id_token"):
        members = parsed.get(target)
        if members is None:
            continue
        if not isinstance(members, dict):
            return None
        if any(spec is not None and not isinstance(spec, dict) for spec in members.values()):
            return None
        # acr stays in the ID token member for its requirement (§5.5.1.1).
        known = SPEC_CLAIMS | ({"acr"} if target == "id_token" else set())
        result[target] = {k: v for k, v in members.items() if k in known}
    return result


@given(_CLAIMS_LIKE)
@example({"userinfo": {"email": None}, "id_token": {"name": {"essential": True}}})
@example({"userinfo": {"email": 0}})
@example([{"userinfo": {}}])
def test_oidc_core_5_5_any_json_value_parses_or_is_invalid_request(value: Any) -> None:
    """Any JSON value: the §5.5 result (only known claims, null or object specs) or
    invalid_request; never another exception."""
    text = json.dumps(value)
    expected = _expected(text)
    try:
        result = parse_claims_request(text)
    except OAuthError as exc:
        assert exc.error == "invalid_request"
        assert expected is None
        return
    assert result == expected
    assert result is not None
    assert set(result) <= {"userinfo", "id_token"}
    for target, members in result.items():
        assert set(members) <= SPEC_CLAIMS | ({"acr"} if target == "id_token" else set())
        assert all(spec is None or isinstance(spec, dict) for spec in members.values())


@given(st.text(max_size=200))
@example("\ud800")
@example('{"userinfo": {"email": null}}')
@example("9" * 400)
def test_oidc_core_5_5_any_string_parses_or_is_invalid_request(value: str) -> None:
    try:
        result = parse_claims_request(value)
    except OAuthError as exc:
        assert exc.error == "invalid_request"
    else:
        assert isinstance(result, dict)
        assert set(result) <= {"userinfo", "id_token"}
