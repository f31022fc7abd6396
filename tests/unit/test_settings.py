"""Settings: ``OSTIARY_*`` environment, optional TOML file, errors naming the setting.

The issuer rules are RFC 8414 §2 (https, no query or fragment), with loopback http as the
development exception RFC 8252 §7.3 also makes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ostiary.settings import Settings, SettingsError, load_settings

GOOD_KEY = "k" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No OSTIARY_* variable from the outer environment leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def _error(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(**overrides)
    return str(info.value)


def test_defaults_are_valid() -> None:
    """RFC 8414 §2 (dev exception): the defaults load with a loopback http issuer."""
    settings = load_settings()
    assert settings.issuer == "http://127.0.0.1:8080"
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.secret_key is None
    assert settings.tokens.access_token_ttl == 3600
    assert settings.keys.publish_ahead == 300


# -- issuer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://id.example.com", "https://id.example.com"),
        ("https://id.example.com/", "https://id.example.com"),
        ("https://id.example.com//", "https://id.example.com"),
        ("https://id.example.com/tenant/a/", "https://id.example.com/tenant/a"),
        ("https://id.example.com:8443", "https://id.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.1.2.3", "http://127.1.2.3"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost/", "http://localhost"),
    ],
)
def test_rfc8414_s2_issuer_accepted_and_trailing_slash_stripped(issuer: str, expected: str) -> None:
    """RFC 8414 §2: https issuer (loopback http for development); no trailing slash kept."""
    assert load_settings(issuer=issuer).issuer == expected


@pytest.mark.parametrize(
    "issuer",
    [
        "http://id.example.com",
        "http://10.0.0.1:8080",
        "http://0.0.0.0:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "ftp://id.example.com",
        "id.example.com",
        "",
        "https://",
        "https:///path",
        "https://id.example.com/?tenant=a",
        "https://id.example.com#top",
        "http://127.0.0.1:8080/?x=1",
    ],
)
def test_rfc8414_s2_bad_issuer_is_error_naming_ostiary_issuer(issuer: str) -> None:
    """RFC 8414 §2: https, with a host, no query, no fragment; errors name OSTIARY_ISSUER."""
    message = _error(issuer=issuer)
    assert "OSTIARY_ISSUER" in message


@pytest.mark.parametrize("issuer", ["https://id.example.com/?", "https://id.example.com/#"])
def test_rfc8414_s2_empty_query_or_fragment_is_still_a_component(issuer: str) -> None:
    """RFC 8414 §2 / RFC 3986 §3: '?' or '#' with nothing after is still a query/fragment."""
    assert "OSTIARY_ISSUER" in _error(issuer=issuer)


# -- secret key and database URL ------------------------------------------------------------


@pytest.mark.parametrize("length", [32, 33, 64])
def test_secret_key_of_32_or_more_characters(length: int) -> None:
    """RFC 9700 §2 spirit: the root secret is long enough to carry 256 bits."""
    settings = load_settings(secret_key="s" * length)
    assert settings.require_secret_key() == b"s" * length


@pytest.mark.parametrize("key", ["", "Q", "TOPSECRET-" + "q" * 21])
def test_short_secret_key_is_error_naming_ostiary_secret_key(key: str) -> None:
    """The secret key must be at least 32 characters; the error names it, not its value."""
    assert len(key) < 32
    message = _error(secret_key=key)
    assert "OSTIARY_SECRET_KEY:" in message
    if key:
        assert key not in message


def test_secret_key_is_not_shown_in_repr() -> None:
    """Secrets never appear in logs: the key is a SecretStr."""
    settings = load_settings(secret_key="super-secret-" + "z" * 32)
    assert "super-secret" not in repr(settings)
    assert "super-secret" not in str(settings.secret_key)


def test_missing_secret_key_is_error_naming_ostiary_secret_key() -> None:
    """Serving requires the secret key; the error tells the operator which variable to set."""
    settings = load_settings()
    with pytest.raises(SettingsError, match="OSTIARY_SECRET_KEY"):
        settings.require_secret_key()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///ostiary.db",
        "sqlite+aiosqlite:////var/lib/ostiary/ostiary.db",
        "postgresql+asyncpg://ostiary@db.internal/ostiary",
    ],
)
def test_database_url_with_async_driver_accepted(url: str) -> None:
    """The storage layer is async: only aiosqlite and asyncpg URLs are usable."""
    assert load_settings(database_url=url).database_url == url


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///ostiary.db",
        "postgresql://user@host/db",
        "postgresql+psycopg2://user@host/db",
        "mysql+aiomysql://user@host/db",
        "ostiary.db",
        "",
    ],
)
def test_database_url_with_other_driver_is_error_naming_it(url: str) -> None:
    """A sync or unknown driver is refused at start-up; the error names OSTIARY_DATABASE_URL."""
    assert "OSTIARY_DATABASE_URL" in _error(database_url=url)


# -- nested sections and error names --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"tokens": {"access_token_ttl": 59}}, "OSTIARY_TOKENS__ACCESS_TOKEN_TTL"),
        ({"tokens": {"access_token_ttl": 86401}}, "OSTIARY_TOKENS__ACCESS_TOKEN_TTL"),
        ({"tokens": {"authorization_code_ttl": 601}}, "OSTIARY_TOKENS__AUTHORIZATION_CODE_TTL"),
        ({"tokens": {"refresh_token_ttl": 10}}, "OSTIARY_TOKENS__REFRESH_TOKEN_TTL"),
        ({"tokens": {"access_token_alg": "HS256"}}, "OSTIARY_TOKENS__ACCESS_TOKEN_ALG"),
        ({"tokens": {"access_token_alg": "none"}}, "OSTIARY_TOKENS__ACCESS_TOKEN_ALG"),
        ({"keys": {"publish_ahead": -1}}, "OSTIARY_KEYS__PUBLISH_AHEAD"),
        ({"keys": {"cache_ttl": 0}}, "OSTIARY_KEYS__CACHE_TTL"),
        ({"sessions": {"ttl": 1}}, "OSTIARY_SESSIONS__TTL"),
        ({"passwords": {"memory_cost": 1024}}, "OSTIARY_PASSWORDS__MEMORY_COST"),
        ({"demo": "perhaps"}, "OSTIARY_DEMO"),
        ({"no_such_setting": 1}, "OSTIARY_NO_SUCH_SETTING"),
    ],
)
def test_error_names_the_environment_variable(overrides: dict[str, Any], name: str) -> None:
    """Validation errors name the setting as the operator would spell it in the environment."""
    assert f"{name}:" in _error(**overrides)


def test_every_problem_is_reported_at_once() -> None:
    """All invalid settings are listed in one message, not one per restart."""
    message = _error(issuer="http://id.example.com", secret_key="short", database_url="x")
    for name in ("OSTIARY_ISSUER", "OSTIARY_SECRET_KEY", "OSTIARY_DATABASE_URL"):
        assert name in message


# -- environment variables ------------------------------------------------------------------


def test_env_vars_with_prefix_and_nested_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """OSTIARY_ prefix; nested sections with a double underscore."""
    monkeypatch.setenv("OSTIARY_ISSUER", "https://id.example.com/")
    monkeypatch.setenv("OSTIARY_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("OSTIARY_DEMO", "true")
    monkeypatch.setenv("OSTIARY_TOKENS__ACCESS_TOKEN_TTL", "600")
    monkeypatch.setenv("OSTIARY_TOKENS__ACCESS_TOKEN_ALG", "RS256")
    monkeypatch.setenv("OSTIARY_KEYS__PUBLISH_AHEAD", "0")
    settings = load_settings()
    assert settings.issuer == "https://id.example.com"
    assert settings.require_secret_key() == GOOD_KEY.encode()
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.demo is True
    assert settings.tokens.access_token_ttl == 600
    assert settings.tokens.access_token_alg == "RS256"
    assert settings.tokens.refresh_token_ttl == 30 * 86400
    assert settings.keys.publish_ahead == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OSTIARY_ISSUER", "http://id.example.com"),
        ("OSTIARY_SECRET_KEY", "too-short"),
        ("OSTIARY_DATABASE_URL", "sqlite:///x.db"),
        ("OSTIARY_TOKENS__ACCESS_TOKEN_TTL", "10"),
        ("OSTIARY_TOKENS__ACCESS_TOKEN_TTL", "ten"),
        ("OSTIARY_KEYS__CACHE_TTL", "0"),
        ("OSTIARY_DEMO", "perhaps"),
    ],
)
def test_bad_env_var_is_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """An invalid environment variable is reported under its own name."""
    monkeypatch.setenv(variable, value)
    message = _error()
    assert f"{variable}:" in message


def test_init_overrides_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit arguments (CLI, tests) take precedence over the environment."""
    monkeypatch.setenv("OSTIARY_ISSUER", "https://env.example.com")
    assert load_settings(issuer="https://arg.example.com").issuer == "https://arg.example.com"


