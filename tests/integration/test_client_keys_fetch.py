"""A client's keys fetched from its jwks_uri (RFC 7591 §2), over real HTTP on loopback:
what is read is bounded, whatever the other end sends."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest
from joserfc.jwk import ECKey

from ostiary.crypto.sealing import Sealer
from ostiary.domain.clients import Client
from ostiary.oauth.client_keys import MAX_JWKS_BYTES, ClientKeyError, ClientKeys
from tests.e2e.test_client_assertions import _Jwks

KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"})
CLIENT = Client(
    client_id="svc", name="svc", secret_hash=None, public=False,
    token_endpoint_auth_method="private_key_jwt", redirect_uris=(),
    grant_types=frozenset({"client_credentials"}), scopes=frozenset(), audience=(),
    first_party=False, access_token_ttl=None, refresh_token_ttl=None, created_at=0,
)  # fmt: skip


@pytest.fixture
def served() -> Iterator[_Jwks]:
    jwks = _Jwks()
    yield jwks
    jwks.close()


def keys_of(uri: str) -> list[object]:
    async def fetch() -> list[object]:
        keys = ClientKeys(Sealer(b"k" * 32, "client-secrets"), ttl=300, timeout=5)
        try:
            return await keys.public_keys(dataclasses.replace(CLIENT, jwks_uri=uri), "k1")
        finally:
            await keys.aclose()

    return asyncio.run(fetch())


def test_the_keys_published_are_read(served: _Jwks) -> None:
    served.document = {"keys": [KEY.as_dict(private=False)]}
    (key,) = keys_of(served.url)
    assert key.kid == "k1"  # type: ignore[attr-defined]


def test_an_answer_larger_than_a_key_set_needs_is_refused_unread(served: _Jwks) -> None:
    served.document = {"keys": [KEY.as_dict(private=False)], "pad": "x" * MAX_JWKS_BYTES}
    with pytest.raises(ClientKeyError, match="more than 64 KiB"):
        keys_of(served.url)
