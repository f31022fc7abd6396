"""Held-back writes become CTEs of the statement they travel with.

``with_writes`` renumbers each write's ``$n`` placeholders after the statement's own and
after the writes before it, so every value still binds to the placeholder it was meant for.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ostiary.storage.repos._held_back import with_writes

PLACEHOLDER = re.compile(r"\$(\d+)")


def statement(table: str, count: int) -> str:
    columns = ", ".join(f"c{i}" for i in range(count))
    values = ", ".join(f"${i + 1}" for i in range(count))
    return f"INSERT INTO {table} ({columns}) VALUES ({values})"


@given(
    own=st.integers(min_value=0, max_value=20),
    writes=st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=5),
    with_clause=st.booleans(),
)
def test_every_value_binds_to_its_own_placeholder(
    own: int, writes: list[int], with_clause: bool
) -> None:
    params = " AND ".join(f"x{i} = ${i + 1}" for i in range(own)) or "TRUE"
    main = f"SELECT count(*) FROM t WHERE {params}"
    if with_clause:
        main = f"WITH gone AS (DELETE FROM u WHERE {params} RETURNING 1) SELECT 1 FROM gone"
    main_args = tuple(("main", i) for i in range(own))
    pending = [
        (statement(f"t{w}", count), tuple((f"t{w}", i) for i in range(count)))
        for w, count in enumerate(writes)
    ]

    sql, values = with_writes(main, main_args, pending)

    assert len(values) == own + sum(writes)
    assert sql.startswith("WITH w0 AS (INSERT INTO t0 ")
    assert sql.count("WITH") == 1 and ("gone AS (DELETE" in sql) == with_clause
    for w, count in enumerate(writes):
        cte = re.search(rf"w{w} AS \((INSERT INTO t{w} .*?VALUES \(.*?\))\)", sql)
        assert cte is not None
        bound = [values[int(n) - 1] for n in PLACEHOLDER.findall(cte.group(1))]
        assert bound == [(f"t{w}", i) for i in range(count)]
    # The statement itself comes last, as written: its placeholders bind to its own values.
    assert sql.endswith(main[len("WITH ") :] if with_clause else f" {main}")
    assert values[:own] == list(main_args)
