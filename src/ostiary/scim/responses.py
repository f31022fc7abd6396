"""Rendering SCIM resources and lists, honouring ``attributes`` / ``excludedAttributes``
(RFC 7644 §3.9)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, ListResponse, Resource, ResponseParameters, SCIMException

from ostiary.scim.listing import ListQuery
from ostiary.scim.validation import from_exception


def parameters(
    model: type[Resource[Any]], attributes: list[str] | None, excluded: list[str] | None
) -> ResponseParameters[Any] | None:
    if not attributes and not excluded:
        return None
    try:
        return ResponseParameters[model](  # type: ignore[valid-type]
            attributes=attributes, excluded_attributes=excluded
        )
    except (ValidationError, SCIMException) as exc:
        raise from_exception(exc) from None


def render(
    model: type[Resource[Any]], body: dict[str, Any], wanted: ResponseParameters[Any] | None
) -> dict[str, Any]:
    """The stored representation as is; through scim2-models only to project it."""
    if wanted is None:
        return body
    resource = model.model_validate(body, scim_ctx=None)
    return resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=wanted)


def render_list(
    model: type[Resource[Any]], query: ListQuery, total: int, bodies: list[dict[str, Any]]
) -> dict[str, Any]:
    wanted = parameters(model, query.attributes, query.excluded_attributes)
    return {
        "schemas": [str(ListResponse.__schema__)],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": len(bodies),
        "Resources": [render(model, b, wanted) for b in bodies],
    }


def _top(name: str) -> str:
    """``members``, ``members.value`` and ``urn:...:Group:members`` all name members."""
    name = name.lower()
    if name.startswith("urn:"):
        name = name.rsplit(":", 1)[-1]
    return name.split(".", 1)[0]


def skipped(lazy: frozenset[str], query: ListQuery) -> frozenset[str]:
    """RFC 7644 §3.9: the expensive attributes the response will not show."""
    if query.excluded_attributes:
        excluded = {_top(n) for n in query.excluded_attributes}
        return frozenset(a for a in lazy if a in excluded)
    if query.attributes:
        asked = {_top(n) for n in query.attributes}
        return frozenset(a for a in lazy if a not in asked)
    return frozenset()