def test_bad_json_for_a_section_env_var_is_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors are ostiary SettingsError naming the variable, whatever the source."""
    monkeypatch.setenv("OSTIARY_TOKENS", "not json")
    assert "OSTIARY_TOKENS" in _error()


def test_misspelt_nested_setting_is_error_naming_it() -> None:
    """A typo in a nested setting is reported, as a typo at the top level is."""
    assert "OSTIARY_TOKENS__ACCES_TOKEN_TTL" in _error(tokens={"acces_token_ttl": 600})


# -- TOML file ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ostiary.toml"
    path.write_text(text)
    return path


def test_toml_file_named_by_ostiary_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """OSTIARY_CONFIG names a TOML file using the same names, sections as tables."""
    path = _write(
        tmp_path,
        'issuer = "https://file.example.com/"\n'
        f'secret_key = "{GOOD_KEY}"\n'
        "[tokens]\naccess_token_ttl = 600\nauthorization_code_ttl = 30\n"
        "[keys]\npublish_ahead = 120\n",
    )
    monkeypatch.setenv("OSTIARY_CONFIG", str(path))
    settings = load_settings()
    assert settings.issuer == "https://file.example.com"
    assert settings.require_secret_key() == GOOD_KEY.encode()
    assert settings.tokens.access_token_ttl == 600
    assert settings.tokens.authorization_code_ttl == 30
    assert settings.keys.publish_ahead == 120


def test_env_overrides_file_and_nested_sections_merge(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Environment variables win over the file, key by key inside a section."""
    path = _write(
        tmp_path,
        'issuer = "https://file.example.com"\n'
        "[tokens]\naccess_token_ttl = 600\nauthorization_code_ttl = 30\n",
    )
    monkeypatch.setenv("OSTIARY_CONFIG", str(path))
    monkeypatch.setenv("OSTIARY_ISSUER", "https://env.example.com")
    monkeypatch.setenv("OSTIARY_TOKENS__ACCESS_TOKEN_TTL", "900")
    settings = load_settings()
    assert settings.issuer == "https://env.example.com"
    assert settings.tokens.access_token_ttl == 900
    assert settings.tokens.authorization_code_ttl == 30


