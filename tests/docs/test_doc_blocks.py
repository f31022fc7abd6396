"""Docs are code: every ``sh`` block marked runnable in README.md and docs/*.md runs as
written, in a fresh copy of the checkout with a fresh venv, one shell per document.

Mark a block by putting, on the line right before its opening fence, either

    <!-- doctest -->
    <!-- doctest: background wait=http://127.0.0.1:8080/health [status=401] -->

The second runs the block in the background (a server) and goes on once the URL answers
with the status (200 unless given); the document's background processes are stopped when
its last block has run. The blocks of one document share one bash (``set -eu``), its
variables and its current directory, which starts at the checkout's root; ``ostiary``,
``python3`` and ``pip`` are the fresh venv's, ``.venv`` is that venv, and no ``OSTIARY_*``
variable is set.

The documents run one after another in this one file (pytest-xdist's ``--dist loadfile``
keeps them on one worker), so fixed ports such as the demo's 8080 never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import MarkerError, parse_blocks
from tests.docs.fresh_env import ROOT, adopt_venv, copy_checkout, create_venv, shell_environment
from tests.docs.shell import DocShell


def marked_documents() -> list[str]:
    """README.md and docs/*.md with a marked block, or with a marker in error: that one is
    then reported by its document's test rather than failing the whole collection."""
    documents = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        try:
            marked = bool(parse_blocks(path.read_text()))
        except MarkerError:
            marked = True
        if marked:
            documents.append(str(path.relative_to(ROOT)))
    return documents


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
