"""Domain values as the plain dictionaries JSON answers are made of."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def field_values(value: object, names: Iterable[str]) -> dict[str, Any]:
    """``value``'s attributes ``names``, in that order (the order the answer shows)."""
    return {name: getattr(value, name) for name in names}
