"""The runnable command blocks of a Markdown document: a fenced ``sh`` block right after a
``<!-- doctest -->`` line (or ``<!-- doctest: background wait=URL [status=N] -->``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MARKER = re.compile(r"^<!--\s*doctest(?P<colon>:)?(?P<options>.*?)-->\s*$")
_OPENING = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
LANGUAGE = "sh"


class MarkerError(ValueError):
    """A doctest marker that does not mark a runnable block as intended."""


@dataclass(frozen=True)
class DocBlock:
    """One marked block: its commands, where it starts, and how it is run."""

    line: int  # 1-based line of the opening fence
    source: str
    background: bool = False
    wait_url: str | None = None
    wait_status: int = 200


def parse_blocks(markdown: str) -> list[DocBlock]:
    """The marked ``sh`` blocks, in document order; a misplaced or malformed marker raises
    MarkerError naming its line, so a typo never silently leaves a block untested."""
    lines = markdown.splitlines()
    blocks: list[DocBlock] = []
    pending: tuple[int, dict[str, str | bool]] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        opening = _OPENING.match(line)
        if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
            end = _closing_line(lines, index, opening["fence"])
            if pending is not None:
                blocks.append(_marked_block(lines, index, end, opening, *pending))
                pending = None
            index = end + 1
            continue
        if pending is not None:
            raise MarkerError(
                f"line {pending[0]}: a doctest marker must be the line right before a "
                f"```{LANGUAGE} fence"
            )
        marker = MARKER.match(line.strip())
        if marker:
            pending = (index + 1, _options(index + 1, marker["colon"], marker["options"]))
        index += 1
    if pending is not None:
        raise MarkerError(f"line {pending[0]}: a doctest marker at the end of the document")
    return blocks


def _closing_line(lines: list[str], start: int, fence: str) -> int:
    """Index of the closing fence (CommonMark: same character, at least as long, nothing
    after it); an unclosed fence runs to the end of the document."""
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if stripped.startswith(fence) and not stripped.lstrip(fence[0]):
            return index
    return len(lines)


def _marked_block(
    lines: list[str],
    start: int,
    end: int,
    opening: re.Match[str],
    marker_line: int,
    options: dict[str, str | bool],
) -> DocBlock:
    info = opening["info"].split()
    language = info[0] if info else ""
    if language != LANGUAGE:
        raise MarkerError(
            f"line {marker_line}: a doctest marker must precede a ```{LANGUAGE} block, "
            f"not ```{language}"
        )
    if end >= len(lines):
        raise MarkerError(f"line {start + 1}: the marked block is never closed")
    indent = len(opening["indent"])
    body = [_dedent(line, indent) for line in lines[start + 1 : end]]
    wait_url = options.get("wait")
    return DocBlock(
        line=start + 1,
        source="\n".join(body) + "\n",
        background=bool(options.get("background")),
        wait_url=wait_url if isinstance(wait_url, str) else None,
        wait_status=int(str(options.get("status", 200))),
    )


def _dedent(line: str, indent: int) -> str:
    """Remove up to the fence's own indentation (a block inside a list item)."""
    removable = len(line) - len(line.lstrip(" "))
    return line[min(indent, removable) :]


def _options(line: int, colon: str | None, text: str) -> dict[str, str | bool]:
    words = text.split()
    if words and not colon:
        raise MarkerError(f"line {line}: write options after a colon: <!-- doctest: ... -->")
    options: dict[str, str | bool] = {}
    for word in words:
        name, has_value, value = word.partition("=")
        if name == "background" and not has_value:
            options["background"] = True
        elif name == "wait" and has_value and urlsplit(value).scheme in {"http", "https"}:
            options["wait"] = value
        elif name == "status" and has_value and re.fullmatch(r"[1-5][0-9][0-9]", value):
            options["status"] = value
        else:
            raise MarkerError(f"line {line}: unknown doctest option {word!r}")
    if options.get("background") and "wait" not in options:
        raise MarkerError(f"line {line}: a background block needs wait=URL")
    if not options.get("background") and ("wait" in options or "status" in options):
        raise MarkerError(f"line {line}: wait= and status= apply to background blocks only")
    if "wait" in options and urlsplit(str(options["wait"])).port is None:
        raise MarkerError(f"line {line}: the wait URL needs an explicit port")
    return options
