"""Gateway settings from flags and TOML, with errors that name the setting; header rules."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ostiary.gateway.config import ConfigError, load_config
from ostiary.gateway.headers import upstream_request_headers, without_hop_by_hop

BASE = {"issuer": "https://id.example.com", "upstream": "http://127.0.0.1:9000"}


def test_toml_and_flags_combine(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("c" * 40 + "\n")
    path = tmp_path / "gateway.toml"
    path.write_text(
        'issuer = "https://id.example.com"\nupstream = "http://10.0.0.5:9000/"\n'
        'mode = "browser"\nclient_id = "gw"\ncookie_secret_file = "' + str(tmp_path / "secret")
        + '"\nrules = ["GET /health public", "/app/* authenticated"]\n'
    )  # fmt: skip
    config = load_config({"rules": ["GET /x public"], "client_secret": "z", "port": 9999}, path)
    assert config.upstream == "http://10.0.0.5:9000"
    assert config.port == 9999
    assert config.cookie_secret == "c" * 40
    assert len(config.rule_set.rules) == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rules": []}, "rules"),
        ({"rules": ["GET /x publik"]}, "unknown requirement 'publik'"),
        ({"rules": ["GET /x public"], "issuer": "http://id.example.com"}, "issuer: .*https"),
        ({"rules": ["GET /x public"], "upstream": "ftp://x"}, "upstream"),
        ({"rules": ["GET /x public"], "mode": "browser"}, "browser mode needs client_id"),
        ({"rules": ["GET /x public"], "max_body_bytes": -1}, "max_body_bytes"),
        ({"rules": ["GET /x public"], "colour": "red"}, "colour"),
    ],
)
def test_bad_settings_name_the_setting(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**BASE, **values})


def test_secrets_do_not_belong_in_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('client_secret = "oops"\n')
    with pytest.raises(ConfigError, match="client_secret_file"):
        load_config({}, path)


def test_rfc9110_7_6_1_connection_named_fields_are_dropped() -> None:
    kept = without_hop_by_hop(
        [(b"Connection", b"close, X-A"), (b"X-A", b"1"), (b"TE", b"trailers"), (b"X-B", b"2")]
    )
    assert kept == [(b"x-b", b"2")]


def test_forwarded_and_identity_headers() -> None:
    incoming = [
        (b"host", b"app.example.com"),
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-forwarded-user", b"admin"),
        (b"cookie", b"a=1; ostiary_gw_session=secret; b=2"),
    ]
    out = upstream_request_headers(
        incoming,
        client_ip="10.0.0.1",
        scheme="https",
        trust_forwarded=False,
        identity={"x-forwarded-user": "u\r\nX-Evil: 1"},
        drop_cookies=["ostiary_gw_session"],
    )
    assert (b"x-forwarded-for", b"10.0.0.1") in out
    assert (b"x-forwarded-proto", b"https") in out
    assert (b"x-forwarded-host", b"app.example.com") in out
    assert (b"cookie", b"a=1; b=2") in out
    assert [v for n, v in out if n == b"x-forwarded-user"] == [b"uX-Evil: 1"]
    trusted = upstream_request_headers(
        incoming, client_ip="10.0.0.1", scheme="http", trust_forwarded=True
    )
    assert (b"x-forwarded-for", b"6.6.6.6, 10.0.0.1") in trusted


def test_gateway_imports_without_the_servers_storage_or_web_layer() -> None:
    """The gateway is deployed next to apps, not next to the database (DESIGN.md)."""
    code = (
        "import json, sys\n"
        "import ostiary.gateway, ostiary.gateway.app\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    forbidden = ("sqlalchemy", "fastapi", "jinja2", "ostiary.storage", "ostiary.web")
    loaded = json.loads(result.stdout)
    assert [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)] == []


def test_cookie_secret_file_lists_secrets_newest_first(tmp_path: Path) -> None:
    secrets = tmp_path / "cookie-secrets"
    secrets.write_text("# newest first\n" + "n" * 32 + "\n\n" + "o" * 32 + "\n")
    path = tmp_path / "gateway.toml"
    path.write_text(f'cookie_secret_file = "{secrets}"\n')
    values = {**BASE, "mode": "browser", "client_id": "gw", "client_secret": "z"}
    config = load_config({**values, "rules": ["GET /x public"]}, path)
    assert config.cookie_secrets == ["n" * 32, "o" * 32]
    assert config.cookie_secret == "n" * 32
    assert "n" * 32 not in repr(config)


def test_cookie_secrets_from_the_environment_one_per_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSTIARY_GATEWAY_COOKIE_SECRET", "a" * 32 + "\n" + "b" * 32)
    values = {**BASE, "mode": "browser", "client_id": "gw", "client_secret": "z"}
    config = load_config({**values, "rules": ["GET /x public"]})
    assert config.cookie_secrets == ["a" * 32, "b" * 32]


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (["short"], "cookie_secret must be at least 32 bytes$"),
        (["n" * 32, "short"], r"at least 32 bytes \(secret 2 of 2\)"),
        ([], "browser mode needs cookie_secret"),
    ],
)
def test_every_cookie_secret_is_checked(secrets: list[str], message: str) -> None:
    values = {**BASE, "mode": "browser", "client_id": "gw", "client_secret": "z"}
    with pytest.raises(ConfigError, match=message):
        load_config({**values, "rules": ["GET /x public"], "cookie_secret": secrets})


def test_cookie_secrets_do_not_belong_in_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('cookie_secrets = ["' + "x" * 32 + '"]\n')
    with pytest.raises(ConfigError, match="cookie_secret_file"):
        load_config({}, path)
