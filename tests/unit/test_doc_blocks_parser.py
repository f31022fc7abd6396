"""The doc-test harness finds exactly the blocks marked runnable, and refuses a marker
that would silently leave a block untested."""

from __future__ import annotations

import pytest

from tests.docs.blocks import DocBlock, MarkerError, parse_blocks


def test_a_marked_sh_block_is_found_with_its_line_and_commands() -> None:
    markdown = "# Title\n\n<!-- doctest -->\n```sh\necho one\necho two\n```\n"
    assert parse_blocks(markdown) == [DocBlock(line=4, source="echo one\necho two\n")]


def test_unmarked_blocks_and_other_languages_are_left_alone() -> None:
    markdown = (
        "```sh\nrm -rf /\n```\n"
        "<!-- doctest -->\n```sh\necho marked\n```\n"
        "```python\nprint('no')\n```\n"
        "```\nostiary serve\n```\n"
    )
    assert [block.source for block in parse_blocks(markdown)] == ["echo marked\n"]


def test_blocks_come_in_document_order() -> None:
    markdown = "<!-- doctest -->\n```sh\necho 1\n```\ntext\n<!-- doctest -->\n```sh\necho 2\n```\n"
    assert [(block.line, block.source) for block in parse_blocks(markdown)] == [
        (2, "echo 1\n"),
        (7, "echo 2\n"),
    ]


def test_a_longer_fence_holds_a_line_of_three_backticks() -> None:
    markdown = "<!-- doctest -->\n````sh\ncat <<'EOF'\n```\nEOF\n````\nafter\n"
    assert parse_blocks(markdown) == [DocBlock(line=2, source="cat <<'EOF'\n```\nEOF\n")]


def test_a_tilde_fence_is_not_closed_by_backticks() -> None:
    markdown = "<!-- doctest -->\n~~~sh\necho '```'\n```\n~~~\n"
    assert parse_blocks(markdown)[0].source == "echo '```'\n```\n"


def test_a_marker_shown_inside_a_code_block_is_not_a_marker() -> None:
    markdown = "```markdown\n<!-- doctest -->\n```\n```sh\necho unmarked\n```\n"
    assert parse_blocks(markdown) == []


def test_inline_triple_backticks_do_not_open_a_block() -> None:
    markdown = "Write ```sh blocks``` like this.\n<!-- doctest -->\n```sh\necho yes\n```\n"
    assert [block.source for block in parse_blocks(markdown)] == ["echo yes\n"]


def test_a_block_in_a_list_item_loses_the_fence_indentation() -> None:
    markdown = "- step\n\n  <!-- doctest -->\n  ```sh\n  echo a\n    echo b\n  ```\n"
    assert parse_blocks(markdown)[0].source == "echo a\n  echo b\n"


def test_the_background_syntax() -> None:
    markdown = (
        "<!-- doctest: background wait=http://127.0.0.1:8080/health -->\n"
        "```sh\npython3 dev.py demo\n```\n"
    )
    assert parse_blocks(markdown) == [
        DocBlock(
            line=2,
            source="python3 dev.py demo\n",
            background=True,
            wait_url="http://127.0.0.1:8080/health",
        )
    ]


def test_a_background_block_may_wait_for_another_status() -> None:
    markdown = (
        "<!--doctest:background wait=http://127.0.0.1:5000/orders status=401-->\n"
        "```sh\nflask run\n```\n"
    )
    [block] = parse_blocks(markdown)
    assert (block.background, block.wait_url, block.wait_status) == (
        True,
        "http://127.0.0.1:5000/orders",
        401,
    )


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("<!-- doctest -->\n\n```sh\necho\n```\n", "line 1: a doctest marker must be the line"),
        ("<!-- doctest -->\n```python\nprint()\n```\n", "not ```python"),
        ("<!-- doctest -->\n```\nls\n```\n", "must precede a ```sh block, not ```"),
        ("<!-- doctest -->\n```bash\nls\n```\n", "not ```bash"),
        ("text\n<!-- doctest -->\n", "line 2: a doctest marker at the end"),
        ("<!-- doctest -->\n```sh\necho never closed\n", "line 2: the marked block is never"),
        ("<!-- doctest: backgroud wait=http://x:1/ -->\n```sh\n```\n", "option 'backgroud'"),
        ("<!-- doctest: background -->\n```sh\n```\n", "a background block needs wait=URL"),
        ("<!-- doctest: wait=http://h:1/ -->\n```sh\n```\n", "apply to background blocks only"),
        ("<!-- doctest: background wait=ftp://h:1/ -->\n```sh\n```\n", "option 'wait=ftp"),
        ("<!-- doctest: background wait=http://h/ -->\n```sh\n```\n", "needs an explicit port"),
        ("<!-- doctest background -->\n```sh\n```\n", "after a colon"),
        ("<!-- doctest: status=200 -->\n```sh\n```\n", "apply to background blocks only"),
    ],
)
def test_a_misplaced_or_malformed_marker_is_an_error(markdown: str, message: str) -> None:
    with pytest.raises(MarkerError) as raised:
        parse_blocks(markdown)
    assert message in str(raised.value)
