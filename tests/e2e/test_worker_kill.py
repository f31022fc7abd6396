"""``ostiary serve --workers 2`` with one worker killed (SIGKILL) under refresh-token load.

A worker can die at any instruction (the OOM killer, a crashed host process): whatever it
was doing in the database is either committed or rolled back, never half done. After the
kill no refresh token family has two live tokens (RFC 9700 §4.14.2: rotation is one
atomic claim-and-replace), every family whose last answer its client received still has
exactly its one live token, which works, and the surviving worker, and the one uvicorn
starts in place of the dead one, keep serving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

from ostiary.storage.engine import create_engine
from tests.e2e.conftest import WORKERS
from tests.e2e.processes import ServerProcess
from tests.e2e.processes import cli_json as cli
from tests.e2e.test_workers import (
    _children,
    _socket_inodes,
    close_all,
    connection_per_worker,
)

# Families rotated at once, and the seeded families in all: a family revoked by a replay
# (below) is replaced by a spare one, so the load goes on even if the kill interrupted
# every family at the moment its rotation had committed.
CONCURRENT = 8
FAMILIES = 3 * CONCURRENT


@dataclass
class Load:
    tokens: list[str]
    auth: tuple[str, str]
    # Families whose rotation got no answer (its worker died) and whose replay of the
    # same token was then refused: the rotation had happened, so the replay was a reuse
    # and revoked the family (RFC 9700 §4.14.2), as it should.
    revoked: set[int] = field(default_factory=set)
    spare: list[int] = field(default_factory=list)
    interrupted: int = 0
    rotations: int = 0
    unexpected: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    async def run(self, base_url: str) -> None:
        async def rotate(http: httpx.AsyncClient, i: int) -> httpx.Response:
            return await http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": self.tokens[i]},
                auth=self.auth,
            )

        async def family(i: int) -> None:
            http = httpx.AsyncClient(base_url=base_url, timeout=30)
            try:
                while not self.stop.is_set():
                    try:
                        response = await rotate(http, i)
                    except httpx.TransportError:
                        # As a client would: the same token again, on a new connection.
                        self.interrupted += 1
                        await http.aclose()
                        http = httpx.AsyncClient(base_url=base_url, timeout=30)
                        response = await rotate(http, i)
                        if response.status_code == 400 and "invalid_grant" in response.text:
                            self.revoked.add(i)
                            if not self.spare:
                                return
                            i = self.spare.pop()  # as a user signing in again would
                            continue
                    if response.status_code != 200:
                        self.unexpected.append(
                            f"family {i}: {response.status_code} {response.text}"
                        )
                        return
                    self.tokens[i] = response.json()["refresh_token"]
                    self.rotations += 1
            finally:
                await http.aclose()

        # A connection per family: the kill breaks the connections its worker held.
        self.spare = list(range(CONCURRENT, len(self.tokens)))
        await asyncio.gather(*(family(i) for i in range(CONCURRENT)))


async def live_tokens_per_family(database_url: str, client_id: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT family_id, SUM(CASE WHEN used_at IS NULL AND revoked_at IS NULL"
                    " THEN 1 ELSE 0 END) FROM refresh_tokens WHERE client_id = :client"
                    " GROUP BY family_id"
                ),
                {"client": client_id},
            )
            return {str(family): int(live) for family, live in rows}
    finally:
        await engine.dispose()


def workers_of(server: ServerProcess) -> list[int]:
    """uvicorn's worker processes: the children holding sockets (the listening one at
    least); multiprocessing's helper process holds none."""
    return [w for w in _children(server.proc.pid) if _socket_inodes(w)]


def busiest_worker(server: ServerProcess) -> int:
    """The worker holding the most connections: the kill interrupts requests there."""
    return max(workers_of(server), key=lambda w: len(_socket_inodes(w)))


def wait_for_workers(server: ServerProcess, gone: int, timeout: float = 15) -> list[int]:
    """The worker pids once ``WORKERS`` are running again without ``gone``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [w for w in workers_of(server) if w != gone]
        if len(workers) >= WORKERS:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"uvicorn did not replace worker {gone}: {_children(server.proc.pid)}")


def reach_every_worker(server: ServerProcess, timeout: float = 30) -> dict[int, httpx.Client]:
    """A connection to each worker, once the replacement has finished starting up (it
    accepts connections only then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connection_per_worker(server)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_sigkill_of_a_worker_under_refresh_load(
    cluster: tuple[ServerProcess, dict[str, str]], database_url: str, tmp_path: Path
) -> None:
    server, env = cluster
    tokens_file = tmp_path / "tokens.txt"
    seeded = cli(
        env, "dev", "seed", "--users", "1", "--clients", "1",
        "--refresh-tokens", str(FAMILIES), "--tokens-out", str(tokens_file),
    )  # fmt: skip
    client_id = f"{seeded['prefix']}-client-0"
    load = Load(tokens_file.read_text().split(), (client_id, str(seeded["client_secret"])))
    assert len(load.tokens) == FAMILIES
    # Both workers accept connections before the load starts, so its connections spread
    # over them and the kill leaves some running.
    close_all(reach_every_worker(server))
    runner = threading.Thread(target=lambda: asyncio.run(load.run(server.base_url)), daemon=True)
    runner.start()
    try:
        time.sleep(1.0)
        assert load.rotations > 0 and not load.unexpected, load.unexpected
        victim = busiest_worker(server)
        os.kill(victim, signal.SIGKILL)
        at_kill = load.rotations
        wait_for_workers(server, victim)
        # Load on the survivor and the replacement (which starts up meanwhile: seconds
        # on a busy machine).
        deadline = time.monotonic() + 20
        while load.rotations < at_kill + 4 * CONCURRENT and time.monotonic() < deadline:
            time.sleep(0.1)
        assert load.rotations > at_kill, f"the surviving worker stopped serving:\n{server.stderr}"
    finally:
        load.stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()
    assert not load.unexpected, load.unexpected

    assert load.interrupted > 0, "the kill interrupted no request"
    live = asyncio.run(live_tokens_per_family(database_url, client_id))
    assert len(live) == FAMILIES
    # Never two live tokens in a family, whatever the kill interrupted; one in each family
    # not revoked by a replay.
    assert all(count <= 1 for count in live.values()), live
    assert sum(live.values()) == FAMILIES - len(load.revoked), (live, load.revoked)
    # Each live family's newest token works, on every worker, the replacement included.
    held = [i for i in range(FAMILIES) if i not in load.revoked]
    assert held, "every family was revoked"
    connections = reach_every_worker(server)
    try:
        # Every worker now running, the replacement included (uvicorn may have replaced
        # it again if a health check timed out on a busy machine: any replacement counts).
        assert victim not in connections and len(connections) == WORKERS
        pids = list(connections)
        for n, i in enumerate(held):
            http = connections[pids[n % len(pids)]]
            response = http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": load.tokens[i]},
                auth=load.auth,
            )
            assert response.status_code == 200, (i, response.text)
    finally:
        close_all(connections)
