"""The state document without a database: strict reading, one-line problems, stable bytes,
and upstream client secrets sealed deterministically under the server's secret key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.portable import sealing
from ostiary.portable.document import InvalidDocument, dumps, parse
from ostiary.portable.entries import decode_hash, encode_hash
from ostiary.portable.plan import differences, duplicates

KEY = b"k" * 40
OTHER = b"o" * 40


def document(**sections: Any) -> bytes:
    return json.dumps({"format": "ostiary-state", "version": 1, **sections}).encode()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{", "not JSON"),
        (b'"\\ud800"', "not JSON"),
        (b"[]", 'no "format": "ostiary-state"'),
        (json.dumps({"format": "other", "version": 1}).encode(), "not a state document"),
        (json.dumps({"format": "ostiary-state", "version": 9}).encode(), "format version 9"),
        (document(extra=[]), "extra: Extra inputs are not permitted"),
        (
            document(clients=[{"client_id": "web", "client_name": "Web", "client_secret": "s"}]),
            "clients[0] (client_id 'web'): client_secret: secrets are never written in clear",
        ),
        (
            document(clients=[{"client_id": "web", "client_name": "Web", "scope": 3}]),
            "clients[0] (client_id 'web').scope: Input should be a valid string",
        ),
        (
            document(users=[{"username": "ann", "password": "correct horse battery"}]),
            "users[0] (username 'ann'): password: secrets are never written in clear",
        ),
        (
            document(users=[{"username": "dave smith"}]),
            "users[0] (username 'dave smith').username: username must not contain spaces",
        ),
        (document(users=[{"username": "ann", "email": "notanemail"}]), ".email: email is not"),
        (document(groups=[{"name": "eng", "id": "ENG"}]), "groups[0] (name 'eng').id: must be"),
        (
            document(roles=[{"name": "a role"}]),
            "roles[0] (name 'a role').name: role name must be 1 to 100 letters",
        ),
        (
            document(
                providers=[
                    {"name": "corp", "issuer": "https://x", "client_id": "c", "client_secret": "s"}
                ]
            ),
            "providers[0] (name 'corp'): client_secret: secrets are never written in clear",
        ),
    ],
)
def test_a_bad_document_is_refused_in_one_line(raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse(raw)
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message and "Value error," not in message


def test_a_document_holding_only_some_sections_manages_only_those() -> None:
    doc = parse(document(roles=[{"name": "dev"}]))
    assert doc.roles is not None and doc.roles[0].description == ""
    assert doc.clients is None and doc.users is None


def test_several_problems_are_counted_in_the_line() -> None:
    with pytest.raises(InvalidDocument, match=r"\(and 1 more\)$"):
        parse(document(roles=[{"name": "a b"}, {"name": "c d"}]))


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.lists(
            st.dictionaries(st.text(max_size=5), st.integers(-(2**31), 2**31), max_size=3),
            max_size=3,
        ),
        max_size=5,
    )
)
def test_dumps_is_the_same_bytes_for_the_same_state_in_any_order(state: dict[str, Any]) -> None:
    shuffled = dict(reversed(list(state.items())))
    assert dumps(state) == dumps(shuffled)
    assert dumps(state).endswith(b"\n")
    assert json.loads(dumps(state)) == state


def test_sealed_secrets_are_deterministic_bound_to_the_provider_and_the_key() -> None:
    sealed = sealing.seal(KEY, "corp", "upstream-secret")
    assert sealed == sealing.seal(KEY, "corp", "upstream-secret"), "diffs only when it changes"
    assert sealed != sealing.seal(KEY, "corp", "another-secret")
    assert "upstream" not in sealed
    assert sealing.unseal(KEY, "corp", sealed) == "upstream-secret"
    for key, provider, text in (
        (OTHER, "corp", sealed),
        (KEY, "other", sealed),
        (KEY, "corp", "x"),
    ):
        with pytest.raises(sealing.SealedSecretError):
            sealing.unseal(key, provider, text)


def test_key_id_names_the_key_without_revealing_it() -> None:
    assert sealing.key_id(KEY) == sealing.key_id(KEY)
    assert sealing.key_id(KEY) != sealing.key_id(OTHER)
    assert len(sealing.key_id(KEY)) == 16 and "k" * 8 not in sealing.key_id(KEY)


@given(st.binary(min_size=32, max_size=32))
def test_client_secret_hash_round_trips(digest: bytes) -> None:
    text = encode_hash(digest)
    assert text is not None and len(text) == 43
    assert decode_hash(text) == digest


@pytest.mark.parametrize("text", ["abc", "A" * 42 + "=", "!" * 43])
def test_a_client_secret_hash_that_is_not_a_sha256_digest_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="client_secret_hash"):
        decode_hash(text)


def test_differences_and_duplicates() -> None:
    assert differences({"a": 1, "b": [1]}, {"a": 1, "b": [2], "c": 3}, "c") == ["b"]
    assert duplicates(["a", "b", "a", "c", "b"]) == {"a", "b"}
