"""API mode: an access token per request, a Bearer token (RFC 6750 §2.1), a DPoP-bound
token with its proof (RFC 9449 §7) or a certificate-bound one with the client's
certificate (RFC 8705 §3), verified by the resource kit."""

from __future__ import annotations

from collections.abc import Callable

from ostiary.gateway.headers import header
from ostiary.gateway.identity import Identity, authorise
from ostiary.gateway.rules import Rule
from ostiary.resource import TokenVerifier
from ostiary.resource.bearer import single_header
from ostiary.resource.client_cert import CertificateSource


class BearerAuth:
    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def identify(
        self,
        headers: list[tuple[bytes, bytes]],
        rule: Rule,
        *,
        method: str = "GET",
        url: Callable[[], str] = lambda: "",
        certificate: CertificateSource = None,
    ) -> Identity:
        """The verified identity; raises the kit's ResourceError (401/403) otherwise.
        ``url``: the URL the client used, which a DPoP proof names (its htu);
        ``certificate``: how to read the client certificate a TLS proxy passed on."""
        authorization = single_header(header(headers, b"authorization"))
        claims = await self.verifier.verify_request(
            authorization, header(headers, b"dpop"), method=method, url=url, certificate=certificate
        )
        authorise(rule, claims)
        return Identity(claims)
