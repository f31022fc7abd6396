"""What a client-authentication method looks like, and the credentials it reads."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_plus

from ostiary.domain.clients import Client
from ostiary.errors import invalid_client, invalid_request


@dataclass(frozen=True, slots=True)
class Presented:
    """Credentials as they arrived: which method the request used and its values."""

    method: str
    client_id: str
    secret: str | None


class AuthMethod(Protocol):
    name: str

    def authenticate(self, client: Client, presented: Presented) -> None:
        """Raise ``invalid_client`` unless the presented credentials prove the client."""


def read_basic(authorization: str | None) -> tuple[str, str] | None:
    """Decode HTTP Basic credentials (RFC 6749 §2.3.1: each part form-urlencoded first)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    # Header bytes arrive as latin-1 text; base64 of anything but ASCII is malformed, and
    # b64decode would raise a plain ValueError for it (not binascii.Error).
    if not value.isascii():
        raise invalid_client("malformed Basic credentials", basic=True)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials", basic=True)
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not client_id.isprintable() or not secret.isprintable():
        raise invalid_client("malformed Basic credentials", basic=True)
    return client_id, secret


def presented_credentials(params: dict[str, str], authorization: str | None) -> Presented:
    """Work out which single method the client used (RFC 6749 §2.3: at most one)."""
    basic = read_basic(authorization)
    body_secret = params.get("client_secret")
    if basic is not None:
        if body_secret is not None:
            raise invalid_request("use only one client authentication method")
        if "client_id" in params and params["client_id"] != basic[0]:
            raise invalid_client("client_id does not match the credentials", basic=True)
        return Presented("client_secret_basic", basic[0], basic[1])
    client_id = params.get("client_id")
    if client_id is None:
        raise invalid_client("client authentication is required")
    if body_secret is not None:
        return Presented("client_secret_post", client_id, body_secret)
    return Presented("none", client_id, None)
