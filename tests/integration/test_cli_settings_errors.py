"""Invalid settings, as the real ``ostiary`` executable reports them: one line on stderr
naming the variable and why, in our words (no pydantic "Value error," prefix), exit 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import OSTIARY, clean_env


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OSTIARY_ISSUER": "ftp://x"},
            "error: invalid settings: OSTIARY_ISSUER: must be an https URL (http only on a "
            "loopback host)",
        ),
        (
            {"OSTIARY_SECRET_KEY": "short"},
            "error: invalid settings: OSTIARY_SECRET_KEY: must be at least 32 characters",
        ),
        (
            {"OSTIARY_RATE_LIMITS__BACKEND": "redis"},
            "error: invalid settings: OSTIARY_RATE_LIMITS: backend redis needs "
            "rate_limits.redis_url",
        ),
    ],
)
def test_invalid_settings_are_one_line_in_our_words(
    variables: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(OSTIARY), "user", "list"],
        env=clean_env(**variables),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]
