"""Fresh virtual environments with Ostiary installed from this source tree as a user would:
``pip install`` with the dependencies from the package index (through pip's cache).

Test modules take the fixtures by name: ``light_venv = packaging_fixtures.light_venv``.
Each environment is built once per test session (per xdist worker): one costs seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.e2e.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(extra: str | None = None) -> set[str]:
    """The distributions pyproject.toml names: the base dependencies, or one extra's
    (another extra of Ostiary's named inside it is followed)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names: set[str] = set()
    for line in lines:
        requirement = Requirement(line)
        if normalise(requirement.name) == "ostiary":
            for inner in requirement.extras:
                names |= requirement_names(inner)
        else:
            names.add(normalise(requirement.name))
    return names


@dataclass(frozen=True)
class Venv:
    path: Path

    def program(self, name: str) -> Path:
        return self.path / "bin" / name

    def run(
        self, name: str, *args: str, cwd: Path, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """A program of this environment, with no OSTIARY_* setting but ``env``."""
        return subprocess.run(
            [str(self.program(name)), *args],
            env=clean_env(**env),
            cwd=cwd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def distributions(self) -> set[str]:
        """The normalised names of every distribution installed here."""
        done = subprocess.run(
            [
                str(self.program("python")),
                "-c",
                "import importlib.metadata as m\n"
                "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return {normalise(name) for name in done.stdout.split()}


def pip(*args: str, cwd: Path | None = None) -> None:
    """The test run's own pip (``python -m pip``), failing with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def install(path: Path, requirement: str) -> Venv:
    """A new environment at ``path`` with ``requirement`` installed. It gets no pip of its
    own: this run's pip installs into it (``--python``), which saves bootstrapping one."""
    venv.EnvBuilder(with_pip=False).create(path)
    environment = Venv(path)
    # No byte-compiling of every installed module: the tests import a few of them.
    python = str(environment.program("python"))
    pip("--python", python, "install", "--quiet", "--no-compile", requirement)
    return environment


@pytest.fixture(scope="session")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """``pip install ostiary`` from this source tree, no extra: the resource-server kit."""
    yield install(tmp_path_factory.mktemp("light") / "venv", str(ROOT))


@pytest.fixture(scope="session")
def gateway_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """``pip install 'ostiary[gateway]'`` from this source tree."""
    yield install(tmp_path_factory.mktemp("gateway") / "venv", f"{ROOT}[gateway]")
