"""Where the token endpoint's time goes: py-spy over a pinned Ostiary under wrk load.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/profile_token.py
        [--workload client_credentials|refresh_rotation|introspect_jwt|introspect_refresh|
                    password_login]
        [--seconds 10] [--backend postgresql|sqlite] [--raw-out FILE]

Seeds a fresh database, starts ``ostiary serve`` under ``py-spy record`` pinned to core 0,
drives it with wrk on core 1, and prints the share of the request-handling samples spent
in each part of the stack (start-up samples are left out).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
import login_load
import peer_compare
import servers
import wrk_runner

FRAME = re.compile(r"(?P<name>.*) \((?P<file>.*?):\d+\)")
# Parts of the stack worth naming, in the order they are matched (innermost wins).
PARTS = [
    ("Argon2id (password hash, worker thread)", ("argon2",)),
    ("page templates (jinja2)", ("jinja2",)),
    (
        "ECDSA / RSA signature (cryptography)",
        ("compact.py:_es256", "compact.py:_rs256", "compact.py:_ps256", "jws_algs.py"),
    ),
    ("JWS encoding (orjson, base64)", ("compact.py", "joserfc")),
    ("SQLAlchemy + asyncpg / aiosqlite", ("sqlalchemy", "asyncpg", "aiosqlite")),
    ("client cache and authentication", ("client_auth", "cache/")),
    ("grant logic and token service", ("oauth/grants", "tokens/", "accounts/")),
    ("audit queue", ("events.py",)),
    ("endpoint logic not named above (web/token_routes.py and below)", ("web/token_routes",)),
    ("Starlette request/response", ("starlette",)),
    ("uvicorn HTTP protocol", ("uvicorn",)),
]


def parse(raw: Path) -> collections.Counter[str]:
    shares: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        names = [f"{m['file']}:{m['name']}" if (m := FRAME.match(f)) else f for f in frames]
        # Request handling, or a password hash in the thread pool (login workload).
        if not any("protocols/http" in n or "argon2" in n for n in names):
            continue
        part = "other (event loop, Python runtime)"
        for frame in reversed(names):
            found = next((p for p, keys in PARTS if any(k in frame for k in keys)), None)
            if found:
                part = found
                break
        shares[part] += int(count)
    return shares


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", default="client_credentials")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--raw-out", type=Path, help="keep py-spy's raw stacks here")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not pyspy:
        raise SystemExit('py-spy is missing: .venv/bin/pip install -e ".[bench]"')
    with (
        tempfile.TemporaryDirectory(prefix="ostiary-profile-") as tmp,
        peer_compare.scratch_database(args.backend, Path(tmp), "profile") as url,
    ):
        bench = peer_compare.Bench(peer_compare.parse_args(["--quick"]), Path(tmp))
        port = servers.free_port()
        pool = int(4000 * args.seconds) if args.workload == "refresh_rotation" else 1
        seeded = asyncio.run(bench.prepare(url, port, pool))
        tokens = Path(tmp) / "tokens.txt"
        tokens.write_text("\n".join(seeded.refresh_tokens))
        raw = Path(tmp) / "profile.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
        env.update(
            OSTIARY_DATABASE_URL=url,
            OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
            OSTIARY_SECRET_KEY=bench.secret_key,
        )
        argv = [pyspy, "record", "-r", "250", "-f", "raw", "-o", str(raw), "--"]
        argv += [str(servers.OSTIARY), "serve", "--port", str(port)]
        server = servers.Process("ostiary under py-spy", argv, env, Path(tmp) / "server.log")
        server.wait_ready(f"http://127.0.0.1:{port}/health")
        auth = peer_compare.basic(seeded.client_ids[0], seeded.client_secret)
        body = "grant_type=client_credentials&scope=read"
        path = "/token"
        if args.workload == "introspect_jwt":
            jwt = httpx.post(
                f"http://127.0.0.1:{port}/token",
                content=body,
                headers={
                    "authorization": auth,
                    "content-type": "application/x-www-form-urlencoded",
                },
            ).json()["access_token"]
            body, path = f"token={jwt}", "/introspect"
        elif args.workload == "introspect_refresh":
            body, path = f"token={seeded.refresh_tokens[-1]}", "/introspect"
        script = "refresh" if args.workload == "refresh_rotation" else "post"
        result: wrk_runner.Result | login_load.LoginResult
        if args.workload == "password_login":
            login = peer_compare.login_of(seeded)
            base = f"http://127.0.0.1:{port}"
            result = login_load.run_logins(base, 4, args.seconds, login)
        else:
            result = wrk_runner.run(
                workload=args.workload,
                server="ostiary",
                url=f"http://127.0.0.1:{port}{path}",
                script=script,
                connections=32,
                seconds=args.seconds,
                env={"BENCH_AUTH": auth, "BENCH_BODY": body, "BENCH_TOKENS": str(tokens)},
            )
        server.proc.send_signal(2)
        server.proc.wait(timeout=60)
        server.stop()
        shares = parse(raw)
        if args.raw_out:
            shutil.copyfile(raw, args.raw_out)
    total = sum(shares.values()) or 1
    rate = f"{result.rps:.0f}/s under py-spy"
    print(f"{args.workload} on {args.backend}: {rate}, errors {result.errors}")
    for part, count in shares.most_common():
        print(f"  {100 * count / total:5.1f}%  {part}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
