"""Epoch seconds to the xsd:dateTime strings of ``meta`` (RFC 7643 §2.3.5, §3.1)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
