"""ostiary.resource must import without the server's dependencies (DESIGN.md)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("sqlalchemy", "starlette", "fastapi", "ostiary.storage", "ostiary.web")


def test_resource_kit_imports_without_server_dependencies() -> None:
    code = (
        "import json, sys\n"
        "import ostiary.resource, ostiary.resource.asgi, ostiary.resource.wsgi\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    leaked = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert leaked == []
