"""Pushed authorization requests (RFC 9126 §2): the client posts its authorization request
and gets a request_uri to send the browser to /authorize with instead.

The pushed request is checked by ``authorize.validate``, the authorization endpoint's own
checks, and checked again by them when it is used (``authorize._pushed_params``): one rule,
two entry points.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from ostiary.crypto.tokens import digest
from ostiary.errors import (
    AuthorizationError,
    OAuthError,
    UnsafeRedirectError,
    UnsafeRequestObjectError,
    invalid_request,
)
from ostiary.oauth import dpop
from ostiary.oauth.authorize import MAX_REQUEST, PUSHED_REQUEST_URI, form_encode, validate
from ostiary.oauth.client_auth.guard import authenticate
from ostiary.oauth.deps import EndpointDeps
from ostiary.oauth.params import parse_params
from ostiary.resource.client_cert import ClientCertificate

# RFC 9126 §2.1: parameters that serve client authentication only, not part of the
# authorization request (and secrets: never kept).
CLIENT_AUTHENTICATION = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


async def push(
    services: EndpointDeps,
    body: bytes,
    authorization: str | None,
    ip: str | None = None,
    dpop_proofs: Sequence[str] = (),
    certificate: ClientCertificate | None = None,
) -> dict[str, Any]:
    """RFC 9126 §2.1: authenticate the client, validate its request as /authorize would,
    keep it under a new request_uri (§2.2)."""
    params = parse_params(body)
    # RFC 9126 §2.1 (1): the client authenticates as it would at the token endpoint.
    client = await authenticate(services, params, authorization, ip, certificate)
    # RFC 9126 §2.1: client_id is as required here as in any authorization request (with
    # Basic credentials it may differ from none: the guard refused a mismatch). §3: a
    # request object holds it, to be the authenticated client's (checked with the object).
    if "client_id" not in params:
        if "request" not in params:
            raise invalid_request("client_id is required")
        params = {**params, "client_id": client.client_id}
    # RFC 9126 §2.1 (2): request_uri MUST NOT be provided in a pushed request.
    if "request_uri" in params:
        raise invalid_request("request_uri must not be used in a pushed authorization request")
    request = {k: v for k, v in params.items() if k not in CLIENT_AUTHENTICATION}
    url = f"{services.settings.issuer}/par"
    proof = await dpop.request_proof(services.dpop, dpop_proofs, url)
    # RFC 9449 §10.1: a proof at PAR binds the code as dpop_jkt does; both must agree.
    if proof is not None and request.setdefault("dpop_jkt", proof.jkt) != proof.jkt:
        raise invalid_request("dpop_jkt is not the thumbprint of the DPoP proof's key")
    # The authorization endpoint's own bound on a request, so the two accept the same.
    if len(form_encode(request)) > MAX_REQUEST:
        raise invalid_request("the authorization request is too large")
    # RFC 9126 §2.1 (3): validated as at the authorization endpoint; §2.3: as a §5.2 error,
    # invalid_request where §4.1.2.1 has no code (the redirect URI).
    try:
        await validate(services, request, pushed=True)
    except UnsafeRequestObjectError as exc:
        # §2.3: an extension's own error code (RFC 9101 §7: invalid_request_object).
        raise OAuthError(exc.error, exc.description) from None
    except UnsafeRedirectError as exc:
        raise invalid_request(exc.message) from None
    except AuthorizationError as exc:
        raise OAuthError(exc.error, exc.description) from None
    # RFC 9126 §2.2: the request_uri MUST hold a part that cannot be guessed (256 random
    # bits, RFC 6749 §10.10); only its digest is kept, bound to the client.
    request_uri = PUSHED_REQUEST_URI + secrets.token_urlsafe(32)
    lifetime = services.settings.client_security.par_lifetime
    await services.store.pushed_authorizations.add(
        uri_hash=digest(request_uri), client_id=client.client_id, params=request, ttl=lifetime
    )
    return {"request_uri": request_uri, "expires_in": lifetime}
