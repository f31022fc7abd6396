"""Authorization server metadata (RFC 8414 §2): only what Ostiary really supports."""

from __future__ import annotations

from typing import Any

from ostiary.oauth.client_auth.mtls import MTLS_METHODS
from ostiary.oauth.client_auth.registry import METHODS
from ostiary.oauth.client_keys import ASYMMETRIC_ALGS, HMAC_ALGS
from ostiary.oauth.dpop import SIGNING_ALGS as DPOP_ALGS
from ostiary.oauth.grants.registry import GRANTS
from ostiary.oauth.pkce import SUPPORTED_METHODS
from ostiary.settings import Settings
from ostiary.tokens.jwt_access import ALLOWED_ALGS


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    mtls = settings.client_security.client_certificate_header is not None
    # RFC 8705 §2: the mTLS methods only where a TLS proxy passes certificates on.
    auth_methods = sorted(m for m in METHODS if mtls or m not in MTLS_METHODS)
    # RFC 8414 §2: the algorithms of private_key_jwt and client_secret_jwt assertions.
    assertion_algs = [*ASYMMETRIC_ALGS, *HMAC_ALGS]
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        # Not a registered RFC 8414 name: our revocation feed (docs/revocation-feed.md).
        "revocation_feed_endpoint": f"{issuer}/revocations",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": sorted(GRANTS),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": [m for m in auth_methods if m != "none"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": list(SUPPORTED_METHODS),
        # RFC 9207: the iss parameter in authorization responses (mix-up defence).
        "authorization_response_iss_parameter_supported": True,
        "access_token_signing_alg_values_supported": list(ALLOWED_ALGS),
        # RFC 9449 §5.1: DPoP proofs are accepted, signed with these.
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        # RFC 9126 §5: pushed authorization requests.
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": settings.require_par,
    }
    if mtls:
        # RFC 8705 §3.3: certificate-bound access tokens are issued. The endpoints take
        # mutual TLS at their own URLs: no mtls_endpoint_aliases (§5).
        metadata["tls_client_certificate_bound_access_tokens"] = True
    return metadata
