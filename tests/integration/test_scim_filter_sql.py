"""Filters translated to SQL return what a reference evaluation in Python returns
(RFC 7644 §3.4.2.2), on SQLite and PostgreSQL: hypothesis draws filter trees over a
small fixed population, renders them as text, and both sides answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ostiary.scim.filters import And, Compare, Filter, Not, Or, Present, ValuePath, parse_filter
from ostiary.scim.users import CATALOGUE
from ostiary.storage.engine import create_engine
from ostiary.storage.repos.scim_users import ScimUserRecord, ScimUserRepository
from ostiary.storage.scim_filter_sql import to_sql
from ostiary.storage.tables import scim_users, users
from tests.conftest import unique

ALPHABET = "abAB@."
TEXT = st.text(ALPHABET, max_size=3)
SINGLE = {
    "userName": "user_name",
    "externalId": "external_id",
    "displayName": "display_name",
    "name.familyName": "family_name",
}
CASE_EXACT = {"externalId"}


def _population(tag: str) -> list[dict[str, Any]]:
    people = []
    for i, (a, b) in enumerate(
        [("a", "Ab"), ("B", "b@"), ("ab", None), ("A.", "aB"), ("@b", ""), ("ba", "A")]
    ):
        people.append(
            {
                "user_name": f"{a}{i}{tag}",
                "external_id": b,
                "display_name": b if i % 2 else None,
                "family_name": a.upper() if i % 3 else None,
                "active": i % 2 == 0,
                "emails": [
                    {"value": f"{a}@x{i}", "type": "work" if i % 2 else "home", "primary": i < 3},
                    *([{"value": f"{b}.B", "type": None, "primary": False}] if b else []),
                ],
            }
        )
    return people


@pytest.fixture(scope="module")
def stored(database_url: str) -> Iterator[tuple[Any, Any, list[dict[str, Any]], dict[str, str]]]:
    # One loop for the module: an asyncpg pool belongs to the loop that opened it.
    loop = asyncio.new_event_loop()
    engine = create_engine(database_url)
    people = _population(unique("p").lower())
    ids: dict[str, str] = {}

    async def load() -> None:
        repo = ScimUserRepository(engine)
        for p in people:
            record = ScimUserRecord(
                {"username": p["user_name"], "disabled": not p["active"], "profile": {}},
                {
                    "user_name_ci": p["user_name"].lower(),
                    "external_id": p["external_id"],
                    "display_name_ci": (p["display_name"] or "").lower() or None,
                    "family_name_ci": p["family_name"].lower() if p["family_name"] else None,
                    "resource": {},
                },
                [
                    {"value_ci": e["value"].lower(), "type": e["type"], "primary": e["primary"]}
                    for e in p["emails"]
                ],
            )
            ids[(await repo.add(record)).id] = p["user_name"]

    loop.run_until_complete(load())
    yield loop, engine, people, ids
    loop.run_until_complete(engine.dispose())
    loop.close()


def _render_value(value: Any) -> str:
    return json.dumps(value)


@st.composite
def leaves(draw: st.DrawFn, row: bool = False) -> str:
    if row:
        attr = draw(st.sampled_from(["value", "type", "primary"]))
    else:
        attr = draw(st.sampled_from([*SINGLE, "active", "emails.value", "emails.type", "emails"]))
    if attr in ("active", "primary"):
        op = draw(st.sampled_from(["eq", "ne", "pr"]))
        return f"{attr} pr" if op == "pr" else f"{attr} {op} {_render_value(draw(st.booleans()))}"
    op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]))
    if op == "pr":
        return f"{attr} pr"
    return f"{attr} {op} {_render_value(draw(TEXT))}"


def filters(row: bool = False) -> st.SearchStrategy[str]:
    base = leaves(row)
    if not row:
        inner = filters(row=True)
        base = st.one_of(base, inner.map(lambda f: f"emails[{f}]"))
    return st.recursive(
        base,
        lambda children: st.one_of(
            st.tuples(children, st.sampled_from(["and", "or"]), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            children.map(lambda c: f"not ({c})"),
        ),
        max_leaves=5,
    )


def _string(value: str | None, op: str, operand: str) -> bool:
    if op == "ne":
        return value is None or value != operand
    if value is None:
        return False
    return {
        "eq": value == operand,
        "co": operand in value,
        "sw": value.startswith(operand),
        "ew": value.endswith(operand),
        "gt": value > operand,
        "ge": value >= operand,
        "lt": value < operand,
        "le": value <= operand,
    }[op]


def _leaf(node: Compare | Present, value: Any, case_exact: bool) -> bool:
    if isinstance(node, Present):
        return value is not None and value != ""
    if isinstance(value, bool) or isinstance(node.value, bool):
        return (value == node.value) if node.op == "eq" else (value != node.value)
    operand = str(node.value)
    if not case_exact:
        operand = operand.lower()
        value = value.lower() if isinstance(value, str) else value
    return _string(value, node.op, operand)


def evaluate(node: Filter, person: dict[str, Any], row: dict[str, Any] | None = None) -> bool:
    if isinstance(node, And):
        return evaluate(node.left, person, row) and evaluate(node.right, person, row)
    if isinstance(node, Or):
        return evaluate(node.left, person, row) or evaluate(node.right, person, row)
    if isinstance(node, Not):
        return not evaluate(node.inner, person, row)
    if isinstance(node, ValuePath):
        return any(evaluate(node.filter, person, e) for e in person["emails"])
    if row is not None:
        return _leaf(node, row[node.path.attr], case_exact=False)
    if node.path.attr == "emails":
        sub = node.path.sub or "value"
        if isinstance(node, Present) and node.path.sub is None:
            return bool(person["emails"])
        return any(_leaf(node, e[sub], case_exact=False) for e in person["emails"])
    if node.path.attr == "active":
        return _leaf(node, person["active"], case_exact=True)
    name = next(k for k in SINGLE if k.lower() == node.path.dotted())
    return _leaf(node, person[SINGLE[name]], case_exact=name in CASE_EXACT)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=filters())
def test_rfc7644_3_4_2_2_sql_matches_reference(
    stored: tuple[Any, Any, list[dict[str, Any]], dict[str, str]], text: str
) -> None:
    loop, engine, people, ids = stored
    tree = parse_filter(text)
    condition = to_sql(tree, CATALOGUE, engine.dialect.name)

    async def query() -> set[str]:
        statement = (
            select(users.c.username)
            .join(scim_users, scim_users.c.user_id == users.c.id)
            .where(users.c.id.in_(list(ids)), condition)
        )
        async with engine.connect() as conn:
            return set((await conn.execute(statement)).scalars())

    expected = {p["user_name"] for p in people if evaluate(tree, p)}
    assert loop.run_until_complete(query()) == expected, text
