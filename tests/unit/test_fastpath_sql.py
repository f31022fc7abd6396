"""The hot-path SQL helpers: placeholders, JSON values, role gates."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ostiary.storage.repos._driver import json_text, json_value, sqlite_sql
from ostiary.storage.repos._gates import gates_sql, parse_gates

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ,()=*<>'", max_size=12)


@given(st.lists(st.tuples(words, st.integers(min_value=1, max_value=99)), max_size=20), words)
def test_every_numbered_placeholder_becomes_sqlites_in_place(
    parts: list[tuple[str, int]], tail: str
) -> None:
    pg = "".join(f"{text}${n}" for text, n in parts) + tail
    lite = "".join(f"{text}?{n}" for text, n in parts) + tail
    assert sqlite_sql(pg) == lite


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@given(st.lists(json_values, max_size=4) | st.dictionaries(st.text(max_size=6), json_values))
def test_json_round_trips_as_text_and_as_decoded_value(value: object) -> None:
    # SQLite hands back the text; asyncpg (SQLAlchemy's codec) the decoded value.
    assert json_value(json_text(value)) == value
    assert json_value(value) == value
    assert json.loads(json_text(None)) is None


def test_gates_group_roles_by_scope() -> None:
    raw = json.dumps([["admin", "ops"], ["admin", "root"], ["billing", "finance"]])
    assert parse_gates(raw) == {
        "admin": frozenset({"ops", "root"}),
        "billing": frozenset({"finance"}),
    }
    assert parse_gates(None) == {} and parse_gates("[]") == {}
    assert parse_gates([["read", "r"]]) == {"read": frozenset({"r"})}


def test_gates_subquery_reads_the_named_column_per_dialect() -> None:
    assert "json_array_elements_text(t.scopes)" in gates_sql("t.scopes", postgresql=True)
    assert "json_each(c.scopes)" in gates_sql("c.scopes", postgresql=False)
