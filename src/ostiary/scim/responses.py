"""Rendering SCIM resources and lists, honouring ``attributes`` / ``excludedAttributes``
(RFC 7644 §3.9) and stamping ``meta.version`` (§3.14)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, ListResponse, Resource, ResponseParameters, SCIMException

from ostiary.scim.etags import stamp
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
    resource: Resource[Any], wanted: ResponseParameters[Any] | None = None
) -> dict[str, Any]:
    full = stamp(resource)
    if wanted is None:
        return full
    return resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=wanted)


def render_list(
    model: type[Resource[Any]], query: ListQuery, total: int, resources: list[Resource[Any]]
) -> dict[str, Any]:
    wanted = parameters(model, query.attributes, query.excluded_attributes)
    return {
        "schemas": [str(ListResponse.__schema__)],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": len(resources),
        "Resources": [render(r, wanted) for r in resources],
    }
