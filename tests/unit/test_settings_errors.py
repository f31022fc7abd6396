"""Invalid settings are reported in our validators' words: the variable, then why, with
nothing of pydantic's own wording ("Value error, ...") in between."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ostiary.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OSTIARY_ISSUER": "ftp://x"},
            "invalid settings: OSTIARY_ISSUER: must be an https URL (http only on a loopback host)",
        ),
        (
            {"OSTIARY_ISSUER": "https://id.example.com/?a=1"},
            "invalid settings: OSTIARY_ISSUER: must be a URL with a host and no query or fragment",
        ),
        (
            {"OSTIARY_SECRET_KEY": "short"},
            "invalid settings: OSTIARY_SECRET_KEY: must be at least 32 characters",
        ),
        (
            {"OSTIARY_DATABASE_URL": "mysql://db/ostiary"},
            "invalid settings: OSTIARY_DATABASE_URL: must start with sqlite+aiosqlite:// or "
            "postgresql+asyncpg://",
        ),
        (
            {"OSTIARY_TRUSTED_PROXIES": "not-an-ip"},
            "invalid settings: OSTIARY_TRUSTED_PROXIES: 'not-an-ip' is not an IP address or "
            "network",
        ),
        (
            {"OSTIARY_RATE_LIMITS__REDIS_URL": "http://cache"},
            "invalid settings: OSTIARY_RATE_LIMITS__REDIS_URL: must be a redis://, rediss:// or "
            "unix:// URL",
        ),
        (
            {"OSTIARY_RATE_LIMITS__BACKEND": "redis"},
            "invalid settings: OSTIARY_RATE_LIMITS: backend redis needs rate_limits.redis_url",
        ),
        (
            {"OSTIARY_ISSUER": "ftp://x", "OSTIARY_SECRET_KEY": "short"},
            "invalid settings: OSTIARY_ISSUER: must be an https URL (http only on a loopback "
            "host); OSTIARY_SECRET_KEY: must be at least 32 characters",
        ),
        # pydantic's own messages (no validator of ours) are kept as they are.
        (
            {"OSTIARY_TOKENS__ACCESS_TOKEN_TTL": "5"},
            "invalid settings: OSTIARY_TOKENS__ACCESS_TOKEN_TTL: Input should be greater than "
            "or equal to 60",
        ),
    ],
)
def test_invalid_setting_message_names_variable_and_reason_only(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == expected
    assert "Value error" not in str(info.value)
