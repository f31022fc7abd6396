"""Certificate-bound access tokens (RFC 8705 §3): which token requests bind their tokens
to the client's TLS certificate.

A token is bound to one key at most. RFC 8705 and RFC 9449 define no token bound to both
a certificate and a DPoP key, and a resource server checking one binding might ignore the
other, so the two never combine:

- a client registered with ``tls_client_certificate_bound_access_tokens`` gets
  certificate-bound tokens only: its certificate is required and a DPoP proof refused;
- otherwise a DPoP proof wins: RFC 9449 binds with any client authentication, mutual TLS
  included, and the client chose it for this request;
- otherwise a client that authenticated with mutual TLS gets tokens bound to the
  certificate it authenticated with.

A certificate presented by any other client binds nothing.
"""

from __future__ import annotations

from ostiary.domain.clients import Client
from ostiary.errors import invalid_request
from ostiary.oauth.client_auth.mtls import MTLS_METHODS, NOT_CONFIGURED
from ostiary.resource.client_cert import ClientCertificate
from ostiary.resource.dpop import DPoPProof
from ostiary.settings import Settings


def bound_thumbprint(
    settings: Settings,
    client: Client,
    certificate: ClientCertificate | None,
    proof: DPoPProof | None,
) -> str | None:
    """The ``x5t#S256`` (RFC 8705 §3.1) this token request's tokens are bound to, if any."""
    if client.tls_client_certificate_bound_access_tokens:
        if certificate is None:
            if settings.client_security.client_certificate_header is None:
                raise invalid_request(NOT_CONFIGURED)
            # RFC 8705 §3.4: the client registered for certificate-bound tokens; a
            # bearer token instead would quietly drop the protection it asked for.
            raise invalid_request("this client's tokens are bound to its TLS client certificate")
        if proof is not None:
            raise invalid_request(
                "this client's tokens are bound to its TLS client certificate, not to a DPoP key"
            )
        return certificate.thumbprint
    authenticated_with_it = client.token_endpoint_auth_method in MTLS_METHODS
    if proof is None and certificate is not None and authenticated_with_it:
        return certificate.thumbprint
    return None
