"""What a newcomer starts from: the files of a fresh clone, a fresh venv with Ostiary
installed, and an environment with no OSTIARY_* settings."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600


def copy_checkout(destination: Path, root: Path = ROOT) -> Path:
    """Copy what a fresh clone would hold: the tracked files as they are in the working
    tree (uncommitted changes included) and the untracked files git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout
    destination.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = root / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def install_extras(checkout: Path) -> str:
    """``[all]`` when pyproject.toml defines that extra, else no extra."""
    project = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]
    return "[all]" if "all" in project.get("optional-dependencies", {}) else ""


def create_venv(checkout: Path, venv: Path) -> Path:
    """A new venv (with its own pip: the docs run ``pip install``) with the checkout
    installed (editable) with install_extras(). This run's pip does the install, without
    byte-compiling every module: a third of the CPU of the bundled pip's install."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    extras = install_extras(checkout)
    python = str(venv / "bin" / "python")
    command = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    result = subprocess.run(
        [*command, "--no-compile", "-e", f".{extras}"],
        cwd=checkout,
        env=shell_environment(venv),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install -e .{extras} failed:\n{result.stdout}{result.stderr}")
    return venv


def adopt_venv(checkout: Path, venv: Path) -> None:
    """Make ``checkout/.venv`` the fresh venv, stamped the way ``dev.py demo`` checks it, so
    ``python3 dev.py demo`` in the checkout starts at once instead of installing again."""
    (checkout / ".venv").symlink_to(venv, target_is_directory=True)
    extras = demo_extras(checkout / "dev.py")
    fingerprint = hashlib.sha256(
        (checkout / "pyproject.toml").read_bytes() + extras.encode()
    ).hexdigest()
    (venv / ".installed").write_text(fingerprint)


def demo_extras(dev_py: Path) -> str:
    """The extras ``dev.py demo`` passes to ``_ensure_env`` (read from its source)."""
    tree = ast.parse(dev_py.read_text())
    for function in tree.body:
        if isinstance(function, ast.FunctionDef) and function.name == "demo":
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "_ensure_env"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    return node.args[0].value
    raise AssertionError("dev.py demo no longer calls _ensure_env(EXTRAS): update the harness")


def shell_environment(venv: Path) -> dict[str, str]:
    """This process's environment with the venv's bin first on PATH, any other venv taken
    off it, and no OSTIARY_* settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OSTIARY_", "PYTEST_", "PYTHON"))
        and name not in {"VIRTUAL_ENV", "CONDA_PREFIX"}
    }
    own_bin = str(Path(sys.prefix) / "bin")
    path = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != own_bin]
    return {
        **inherited,
        "PATH": os.pathsep.join([str(venv / "bin"), *path]),
        "VIRTUAL_ENV": str(venv),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
