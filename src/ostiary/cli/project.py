"""The settings a project directory carries: the demo's ``.ostiary/settings.toml``.

``ostiary serve --demo`` keeps its database, issuer and generated secret key under
``.ostiary/`` and writes them to ``.ostiary/settings.toml``. Any later ``ostiary`` command
run in the same directory reads that file (unless ``OSTIARY_CONFIG`` names another), so
``.venv/bin/ostiary client create ...`` registers the client in the demo's database instead
of failing for want of a secret key or quietly creating a second database.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path

from ostiary.cli.output import say

DEMO_DIR = Path(".ostiary")
SETTINGS_FILE = DEMO_DIR / "settings.toml"
# Written by earlier demos, before the settings file existed: its key still opens their data.
_LEGACY_KEY_FILE = DEMO_DIR / "secret_key"


def use_project_settings() -> None:
    """Point ``OSTIARY_CONFIG`` at the project's settings file when there is one and no
    other file was chosen; say so, since environment variables still win over it."""
    if "OSTIARY_CONFIG" in os.environ or not SETTINGS_FILE.is_file():
        return
    os.environ["OSTIARY_CONFIG"] = str(SETTINGS_FILE)
    say(f"using settings from {SETTINGS_FILE} (set OSTIARY_CONFIG to use another file)")


def prepare_demo(port: int) -> None:
    """Demo mode on a fresh clone: a local database and a persistent generated secret,
    written where the other commands find them. Environment variables set by the caller
    keep precedence, as they do for every setting."""
    DEMO_DIR.mkdir(exist_ok=True)
    values = {
        "database_url": f"sqlite+aiosqlite:///{DEMO_DIR}/demo.db",
        "issuer": f"http://127.0.0.1:{port}",
        "secret_key": _demo_secret(),
    }
    SETTINGS_FILE.touch(mode=0o600)
    SETTINGS_FILE.write_text(
        "# Written by `ostiary serve --demo`: the demo's settings, read by every ostiary\n"
        "# command run in this directory. Not for production (docs/config.md).\n"
        "demo = true\n"
        # A JSON string is a valid TOML basic string.
        + "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())
    )
    os.environ["OSTIARY_DEMO"] = "true"
    for name, value in values.items():
        os.environ.setdefault(f"OSTIARY_{name.upper()}", value)


def _demo_secret() -> str:
    """The secret of the existing demo, so its sealed keys stay readable; else a new one."""
    if SETTINGS_FILE.is_file():
        try:
            known = tomllib.loads(SETTINGS_FILE.read_text()).get("secret_key")
        except tomllib.TOMLDecodeError:
            known = None
        if isinstance(known, str) and known:
            return known
    if _LEGACY_KEY_FILE.is_file():
        return _LEGACY_KEY_FILE.read_text().strip()
    return secrets.token_urlsafe(48)
