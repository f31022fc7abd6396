"""docs/config.md is generated from the settings model and must be current."""

from pathlib import Path

from ostiary.settings_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_config_doc_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m ostiary.settings_doc > docs/config.md"
