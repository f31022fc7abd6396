"""What the service provider supports (RFC 7644 §4, RFC 7643 §5-§7)."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Meta,
    Pagination,
    Patch,
    ResourceType,
    SchemaExtension,
    ServiceProviderConfig,
    Sort,
    User,
)

from ostiary.scim.bulk import MAX_OPERATIONS
from ostiary.scim.listing import MAX_COUNT
from ostiary.scim.resource_type import REGISTRY
from ostiary.scim.validation import MAX_BODY


def service_provider_config(base: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=MAX_OPERATIONS, max_payload_size=MAX_BODY),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        pagination=Pagination(
            cursor=False, index=True, default_page_size=100, max_page_size=MAX_COUNT
        ),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="OAuth Bearer Token",
                description="An Ostiary access token with the scim scope "
                "(client credentials grant).",
                spec_uri="https://www.rfc-editor.org/rfc/rfc6750",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"),
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base: str) -> list[dict[str, Any]]:
    out = []
    for key, kind in REGISTRY.items():
        extensions = []
        if kind.name == "User":
            extensions = [SchemaExtension(schema_=EnterpriseUser.__schema__, required=False)]
        rt = ResourceType(
            id=kind.name,
            name=kind.name,
            endpoint=kind.endpoint,
            description=f"Ostiary {key.lower()}",
            schema_=(User if kind.name == "User" else Group).__schema__,
            schema_extensions=extensions or None,
            meta=Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/{kind.name}"),
        )
        out.append(rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out


def schemas(base: str) -> list[dict[str, Any]]:
    out = []
    for model in (User, Group, EnterpriseUser):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
        out.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out
