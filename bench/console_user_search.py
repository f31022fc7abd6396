"""The console's user search on a million users: seed them into a PostgreSQL database of
this run's own, then time the search function itself, in-process (no HTTP).

    .venv/bin/python bench/console_user_search.py                 # 1,000,000 users
    .venv/bin/python bench/console_user_search.py --users 100000 --queries 300

Users are seeded with ``storage.bulk_load`` (COPY): ``users`` and their ``scim_users`` rows.
Every user has profile names (name, given_name, family_name in ``users.profile``, as the
admin API, the console, the CLI and federation write them); every other one also has SCIM
names (display, given, family), as a SCIM-provisioned account does. So a name search
reads both kinds of range, and half of what it finds is only in the profile. Each query
is a prefix of 1 to 5 characters of a real value, so some match a handful of users and
some tens of thousands: every kind must answer from an index either way. Prints p50/p95/max
per kind, for the first page and for the page after it, and the plan of one query of each
kind (for names, of a SCIM range and of a profile range). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.storage import migrate
from ostiary.storage.bulk_load import bulk_insert
from ostiary.storage.engine import create_engine
from ostiary.storage.queries.user_search import SearchBy, name_ranges, search

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = 50
GIVEN = [
    "ada", "alan", "amara", "anna", "ben", "carla", "chen", "dara", "emil", "eva", "farid",
    "grace", "hana", "ivan", "jonas", "kofi", "lea", "li", "maria", "mateo", "nadia", "noor",
    "omar", "paula", "quinn", "rafael", "sara", "sven", "tariq", "uma", "vera", "wei", "yuki",
    "zoe",
]  # fmt: skip
FAMILY = [
    "abbott", "baker", "cohen", "diaz", "eriksen", "fischer", "garcia", "hopper", "ito",
    "jensen", "kim", "lovelace", "moreau", "nakamura", "okafor", "patel", "quispe", "rossi",
    "silva", "turing", "ueda", "varga", "weber", "xu", "yilmaz", "zhang",
]  # fmt: skip
DOMAINS = ["example.com", "corp.example", "mail.example.org", "uni.example.edu"]


def person(i: int, rng: random.Random) -> dict[str, str]:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    username = f"{given}.{family}{i}"
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "username": username,
        "email": f"{given[0]}{family}{i}@{rng.choice(DOMAINS)}",
        "given": given.capitalize(),
        "family": family.capitalize(),
    }


def user_rows(people: list[dict[str, str]], now: int) -> Iterator[dict[str, Any]]:
    for p in people:
        yield {
            "id": p["id"],
            "username": p["username"],
            "email": p["email"],
            "password_hash": None,
            "disabled": False,
            "email_verified": True,
            "phone_number": None,
            "phone_number_verified": False,
            "profile": {
                "name": f"{p['given']} {p['family']}",
                "given_name": p["given"],
                "family_name": p["family"],
            },
            "created_at": now,
            "updated_at": now,
        }


def scim_rows(people: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    for i, p in enumerate(people):
        provisioned = i % 2 == 0  # the others were made elsewhere: no SCIM names
        yield {
            "user_id": p["id"],
            "user_name_ci": identifiers.username_key(p["username"]),
            "external_id": None,
            "display_name_ci": f"{p['given']} {p['family']}".lower() if provisioned else None,
            "given_name_ci": p["given"].lower() if provisioned else None,
            "family_name_ci": p["family"].lower() if provisioned else None,
            "resource": {"emails": [{"value": p["email"], "primary": True}]},
            "version": 1,
        }


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed(engine: AsyncEngine, n: int, rng: random.Random) -> list[dict[str, str]]:
    await migrate.upgrade(engine)
    people = [person(i, rng) for i in range(n)]
    started = time.perf_counter()
    now = clock.now()
    await bulk_insert(engine, "users", user_rows(people, now))
    await bulk_insert(engine, "scim_users", scim_rows(people))
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE users"))
        await conn.execute(text("ANALYZE scim_users"))
    print(f"seeded {n} users in {time.perf_counter() - started:.0f} s", flush=True)
    return people


def prefixes(
    people: list[dict[str, str]], by: SearchBy, count: int, rng: random.Random
) -> list[str]:
    field = {SearchBy.USERNAME: "username", SearchBy.EMAIL: "email"}.get(by)
    chosen = []
    for _ in range(count):
        p = rng.choice(people)
        value = p[field] if field else rng.choice([p["given"], p["family"]])
        chosen.append(value[: rng.randint(1, 5)])
    return chosen


async def measure(
    engine: AsyncEngine, by: SearchBy, queries: list[str]
) -> tuple[list[float], list[float]]:
    first, second = [], []
    for q in queries:
        started = time.perf_counter()
        found = await search(engine, q, by, after=None, limit=PAGE)
        first.append(time.perf_counter() - started)
        if found.next_after is not None:
            started = time.perf_counter()
            await search(engine, q, by, after=found.next_after, limit=PAGE)
            second.append(time.perf_counter() - started)
    return first, second


def summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50={statistics.median(ordered) * 1000:6.2f} ms  p95={p95 * 1000:6.2f} ms  "
        f"max={ordered[-1] * 1000:6.2f} ms  (n={len(ordered)})"
    )


async def plan(engine: AsyncEngine, by: SearchBy, q: str) -> list[str]:
    """EXPLAIN of the statements the first page of ``q`` runs (the name kind: its first
    SCIM range and its first profile range, as ``user_search.name_ranges`` builds them)."""
    statements = {
        SearchBy.USERNAME: [
            "SELECT u.id FROM users u JOIN scim_users s ON s.user_id = u.id "
            "WHERE s.user_name_ci >= :q AND s.user_name_ci < :hi ORDER BY s.user_name_ci LIMIT 51"
        ],
        SearchBy.EMAIL: [
            "SELECT u.id FROM users u WHERE u.email IS NOT NULL AND lower(u.email) >= :q "
            "AND lower(u.email) < :hi ORDER BY lower(u.email) LIMIT 51"
        ],
    }
    async with engine.connect() as conn:
        if by is SearchBy.NAME:
            # Literal parameters: the plan PostgreSQL makes for the first executions.
            literal = {"literal_binds": True}
            ranges = [str(r.compile(conn.engine, compile_kwargs=literal)) for r in name_ranges(q)]
            runs = [(conn.exec_driver_sql, ranges[0]), (conn.exec_driver_sql, ranges[3])]
            found = [await run("EXPLAIN " + sql) for run, sql in runs]
        else:
            found = [
                await conn.execute(text("EXPLAIN " + sql), {"q": q, "hi": q + "\U0010ffff"})
                for sql in statements[by]
            ]
        return ["\n".join("    " + r[0] for r in rows) for rows in found]


async def run(args: argparse.Namespace) -> None:
    name = f"ostiary_bench_search_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        rng = random.Random(args.seed)
        people = await seed(engine, args.users, rng)
        # Warm the indexes once, as a running server's would be.
        for by in SearchBy:
            await measure(engine, by, prefixes(people, by, 20, rng))
        print(f"users={args.users} queries per kind={args.queries} page={PAGE}")
        for by in SearchBy:
            first, second = await measure(engine, by, prefixes(people, by, args.queries, rng))
            print(f"{by.value:9s} first page  {summary(first)}")
            print(f"{by.value:9s} next page   {summary(second)}")
        for by, q in ((SearchBy.USERNAME, "ad"), (SearchBy.EMAIL, "ah"), (SearchBy.NAME, "h")):
            for shown in await plan(engine, by, q):
                print(f"plan ({by.value}, {q!r}):\n{shown}")
    finally:
        await engine.dispose()
        if not args.keep:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
