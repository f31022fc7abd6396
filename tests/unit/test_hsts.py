"""RFC 6797 §6.1: the Strict-Transport-Security header ``ostiary serve`` sends."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.settings import load_settings
from ostiary.web.responses import strict_transport_security


@pytest.mark.parametrize(
    ("issuer", "hsts", "expected"),
    [
        ("https://id.example.com", {}, [("Strict-Transport-Security", "max-age=31536000")]),
        (
            "https://id.example.com",
            {"max_age": 600, "include_subdomains": True},
            [("Strict-Transport-Security", "max-age=600; includeSubDomains")],
        ),
        # §6.1.1: max-age=0 tells browsers to forget the host.
        ("https://id.example.com", {"max_age": 0}, [("Strict-Transport-Security", "max-age=0")]),
        # §7.2: never over plain http; an http issuer is served in clear.
        ("http://127.0.0.1:8080", {}, []),
        # Left to the TLS proxy in front.
        ("https://id.example.com", {"enabled": False}, []),
    ],
)
def test_strict_transport_security(
    issuer: str, hsts: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    settings = load_settings(issuer=issuer, hsts=hsts)
    assert strict_transport_security(settings) == expected
