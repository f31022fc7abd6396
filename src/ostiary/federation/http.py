"""Calls to upstream providers: bounded time and size, no redirects, JSON only."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ostiary.federation.errors import upstream_error
from ostiary.federation.jwks import UpstreamKeys

MAX_BODY = 1 << 20
TIMEOUT = httpx.Timeout(10.0)


class Upstream:
    """One per node: caches of discovery documents and key sets; a client per call."""

    def __init__(self, *, metadata_ttl: float = 3600) -> None:
        self.metadata_ttl = metadata_ttl
        self.metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self.keys: dict[str, UpstreamKeys] = {}

    def keys_for(self, jwks_uri: str) -> UpstreamKeys:
        if jwks_uri not in self.keys:
            self.keys[jwks_uri] = UpstreamKeys(jwks_uri, self.get_json)
        return self.keys[jwks_uri]

    async def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        return await self._call("GET", url, headers=headers)

    async def post_form(
        self,
        url: str,
        data: dict[str, str],
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        return await self._call("POST", url, data=data, auth=auth, headers=headers, status=True)

    async def _call(self, method: str, url: str, *, status: bool = False, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json", **(kwargs.pop("headers", None) or {})}
        auth = kwargs.pop("auth", None)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as http:
                response = await http.request(method, url, headers=headers, auth=auth, **kwargs)
        except httpx.HTTPError as exc:
            raise upstream_error(f"{method} {url}: {type(exc).__name__}") from None
        if len(response.content) > MAX_BODY:
            raise upstream_error(f"{method} {url}: response too large")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if status:
            return response.status_code, body
        if response.status_code != 200 or body is None:
            raise upstream_error(f"{method} {url}: HTTP {response.status_code}")
        return body
