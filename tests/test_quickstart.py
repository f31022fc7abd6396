"""The README's Quickstart is exactly two commands, and CI runs the second one.

A fresh clone must need nothing but ``python3 dev.py demo`` to try Ostiary and
``python3 dev.py test`` to test it; ``.ci/run`` runs that same test command, so what the
README promises is what CI checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
QUICKSTART_COMMANDS = ["python3 dev.py demo", "python3 dev.py test"]

_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)")


def quickstart_code_blocks(markdown: str) -> list[list[str]]:
    """The fenced code blocks of the section whose heading contains "Quickstart"."""
    blocks: list[list[str]] = []
    in_section = False
    section_level = 0
    fence: str | None = None
    current: list[str] = []
    for line in markdown.splitlines():
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip()[len(fence) :].strip():
                blocks.append(current)
                fence, current = None, []
            else:
                current.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(line) - len(line.lstrip("#"))
            if "quickstart" in heading["title"].lower():
                in_section, section_level = True, level
            elif in_section and level <= section_level:
                break
            continue
        opening = _FENCE.match(line.strip())
        if opening and in_section:
            fence = opening["fence"]
    return blocks


def shell_commands(lines: list[str]) -> list[str]:
    """Commands of a shell snippet: no blank lines, comments or ``$`` prompts."""
    commands = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        commands.append(stripped.removeprefix("$ ").strip())
    return commands


def test_readme_quickstart_is_exactly_dev_py_demo_and_dev_py_test() -> None:
    assert README.is_file(), "README.md is missing"
    blocks = quickstart_code_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"the Quickstart section has one code block, found {len(blocks)}"
    assert shell_commands(blocks[0]) == QUICKSTART_COMMANDS


def test_ci_run_invokes_the_quickstart_test_command() -> None:
    assert CI_RUN.is_file(), ".ci/run is missing"
    assert os.access(CI_RUN, os.X_OK), ".ci/run must be executable"
    lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("#!"), ".ci/run starts with a shebang"
    command = QUICKSTART_COMMANDS[1]
    commands = {" ".join(line.split()) for line in lines[1:]}
    assert commands & {command, f"exec {command}"}, f".ci/run does not run `{command}`"
