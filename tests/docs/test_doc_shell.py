"""The shell the doc tests run in: one bash per document, failures reported with the block,
its line, the exit status and the output, background servers stopped at the end."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.docs import shell as shell_module
from tests.docs.blocks import DocBlock, parse_blocks
from tests.docs.shell import BlockFailed, DocShell, _group_alive


@pytest.fixture
def doc_shell(tmp_path: Path) -> Iterator[DocShell]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    shell = DocShell("docs/example.md", workdir, env, tmp_path / "log")
    shell.start()
    yield shell
    shell.close()


def run_markdown(shell: DocShell, markdown: str) -> None:
    for block in parse_blocks(markdown):
        shell.run(block)


def test_blocks_share_one_shell_and_its_directory(doc_shell: DocShell) -> None:
    run_markdown(
        doc_shell,
        "<!-- doctest -->\n```sh\nexport GREETING=hello\nLOCAL=kept\nmkdir sub\ncd sub\n```\n"
        '<!-- doctest -->\n```sh\necho "$GREETING $LOCAL $(basename "$PWD")" > seen\n```\n',
    )
    assert (doc_shell.workdir / "sub" / "seen").read_text() == "hello kept sub\n"


def test_a_failing_block_reports_its_line_status_and_output(doc_shell: DocShell) -> None:
    markdown = (
        "# Title\n\n<!-- doctest -->\n```sh\necho first\n```\n\n"
        "<!-- doctest -->\n```sh\necho to-stdout\necho to-stderr >&2\nexit 3\necho never\n```\n"
    )
    with pytest.raises(BlockFailed) as failed:
        run_markdown(doc_shell, markdown)
    message = str(failed.value)
    assert "docs/example.md, block at line 9 failed with exit status 3" in message
    assert "    exit 3" in message
    stdout = message.split("--- stdout")[1].split("--- stderr")[0]
    assert "to-stdout" in stdout and "first" not in stdout and "never" not in stdout
    assert "to-stderr" in message.split("--- stderr")[1]


def test_an_unset_variable_fails_the_block(doc_shell: DocShell) -> None:
    with pytest.raises(BlockFailed) as failed:
        run_markdown(doc_shell, '<!-- doctest -->\n```sh\necho "$UNSET_VARIABLE"\n```\n')
    assert "UNSET_VARIABLE: unbound variable" in str(failed.value)


def test_the_first_failing_command_stops_the_block_and_is_named(doc_shell: DocShell) -> None:
    with pytest.raises(BlockFailed) as failed:
        doc_shell.run(DocBlock(line=7, source="true\ngrep -q absent /dev/null\ntouch after\n"))
    assert "exit status 1 from: grep -q absent /dev/null" in str(failed.value)
    assert not (doc_shell.workdir / "after").exists()
    with pytest.raises(BlockFailed, match="the shell ended at an earlier block"):
        doc_shell.run(DocBlock(line=12, source="true\n"))


def test_a_block_reading_stdin_gets_end_of_file(doc_shell: DocShell) -> None:
    doc_shell.run(DocBlock(line=1, source="cat > from-stdin\necho next > after\n"))
    assert (doc_shell.workdir / "from-stdin").read_text() == ""
    assert (doc_shell.workdir / "after").read_text() == "next\n"


def test_a_block_that_hangs_times_out(doc_shell: DocShell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell_module, "BLOCK_TIMEOUT", 0.5)
    with pytest.raises(BlockFailed, match="block at line 4 timed out after 0 s"):
        doc_shell.run(DocBlock(line=4, source="echo waiting\nsleep 30\n"))


def _server(port: int) -> str:
    return f"exec python3 -m http.server {port} --bind 127.0.0.1\n"


def test_a_background_block_serves_until_the_document_ends(tmp_path: Path) -> None:
    port = free_port()
    workdir = tmp_path / "work"
    workdir.mkdir()
    shell = DocShell("docs/example.md", workdir, dict(os.environ), tmp_path / "log")
    shell.start()
    try:
        shell.run(
            DocBlock(
                line=3, source=_server(port), background=True, wait_url=f"http://127.0.0.1:{port}/"
            )
        )
        shell.run(DocBlock(line=9, source=f"curl -fsS -o page http://127.0.0.1:{port}/\n"))
        groups = list(shell._groups)
    finally:
        shell.close()
    assert (workdir / "page").exists()
    assert groups and not any(_group_alive(group) for group in groups)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_background_block_that_exits_is_reported_with_its_output(doc_shell: DocShell) -> None:
    block = DocBlock(
        line=12,
        source="echo starting\nexit 4\n",
        background=True,
        wait_url=f"http://127.0.0.1:{free_port()}/",
    )
    with pytest.raises(BlockFailed) as failed:
        doc_shell.run(block)
    assert "background block at line 12 exited before" in str(failed.value)
    assert "starting" in str(failed.value)


def test_a_background_block_on_a_busy_port_is_refused(doc_shell: DocShell) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        block = DocBlock(
            line=2, source=_server(port), background=True, wait_url=f"http://127.0.0.1:{port}/"
        )
        with pytest.raises(BlockFailed, match=f"port {port} on 127.0.0.1 is already in use"):
            doc_shell.run(block)
