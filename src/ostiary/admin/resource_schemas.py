"""Protected-resource bodies (RFC 8707)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from ostiary.admin.schemas import Body
from ostiary.domain.resources import MAX_NAME, MAX_URI

# The rules past length (an https URI without fragment, scope tokens) are
# ``resource_indicators.registration_problem``'s, shared with the command line: a 422.
ResourceUri = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URI)]
ScopeToken = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ResourceCreate(Body):
    uri: ResourceUri = Field(
        description="The resource's URI, as clients send it in resource= and as the aud of "
        "its tokens: https (http only on a loopback host), no fragment (RFC 8707 §2)."
    )
    name: Annotated[str, StringConstraints(max_length=MAX_NAME)] = ""
    scopes: list[ScopeToken] = Field(
        default_factory=list,
        max_length=100,
        description="The scopes the resource accepts: a token for it carries only these.",
    )


class ResourceOut(BaseModel):
    uri: str
    name: str
    scopes: list[str]
    created_at: int
