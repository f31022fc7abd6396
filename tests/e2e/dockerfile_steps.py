"""A Dockerfile's stages, read and run without a container (no daemon runs on the test
machines), for tests/e2e/test_container_recipe.py.

A stage's ARG, ENV, WORKDIR, COPY and RUN steps run on this machine with every absolute
path of the image put under a directory of the test's, ``root``: ``/opt/ostiary`` becomes
``root/opt/ostiary``, in the instructions' text before variables are expanded. RUN lines
run in ``/bin/sh -c`` as Docker's shell form does, with the stage's ARG and ENV values.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Stage]:
    """The stages, in order; ARGs before the first FROM are not kept (only FROM uses them)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as Docker does
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


def dockerignore(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def excluded_everywhere(context: Path) -> list[str]:
    """The .dockerignore patterns of the form ``**/NAME``: NAME at any depth."""
    return [line[3:] for line in dockerignore(context) if line.startswith("**/")]


def words(arguments: str) -> list[str]:
    """An instruction's arguments: the JSON array form, or shell-like words."""
    if arguments.startswith("["):
        return [str(word) for word in json.loads(arguments)]
    return shlex.split(arguments)


def _assignments(arguments: str) -> list[tuple[str, str]]:
    pairs = []
    for word in shlex.split(arguments):
        name, _, value = word.partition("=")
        pairs.append((name, value))
    return pairs


class Build:
    """One stage run on this machine under ``root``, from the build context ``context``."""

    def __init__(self, root: Path, context: Path, stage: Stage, environ: dict[str, str]) -> None:
        self.root = root
        self.context = context
        self.stage = stage
        self.environ = dict(environ)  # the base image's environment
        self.variables: dict[str, str] = {}
        self.workdir = root
        self.image_paths = self._image_paths()

    def _image_paths(self) -> list[str]:
        """The image's directories the stage names (WORKDIR, VOLUME, COPY destinations and
        ARG defaults that are absolute paths), longest first."""
        paths: set[str] = set()
        for instruction in self.stage.instructions:
            if instruction.keyword in ("WORKDIR", "VOLUME"):
                paths.update(w for w in words(instruction.arguments) if w.startswith("/"))
            elif instruction.keyword == "ARG":
                paths.update(v for _, v in _assignments(instruction.arguments) if v[:1] == "/")
            elif instruction.keyword == "COPY":
                destination = words(instruction.arguments)[-1]
                if destination.startswith("/"):
                    paths.add(destination.rstrip("/"))
        return sorted(paths, key=len, reverse=True)

    def host(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def rooted(self, text: str) -> str:
        """``text`` with each of the image's paths put under ``root`` (one pass)."""
        if not self.image_paths:
            return text
        pattern = "|".join(re.escape(p) for p in self.image_paths)
        return re.sub(rf"(?<![\w.-])({pattern})(?![\w.-])", lambda m: str(self.host(m[1])), text)

    def expand(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            return self.variables.get(name, self.environ.get(name, ""))

        return _VARIABLE.sub(value, text)

    @property
    def env(self) -> dict[str, str]:
        return {**self.environ, **self.variables}

    def run(self, *, steps: tuple[str, ...] = ("ARG", "ENV", "WORKDIR", "COPY", "RUN")) -> None:
        """The stage's instructions of the kinds in ``steps``, in order."""
        for instruction in self.stage.instructions:
            if instruction.keyword not in steps:
                continue
            arguments = self.rooted(instruction.arguments)
            if instruction.keyword in ("ARG", "ENV"):
                for name, raw in _assignments(arguments):
                    self.variables[name] = self.expand(raw)
            elif instruction.keyword == "WORKDIR":
                self.workdir = Path(self.expand(arguments))
                self.workdir.mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "COPY":
                self._copy([self.expand(w) for w in words(arguments)])
            elif instruction.keyword == "RUN":
                self._run(self.expand(arguments) if arguments.startswith("[") else arguments)

    def _copy(self, arguments: list[str]) -> None:
        if arguments[0].startswith("--from="):
            # Another stage's files: every stage is under the same root here.
            source, destination = arguments[1:]
            if Path(source) != Path(destination):
                shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)
            return
        *sources, destination = arguments
        target = self.workdir / destination
        ignore = shutil.ignore_patterns(*excluded_everywhere(self.context))
        for source in sources:
            path = self.context / source
            if path.is_dir():
                # Docker copies a directory's contents, not the directory itself.
                shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
            elif destination.endswith("/") or len(sources) > 1:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)

    def _run(self, command: str) -> None:
        argv = words(command) if command.startswith("[") else ["/bin/sh", "-c", command]
        done = subprocess.run(
            argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"RUN {command}\n{done.stdout}\n{done.stderr}"
