"""Rendering SCIM resources and lists, honouring ``attributes`` / ``excludedAttributes``
(RFC 7644 §3.9)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import (
    BaseModel,
    ListResponse,
    Resource,
    ResponseParameters,
    Returned,
    SCIMException,
)

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
    """The stored representation as is, projected on ``attributes`` or
    ``excludedAttributes`` without validating it again: a stored value the model would
    refuse today (an address such as ``a@b`` written through another door, or before a
    rule changed) is served as stored rather than failing the whole page."""
    if wanted is None:
        return body
    included = [str(a) for a in wanted.attributes or []]
    excluded = [str(a) for a in wanted.excluded_attributes or []]
    return _project(model, body, None, included, excluded)


def _project(
    model: type[BaseModel],
    data: dict[str, Any],
    parent: str | None,
    included: list[str],
    excluded: list[str],
) -> dict[str, Any]:
    """RFC 7644 §3.9 on a plain dict, judged level by level with each attribute's
    ``returned`` characteristic (RFC 7643 §7) taken from the model's declarations."""
    info = model.__scim_info__
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key == "schemas":
            # RFC 7643 §3: every representation carries its schemas.
            kept[key] = value
            continue
        field = info.alias_to_field.get(key)
        returned = model.get_field_annotation(field, Returned) if field else Returned.default
        own = info.attribute_urns.get(field, key) if field else key
        urn = f"{parent}.{key}" if parent else own
        if not _returned(returned, urn, included, excluded):
            continue
        inner = model.get_field_root_type(field) if field else None
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            # An extension's attributes are named from its own schema; a complex
            # attribute's sub-attributes from the parent's path.
            below = None if field in info.extensions else urn
            value = _nested(inner, value, below, included, excluded)
        if value not in ({}, []):
            kept[key] = value
    schemas = kept.get("schemas")
    if isinstance(schemas, list) and info.extensions:
        # RFC 7643 §3: "schemas" names the extensions present in the representation.
        absent = {info.attribute_urns[f] for f in info.extensions} - set(kept)
        kept["schemas"] = [s for s in schemas if s not in absent]
    return kept


def _nested(
    model: type[BaseModel], value: Any, parent: str | None, inc: list[str], exc: list[str]
) -> Any:
    if isinstance(value, dict):
        return _project(model, value, parent, inc, exc)
    if isinstance(value, list):
        items = [_project(model, v, parent, inc, exc) if isinstance(v, dict) else v for v in value]
        return [item for item in items if item != {}]
    return value


def _short(urn: str) -> str:
    """``urn:...:User:name.givenName`` -> ``name.givenname``."""
    return urn.rsplit(":", 1)[-1].lower()


def _named(name: str, urn: str) -> str:
    """What ``name`` is compared with: the full URN when it carries a schema (RFC 7644
    §3.10), else the attribute path."""
    return urn.lower() if ":" in name else _short(urn)


def _related(name: str, urn: str) -> bool:
    """``name`` is this attribute, one of its sub-attributes or its parent."""
    name, here = name.lower(), _named(name, urn)
    return (
        name == here
        or name.startswith((here + ".", here + ":"))
        or here.startswith((name + ".", name + ":"))
    )


def _returned(returned: Any, urn: str, included: list[str], excluded: list[str]) -> bool:
    """RFC 7643 §7 ``returned``: never, always, default (subject to ``attributes`` and
    ``excludedAttributes``), request (only when asked for, itself or a sub-attribute)."""
    if returned == Returned.never:
        return False
    if returned == Returned.always:
        return True
    if returned == Returned.request:
        return any(
            n.lower() == _named(n, urn) or n.lower().startswith(_named(n, urn) + ".")
            for n in included
        )
    if included and not any(_related(n, urn) for n in included):
        return False
    return not any(n.lower() == _named(n, urn) for n in excluded)


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