@pytest.mark.parametrize(
    "text",
    [
        "issuer = ",
        "issuer = https://unquoted.example.com",
        "[tokens\naccess_token_ttl = 600",
        "issuer = 'a'\nissuer = 'b'",
    ],
)
def test_bad_toml_is_settings_error_naming_ostiary_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    """A file that is not TOML is a start-up error naming OSTIARY_CONFIG and the path."""
    path = _write(tmp_path, text)
    monkeypatch.setenv("OSTIARY_CONFIG", str(path))
    message = _error()
    assert "OSTIARY_CONFIG" in message
    assert str(path) in message


def test_missing_toml_file_is_settings_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing config file is reported, not silently skipped."""
    path = tmp_path / "absent.toml"
    monkeypatch.setenv("OSTIARY_CONFIG", str(path))
    message = _error()
    assert "OSTIARY_CONFIG" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[tokens]\naccess_token_ttl = 5\n", "OSTIARY_TOKENS__ACCESS_TOKEN_TTL"),
        ('issuer = "http://id.example.com"\n', "OSTIARY_ISSUER"),
        ("isuer = 'https://typo.example.com'\n", "OSTIARY_ISUER"),
    ],
)
def test_invalid_value_in_toml_is_error_naming_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, name: str
) -> None:
    """A valid file with an invalid value is reported under the setting's name."""
    monkeypatch.setenv("OSTIARY_CONFIG", str(_write(tmp_path, text)))
    assert f"{name}:" in _error()


def test_settings_class_reads_env_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() itself is the pydantic-settings model (load_settings only wraps errors)."""
    monkeypatch.setenv("OSTIARY_TOKENS__AUTHORIZATION_CODE_TTL", "45")
    assert Settings().tokens.authorization_code_ttl == 45
