"""From a request's ``Authorization`` and ``DPoP`` headers to verified claims: the Bearer
scheme (RFC 6750 §2.1) and, when the verifier accepts it, the DPoP scheme (RFC 9449 §7),
with the rule that ties a token's binding (``cnf``) to the scheme it comes with, and a
certificate-bound token (RFC 8705 §3) to the client certificate of the request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from ostiary.resource.bearer import bearer_token, is_b64token
from ostiary.resource.claims import Claims
from ostiary.resource.client_cert import (
    X5T_S256,
    CertificateError,
    CertificateSource,
    resolve_certificate,
)
from ostiary.resource.dpop import USE_DPOP_NONCE, DPoPError, DPoPVerifier, one_proof
from ostiary.resource.errors import (
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    ResourceError,
    UseDPoPNonce,
)

URL = str | Callable[[], str]


def credentials(authorization: str | None, *, dpop: bool) -> tuple[str, str]:
    """The scheme ("bearer" or "dpop") and token of an Authorization header; the DPoP
    scheme only when ``dpop``, otherwise it is an unsupported one (``MissingToken``)."""
    if not dpop or not authorization:
        return "bearer", bearer_token(authorization)
    scheme, _, rest = authorization.strip().partition(" ")
    # RFC 9110 §11.1: the auth scheme is case-insensitive.
    if scheme.lower() != "dpop":
        return "bearer", bearer_token(authorization)
    token = rest.strip()
    # RFC 9449 §7.1: the DPoP credentials are one token68 (the syntax of a b64token).
    if not token or not is_b64token(token):
        raise InvalidRequest("malformed Authorization header").presented("dpop")
    return "dpop", token


def _bearer_usable(claims: Claims, certificate: CertificateSource) -> Claims:
    if claims.jkt is not None:
        # RFC 9449 §7.2: a DPoP-bound token MUST NOT be accepted as a bearer token.
        raise InvalidToken("the token is DPoP-bound: send it with the DPoP scheme and a proof")
    cnf = claims.confirmation
    if cnf is not None:
        if cnf.keys() != {X5T_S256}:
            # RFC 7800 §3.1: a key-bound token is no bearer token, and no binding but a
            # certificate's (RFC 8705) or a DPoP key's is checked here.
            raise InvalidToken("the token is bound to a key by a method this API does not check")
        _check_certificate(claims, certificate)
    return claims


def _check_certificate(claims: Claims, certificate: CertificateSource) -> None:
    """RFC 8705 §3: a certificate-bound token is used only over mutual TLS with the
    certificate it is bound to, else refused with invalid_token (401)."""
    bound = claims.x5t_s256
    if bound is None:
        raise InvalidToken("the token's certificate binding is malformed")
    try:
        presented = resolve_certificate(certificate)
    except CertificateError as exc:
        raise InvalidRequest(f"the TLS proxy's client certificate: {exc}") from None
    if presented is None:
        raise InvalidToken("the token is certificate-bound: present it over mutual TLS")
    # RFC 8705 §3.1: the SHA-256 thumbprint of the certificate's DER is the one in cnf.
    if not presented.matches(bound):
        raise InvalidToken("the client certificate is not the one the token is bound to")


async def authenticate(
    verify: Callable[[str], Awaitable[Claims]],
    dpop: DPoPVerifier | None,
    authorization: str | None,
    proofs: Sequence[str],
    method: str,
    url: URL,
    certificate: CertificateSource = None,
) -> Claims:
    """The claims (by ``verify``, a TokenVerifier's) of the request's token, presented as
    its binding requires, the DPoP scheme accepted when ``dpop`` is given; else a
    ``ResourceError`` whose ``scheme`` says which challenge carries the error.
    ``certificate``: the client certificate a trusted proxy passed on (or how to read it),
    for certificate-bound tokens (RFC 8705 §3)."""
    scheme, token = credentials(authorization, dpop=dpop is not None)
    try:
        claims = await verify(token)
        if scheme == "bearer" or dpop is None:
            return _bearer_usable(claims, certificate)
        bound = claims.jkt
        # RFC 9449 §7.1: the DPoP scheme presents a DPoP-bound token.
        if bound is None:
            raise InvalidToken("the token is not DPoP-bound: send it as a Bearer token")
        target = url if isinstance(url, str) else url()
        proof = await dpop.verify(one_proof(proofs), method=method, url=target, access_token=token)
        # RFC 9449 §4.3 (12), §6: the proof's key is the one the token is bound to.
        if not hmac.compare_digest(proof.jkt.encode(), bound.encode()):
            raise InvalidToken("the DPoP proof is not signed by the token's key")
        # Ostiary never binds a token to both; another issuer's token that is bound to a
        # certificate too is held to that binding as well.
        if X5T_S256 in (claims.confirmation or {}):
            _check_certificate(claims, certificate)
        return claims.with_proof(proof)
    except DPoPError as error:
        if error.error == USE_DPOP_NONCE and error.nonce is not None:
            raise UseDPoPNonce(error.description, error.nonce) from None
        raise InvalidDPoPProof(error.description) from None
    except ResourceError as error:
        error.presented(scheme)
        raise
