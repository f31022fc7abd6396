"""Docs are code: every ``sh`` block marked ``<!-- doctest -->`` in README.md and docs/*.md
runs as written, in a fresh copy of the checkout with a fresh venv, one shell per document.

The documents run one after another in this one file (pytest-xdist's ``--dist loadfile``
keeps them on one worker), so fixed ports such as the demo's 8080 never collide: each
document's background processes are stopped before the next document starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import MARKER, parse_blocks
from tests.docs.fresh_env import ROOT, adopt_venv, copy_checkout, create_venv, shell_environment
from tests.docs.shell import DocShell


def marked_documents() -> list[str]:
    """README.md and docs/*.md that hold at least one marker (parsed in the test, so a
    malformed marker fails that document's test rather than the collection)."""
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [
        str(path.relative_to(ROOT))
        for path in candidates
        if any(MARKER.match(line.strip()) for line in path.read_text().splitlines())
    ]


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv per session with this checkout installed as a newcomer would install it."""
    base = tmp_path_factory.mktemp("doc-venv")
    checkout = copy_checkout(base / "checkout")
    return create_venv(checkout, base / "venv")


@pytest.fixture
def doc_checkout(tmp_path: Path, fresh_venv: Path) -> Iterator[Path]:
    checkout = copy_checkout(tmp_path / "checkout")
    adopt_venv(checkout, fresh_venv)
    yield checkout


@pytest.mark.parametrize("document", marked_documents())
def test_marked_blocks_run_as_written(document: str, doc_checkout: Path, tmp_path: Path) -> None:
    blocks = parse_blocks((doc_checkout / document).read_text())
    assert blocks, f"{document} has a doctest marker but no marked block"
    shell = DocShell(
        document=document,
        workdir=doc_checkout,
        env=shell_environment(doc_checkout / ".venv"),
        logdir=tmp_path / "shell",
    )
    shell.start()
    try:
        for block in blocks:
            shell.run(block)
    finally:
        shell.close()
