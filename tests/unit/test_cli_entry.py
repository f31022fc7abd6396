"""The ``ostiary`` executable's guard: a missing extra is one line naming it; a missing
module of Ostiary's own is a fault, never reported as a missing extra."""

from __future__ import annotations

import pytest

from ostiary.cli.entry import NotInstalled, _import_missing, command_of, main


def test_a_missing_third_party_module_names_the_extra() -> None:
    with pytest.raises(NotInstalled) as caught:
        _import_missing("a_module_nobody_installed", "server", "the server")
    assert str(caught.value) == (
        "the server is not installed (no module named 'a_module_nobody_installed'): "
        "pip install 'ostiary[server]'"
    )


def test_a_missing_module_of_ostiary_is_not_a_missing_extra() -> None:
    with pytest.raises(ModuleNotFoundError):
        _import_missing("ostiary.no_such_module", "server", "the server")


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["gateway", "--port", "9000"], "gateway"),
        (["--debug", "gateway"], "gateway"),
        (["serve", "--host", "0.0.0.0"], "serve"),
        (["--help"], None),
    ],
)
def test_the_command_is_the_first_word_not_an_option(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


def test_version_needs_no_extra(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ostiary ")
