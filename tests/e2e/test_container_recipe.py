"""The Dockerfile, tested without a container daemon (none runs on the test machines).

The builder stage's steps (its ARG, ENV, WORKDIR, COPY and RUN lines, read from the
Dockerfile) run in a clean directory standing for the image's filesystem, so the same pip
command installs the same extras into a fresh virtual environment. The final stage's
environment, working directory, volume, entry point and command are then used as the
container would use them. Its RUN lines (the system user) are the one part not run here.
Also: compose.yaml's command is one the image accepts, and .dockerignore lets in what the
build copies.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from ostiary.cli.main import parser as cli_parser
from tests.conftest import SECRET_KEY, free_port
from tests.databases import fresh_database
from tests.e2e.dockerfile_steps import Build, Stage, dockerignore, parse, words
from tests.e2e.packaging_fixtures import ROOT, Venv, requirement_names
from tests.e2e.processes import clean_env

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


@dataclass(frozen=True)
class Image:
    """The built filesystem (under ``root``) and the final stage's runtime settings."""

    root: Path
    venv: Venv
    env: dict[str, str]
    workdir: Path
    volume: Path
    tmp: Path
    entrypoint: list[str]
    cmd: list[str]
    user: str

    def command(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """``docker run IMAGE ARGS`` with ``-e`` settings ``env`` (the entry point's
        program is found on the image's PATH)."""
        program = next(
            Path(d) / self.entrypoint[0]
            for d in self.env["PATH"].split(os.pathsep)
            if (Path(d) / self.entrypoint[0]).exists()
        )
        return subprocess.Popen(
            [str(program), *self.entrypoint[1:], *args],
            env={**self.env, **env},
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cmd_on(self, port: int) -> list[str]:
        """The image's command with ``--port`` set to ``port`` (``-p port:8080``)."""
        cmd = list(self.cmd)
        cmd[cmd.index("--port") + 1] = str(port)
        return cmd

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        proc = self.command(*args, **env)
        stdout, stderr = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def stages() -> tuple[Stage, Stage]:
    found = parse(DOCKERFILE.read_text())
    assert len(found) == 2, [s.name for s in found]
    return found[0], found[1]


def installed_extras(builder: Stage) -> set[str]:
    """The extras named by the builder's pip install line."""
    runs = " ".join(builder.all("RUN"))
    match = re.search(r"pip\"? install [^\n]*\.\[([\w,]+)\]", runs)
    assert match, runs
    return set(match[1].split(","))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    builder, final = stages()
    # The base image's environment: a Python on PATH, as python:3.x-slim has (any >= 3.11).
    base = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    Build(root, ROOT, builder, base).run()
    runtime = Build(root, ROOT, final, {**base, "TMPDIR": str(root / "tmp")})
    runtime.run(steps=("ARG", "ENV", "WORKDIR", "COPY"))
    (volume,) = [runtime.host(p) for a in final.all("VOLUME") for p in words(a)]
    volume.mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir()
    (user,) = final.all("USER")
    return Image(
        root=root,
        venv=Venv(Path(runtime.variables["VENV"])),
        env=runtime.env,
        workdir=runtime.workdir,
        volume=volume,
        tmp=root / "tmp",
        entrypoint=words(final.all("ENTRYPOINT")[0]),
        cmd=words(final.all("CMD")[0]),
        user=user,
    )


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but those under ``skip``: its size and modification time."""
    files = {}
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            stat = (here / name).lstat()
            files[str((here / name).relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return files


def wait_ready(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_the_image_has_the_server_extras_and_runs_as_a_user_of_its_own(image: Image) -> None:
    builder, _ = stages()
    extras = installed_extras(builder)
    assert {"server", "postgres"} <= extras
    wanted = set().union(*(requirement_names(extra) for extra in extras))
    installed = image.venv.distributions()
    assert wanted <= installed, wanted - installed
    assert "pytest" not in installed
    assert image.user.split(":")[0] not in ("root", "0")
    assert image.workdir == image.volume
    assert image.env["HOME"] == str(image.volume)
    version = image.run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "ostiary 0.1.0"


def test_the_image_command_refuses_an_http_issuer(image: Image) -> None:
    """Served on 0.0.0.0, the default (loopback http) issuer is refused in one line."""
    refused = image.run(*image.cmd_on(free_port()), OSTIARY_SECRET_KEY=SECRET_KEY)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: refusing to serve the http issuer"), refused.stderr
    assert refused.stderr.count("\n") == 1


def test_the_image_serves_an_https_issuer_writing_only_to_its_volume_and_tmp(
    image: Image,
) -> None:
    """What ``docker run --read-only --tmpfs /tmp -v DATA:/var/lib/ostiary`` allows: the
    command migrates SQLite in the volume and serves, and no other file changes."""
    before = snapshot(image.root, skip=(image.volume, image.tmp))
    migrated = image.run("db", "upgrade", OSTIARY_SECRET_KEY=SECRET_KEY)
    assert migrated.returncode == 0, migrated.stderr
    assert (image.volume / "ostiary.db").is_file()

    port = free_port()
    server = image.command(
        *image.cmd_on(port), OSTIARY_ISSUER="https://id.example.test", OSTIARY_SECRET_KEY=SECRET_KEY
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/health/ready", server)
        assert ready.status_code == 200, ready.text
        discovery = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == "https://id.example.test"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert snapshot(image.root, skip=(image.volume, image.tmp)) == before


@pytest.fixture
def empty_postgres(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path, migrated=False) as url:
        yield url


def test_the_image_migrates_postgresql(image: Image, empty_postgres: str) -> None:
    first = image.run(
        "db", "upgrade", OSTIARY_DATABASE_URL=empty_postgres, OSTIARY_SECRET_KEY=SECRET_KEY
    )
    assert first.returncode == 0, first.stderr
    again = image.run(
        "db", "upgrade", OSTIARY_DATABASE_URL=empty_postgres, OSTIARY_SECRET_KEY=SECRET_KEY
    )
    assert again.returncode == 0, again.stderr
    assert "latest" in again.stderr


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    builder, _ = stages()
    allowed = {line[1:].rstrip("/") for line in dockerignore(ROOT) if line.startswith("!")}
    assert dockerignore(ROOT)[0] == "*"  # everything else stays out of the context
    copied = {w.rstrip("/") for a in builder.all("COPY") for w in words(a)[:-1]}
    assert copied <= allowed, copied - allowed


def test_compose_runs_the_image_command_after_a_healthy_postgres() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    ostiary, postgres = services["ostiary"], services["postgres"]
    assert ostiary["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in postgres and postgres["volumes"]
    assert ostiary["read_only"] is True
    # The command is one the image's entry point (ostiary) accepts.
    args = cli_parser().parse_args(ostiary["command"])
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    assert args.ssl_certfile is not None and args.ssl_keyfile is not None
    assert ostiary["environment"]["OSTIARY_DATABASE_URL"].startswith("postgresql+asyncpg://")
