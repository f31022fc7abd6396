"""``ostiary serve --workers 2``: no per-process state that breaks correctness.

Each check pins HTTP connections to a known worker process (the kernel's socket table says
which process holds the server end of each connection), so "every worker" means exactly
that: a client deleted through the CLI is refused by each worker at once, although each had
just cached it; a refresh token's reuse is detected whichever worker sees the copy; a
revoked access token is inactive on each worker.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ostiary.cli.dev import REDIRECT_URI as SEEDED_REDIRECT_URI
from tests.e2e.conftest import WORKERS
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    csrf_of,
    login_page,
    pkce_pair,
    query_of,
    redeem_code,
)
from tests.e2e.processes import ServerProcess
from tests.e2e.processes import cli_json as cli


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:  # a worker uvicorn replaced meanwhile
        return inodes
    for fd in fds:
        try:
            target = fd.readlink()
        except OSError:
            continue
        if str(target).startswith("socket:["):
            inodes.add(str(target)[8:-1])
    return inodes


def _server_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server end of the loopback connection from ``client_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == server_port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return inode
    return None


def connection_per_worker(server: ServerProcess) -> dict[int, httpx.Client]:
    """One open keep-alive connection to each worker process, keyed by the worker's pid."""
    assert len(_children(server.proc.pid)) >= WORKERS, "expected a process per worker"
    port = int(server.base_url.rsplit(":", 1)[1])
    found: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    try:
        for _ in range(200):
            http = httpx.Client(base_url=server.base_url, timeout=10)
            spare.append(http)  # kept open, so the next connection may land elsewhere
            response = http.get("/health")
            assert response.status_code == 200
            client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
            inode = _server_inode(port, client_port)
            workers = _children(server.proc.pid)
            owner = next((w for w in workers if inode in _socket_inodes(w)), None)
            if owner is not None and owner not in found:
                found[owner] = spare.pop()
                if len(found) == WORKERS:
                    break
    finally:
        for http in spare:
            http.close()
    if len(found) < WORKERS:
        close_all(found)
        raise AssertionError("could not reach every worker")
    return found


def close_all(connections: dict[int, httpx.Client]) -> None:
    for http in connections.values():
        http.close()


def client_credentials(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_deleted_client_is_refused_by_every_worker_at_once(cluster) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §2.3 / §5.2 invalid_client: a deleted client is gone on every node."""
    server, env = cluster
    created = cli(
        env, "client", "create", "--name", "workers", "--grant-type", "client_credentials"
    )
    client_id, secret = str(created["client_id"]), str(created["client_secret"])
    connections = connection_per_worker(server)
    try:
        for http in connections.values():
            assert client_credentials(http, client_id, secret).status_code == 200
        # Time for each worker's invalidation channel to come up; from then on the answers
        # come from the workers' client caches.
        time.sleep(1.5)
        for http in connections.values():
            for _ in range(2):
                assert client_credentials(http, client_id, secret).status_code == 200
    finally:
        close_all(connections)

    cli(env, "client", "delete", client_id)

    connections = connection_per_worker(server)
    try:
        for pid, http in connections.items():
            response = client_credentials(http, client_id, secret)
            assert response.status_code == 401, (pid, response.text)
            assert response.json()["error"] == "invalid_client"
    finally:
        close_all(connections)


def test_refresh_token_reuse_is_detected_across_workers(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §4.14.2: a rotated-out refresh token replayed on another worker revokes
    the family, and every worker then refuses the newest token of that family."""
    server, env = cluster
    tokens_file = tmp_path / "tokens.txt"
    seeded = cli(
        env, "dev", "seed", "--users", "1", "--clients", "1", "--refresh-tokens", "1",
        "--tokens-out", str(tokens_file),
    )  # fmt: skip
    client_id = f"{seeded['prefix']}-client-0"
    auth = (client_id, str(seeded["client_secret"]))
    first = tokens_file.read_text().strip()
    connections = connection_per_worker(server)
    try:
        (a, http_a), (b, http_b) = list(connections.items())[:2]
        rotated = http_a.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": first}, auth=auth
        )
        assert rotated.status_code == 200, rotated.text
        newest = rotated.json()["refresh_token"]
        # The rotated-out token comes back on the other worker.
        replay = http_b.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": first}, auth=auth
        )
        assert replay.status_code == 400, (b, replay.text)
        assert replay.json()["error"] == "invalid_grant"
        for pid, http in connections.items():
            response = http.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": newest}, auth=auth
            )
            assert response.status_code == 400, (pid, a, response.text)
            assert response.json()["error"] == "invalid_grant"
    finally:
        close_all(connections)


def test_revoked_access_token_is_inactive_on_every_worker(cluster) -> None:  # type: ignore[no-untyped-def]
    """RFC 7009 §2 revocation on one worker, RFC 7662 §2.2 active=false on all of them."""
    server, env = cluster
    created = cli(
        env, "client", "create", "--name", "revoker", "--grant-type", "client_credentials"
    )
    auth = (str(created["client_id"]), str(created["client_secret"]))
    connections = connection_per_worker(server)
    try:
        https = list(connections.values())
        token = client_credentials(https[0], *auth).json()["access_token"]
        for http in https:
            active = http.post("/introspect", data={"token": token}, auth=auth).json()
            assert active["active"] is True
        assert https[0].post("/revoke", data={"token": token}, auth=auth).status_code == 200
        for pid, http in connections.items():
            answer = http.post("/introspect", data={"token": token}, auth=auth).json()
            assert answer == {"active": False}, (pid, answer)
    finally:
        close_all(connections)


def test_code_remembered_by_one_worker_is_single_use_on_every_worker(cluster) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2 / §10.5: the worker that ends a login remembers the code it issued;
    redeemed on another worker, it is still used once only: the replay on the
    issuing worker, which still remembers it, is refused and revokes what the first
    redemption issued, on every worker."""
    server, env = cluster
    seeded = cli(env, "dev", "seed", "--users", "1", "--clients", "1", "--refresh-tokens", "0")
    client = RegisteredClient(
        f"{seeded['prefix']}-client-0", str(seeded["client_secret"]), SEEDED_REDIRECT_URI
    )
    auth = client.basic_auth()
    username = f"{seeded['prefix']}-user-0"
    connections = connection_per_worker(server)
    try:
        (a, http_a), (b, http_b) = list(connections.items())[:2]
        verifier, challenge = pkce_pair()
        params = authorize_params(client, challenge, scope="read")
        interaction, page = login_page(http_a, params)
        form = {"csrf": csrf_of(page.text), "username": username, "password": seeded["password"]}
        signed_in = http_a.post(f"{interaction}/login", data=form)
        assert signed_in.status_code == 303, signed_in.text
        code = query_of(signed_in.headers["location"])["code"]

        redeemed = redeem_code(http_b, client, code, verifier, params)
        assert redeemed.status_code == 200, (b, redeemed.text)
        access = redeemed.json()["access_token"]
        replayed = redeem_code(http_a, client, code, verifier, params)
        assert replayed.status_code == 400, (a, replayed.text)
        assert replayed.json()["error"] == "invalid_grant"
        for pid, http in connections.items():
            answer = http.post("/introspect", data={"token": access}, auth=auth).json()
            assert answer == {"active": False}, (pid, answer)
    finally:
        close_all(connections)
