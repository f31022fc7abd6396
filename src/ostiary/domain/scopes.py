"""A set of scopes written as the scope parameter (RFC 6749 §3.3)."""

from __future__ import annotations


def format_scope(scopes: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> str:
    # Sorted: the same set always reads the same (tokens, responses, audit details).
    return " ".join(sorted(scopes))
