"""Security profiles a client is held to as a whole, on top of its own registration.

``fapi2``: the FAPI 2.0 Security Profile (OpenID Foundation, final, February 2025), §5.3.2
(requirements for authorization servers), as far as this server offers its parts: pushed
authorization requests only, PKCE with S256, the redirect URI in the request,
private_key_jwt or mutual TLS (registration refuses any other method), sender-constrained
access tokens (DPoP, or bound to the client's TLS certificate), codes that live 60 seconds
at most, ``iss`` in authorization responses (RFC 9207, sent to every client). A refused
request names the rule it broke.
"""

from __future__ import annotations

from ostiary.domain.clients import Client

FAPI2 = "fapi2"
# FAPI 2.0 §5.3.2.1: authorization codes live 60 seconds at most.
FAPI2_CODE_TTL = 60


def authorization_problem(client: Client, params: dict[str, str], pushed: bool) -> str | None:
    """Why a (validated) authorization request breaks the client's profile, if it does."""
    if client.profile != FAPI2:
        return None
    # FAPI 2.0 §5.3.2.2: only pushed authorization requests (RFC 9126).
    if not pushed:
        return "FAPI 2.0: the authorization request must be pushed to the PAR endpoint"
    # FAPI 2.0 §5.3.2.2: PKCE with S256 for every client, confidential ones included.
    if params.get("code_challenge_method") != "S256" or "code_challenge" not in params:
        return "FAPI 2.0: PKCE with code_challenge_method S256 is required"
    # FAPI 2.0 §5.3.2.2: the redirect_uri is in the (pushed) request.
    if "redirect_uri" not in params:
        return "FAPI 2.0: redirect_uri is required"
    return None


def sender_constrained(client: Client) -> bool:
    """Whether the client's access tokens must be bound to a key or a certificate, by its
    registration (RFC 9449 §5.2, RFC 8705 §3.4) or its profile (FAPI 2.0 §5.3.2.1)."""
    return (
        client.dpop_bound_access_tokens
        or client.tls_client_certificate_bound_access_tokens
        or client.profile == FAPI2
    )


def requires_dpop(client: Client, *, certificate_bound: bool = False) -> bool:
    """Whether the client's access tokens must be DPoP-bound (RFC 9449 §5.2; FAPI 2.0
    §5.3.2.1: only sender-constrained access tokens, by DPoP or by mutual TLS: a token
    bound to the client's certificate, RFC 8705 §3, is one)."""
    return client.dpop_bound_access_tokens or (client.profile == FAPI2 and not certificate_bound)


def code_ttl(client: Client | None, default: int) -> int:
    if client is not None and client.profile == FAPI2:
        return min(default, FAPI2_CODE_TTL)
    return default
