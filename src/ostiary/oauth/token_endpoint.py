"""Token endpoint (RFC 6749 §3.2): a short list of named steps, then the grant handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ostiary.domain.clients import Client
from ostiary.errors import OAuthError, invalid_request, unauthorized_client
from ostiary.oauth import certificate_binding, dpop, profiles
from ostiary.oauth.client_auth.guard import authenticate
from ostiary.oauth.deps import EndpointDeps
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.grants.registry import GRANTS
from ostiary.oauth.params import parse_params
from ostiary.resource.client_cert import ClientCertificate


async def token(
    services: EndpointDeps,
    body: bytes,
    authorization: str | None,
    ip: str | None = None,
    dpop_proofs: Sequence[str] = (),
    certificate: ClientCertificate | None = None,
) -> dict[str, Any]:
    params = parse_params(body)
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise invalid_request("grant_type is required")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' is not supported")
    client = await authenticate(services, params, authorization, ip, certificate)
    # RFC 6749 §5.2 unauthorized_client: the client may not use this grant type.
    if grant_type not in client.grant_types:
        raise unauthorized_client(f"this client may not use {grant_type}")
    jkt = x5t = None
    # Most token requests carry no proof and no certificate for a client that asks for
    # neither: they skip the sender-constraint step (the hot path's cost stays as it was).
    if dpop_proofs or certificate is not None or profiles.sender_constrained(client):
        jkt, x5t = await _sender_constraint(services, client, dpop_proofs, certificate)
    return await handler.handle(TokenRequest(params, client, jkt, x5t), services)


async def _sender_constraint(
    services: EndpointDeps,
    client: Client,
    dpop_proofs: Sequence[str],
    certificate: ClientCertificate | None,
) -> tuple[str | None, str | None]:
    """The DPoP key (``jkt``) or the certificate (``x5t#S256``) the tokens are bound to."""
    url = f"{services.settings.issuer}/token"
    proof = await dpop.request_proof(services.dpop, dpop_proofs, url)
    # RFC 8705 §3: bound to the client's certificate, or to a DPoP key, never both.
    x5t = certificate_binding.bound_thumbprint(services.settings, client, certificate, proof)
    # RFC 9449 §5.2: a client registered for DPoP-bound tokens gets no other kind.
    if proof is None and profiles.requires_dpop(client, certificate_bound=x5t is not None):
        # FAPI 2.0 §5.3.2.1: either sender constraint will do for a fapi2 client.
        either = " or present its client certificate" if client.profile == profiles.FAPI2 else ""
        raise invalid_request(f"this client must send a DPoP proof{either}")
    return (proof.jkt if proof is not None else None), x5t
