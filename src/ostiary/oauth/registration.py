"""Client registration rules (RFC 6749 §2, RFC 7591 §2 metadata semantics)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ostiary.crypto.tokens import CLIENT_SECRET_PREFIX, digest, new_secret
from ostiary.domain.clients import Client, oidc_values
from ostiary.domain.repositories import Clients
from ostiary.keys.algorithms import SUPPORTED as SUPPORTED_ALGS
from ostiary.oauth.client_auth.mtls import normal_dn
from ostiary.oauth.client_auth.registry import METHODS
from ostiary.oauth.client_keys import ASYMMETRIC_ALGS, HMAC_ALGS, ClientKeyError, parse_key_set
from ostiary.oauth.grants.registry import GRANTS
from ostiary.oauth.redirect_uris import registration_problem
from ostiary.oauth.scopes import is_scope_token


class RegistrationError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ClientSpec:
    name: str
    redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    public: bool = False
    auth_method: str | None = None
    audience: list[str] | None = None
    first_party: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    client_id: str | None = None
    # OpenID Connect (Dynamic Client Registration 1.0 §2 and the logout specs' metadata).
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    id_token_signed_response_alg: str | None = None
    id_token_ttl: int | None = None
    session_refresh_tokens: bool = False
    # RFC 9068 §2.2.3.1 roles and groups claims in this client's tokens.
    include_roles: bool = False
    include_groups: bool = False
    # Client security (see ``domain.clients.Client``).
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    token_endpoint_auth_signing_alg: str | None = None
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    require_signed_request_object: bool = False
    request_object_signing_alg: str | None = None
    tls_client_auth_subject_dn: str | None = None
    tls_client_certificate_bound_access_tokens: bool = False
    profile: str | None = None

    def oidc_fields(self) -> dict[str, Any]:
        return oidc_values(self)


def _default_grants(spec: ClientSpec) -> list[str]:
    if spec.redirect_uris:
        return ["authorization_code", "refresh_token"]
    return ["client_credentials"]


_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{3,64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _check_client_id(client_id: str) -> None:
    if not _CLIENT_ID.fullmatch(client_id):
        raise RegistrationError("client_id takes 3 to 64 characters of A-Z a-z 0-9 . _ ~ -")
    # RFC 9700 §4.15: a client's sub (client credentials) must never equal a user's sub,
    # and user ids are UUIDs.
    if _UUID.fullmatch(client_id):
        raise RegistrationError("client_id must not have the form of a user id (UUID)")


def check(spec: ClientSpec) -> tuple[list[str], str]:
    """Validate a registration; returns the grant types and the auth method to store."""
    if not spec.name.strip():
        raise RegistrationError("name must not be empty")
    if spec.client_id is not None:
        _check_client_id(spec.client_id)
    grant_types = spec.grant_types or _default_grants(spec)
    unknown = set(grant_types) - set(GRANTS)
    if unknown:
        raise RegistrationError(
            f"unsupported grant type(s): {', '.join(sorted(unknown))} "
            f"(supported: {', '.join(sorted(GRANTS))})"
        )
    for uri in spec.redirect_uris:
        problem = registration_problem(uri)
        if problem:
            raise RegistrationError(f"redirect URI {uri!r}: {problem}")
    if "authorization_code" in grant_types and not spec.redirect_uris:
        raise RegistrationError("the authorization_code grant needs at least one --redirect-uri")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise RegistrationError("refresh_token is only issued with authorization_code")
    for scope in spec.scopes:
        if not is_scope_token(scope):
            raise RegistrationError(f"scope {scope!r} has characters outside RFC 6749 §3.3")
    if spec.public:
        # RFC 6749 §4.4: client credentials are for confidential clients only.
        if "client_credentials" in grant_types:
            raise RegistrationError("a public client cannot use client_credentials")
        if spec.auth_method not in (None, "none"):
            raise RegistrationError("a public client authenticates with 'none'")
        method = "none"
    else:
        method = spec.auth_method or "client_secret_basic"
        if method not in METHODS or method == "none":
            known = ", ".join(m for m in METHODS if m != "none")
            raise RegistrationError(f"auth method {method!r} is not one of {known}")
    for ttl in (spec.access_token_ttl, spec.refresh_token_ttl):
        if ttl is not None and ttl <= 0:
            raise RegistrationError("token lifetimes must be positive")
    if spec.access_token_ttl is not None and spec.access_token_ttl > 86400:
        raise RegistrationError("access-token lifetime is capped at 86400 seconds")
    check_oidc(spec)
    check_security(spec, method)
    return grant_types, method


# Client authentication methods that prove the client with a key it alone holds
# (FAPI 2.0 Security Profile §5.3.2.1: private_key_jwt or mutual TLS).
KEY_BOUND_METHODS = ("private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth")


def check_security(spec: ClientSpec, method: str) -> None:
    """Keys, signing algorithms, and the protections a client is held to (RFC 7591 §2,
    RFC 7523, RFC 9101 §10.5, RFC 8705 §2.1.2, FAPI 2.0)."""
    # RFC 7591 §2: jwks and jwks_uri must not both be given.
    if spec.jwks is not None and spec.jwks_uri is not None:
        raise RegistrationError("give jwks or jwks_uri, not both")
    if spec.jwks is not None:
        try:
            parse_key_set(spec.jwks)
        except ClientKeyError as exc:
            raise RegistrationError(f"jwks: {exc}") from None
    if spec.jwks_uri is not None:
        problem = web_uri_problem(spec.jwks_uri)
        if problem:
            raise RegistrationError(f"jwks_uri {spec.jwks_uri!r}: {problem}")
    has_keys = spec.jwks is not None or spec.jwks_uri is not None
    if method == "private_key_jwt" and not has_keys:
        raise RegistrationError("private_key_jwt needs the client's public keys: jwks or jwks_uri")
    alg = spec.token_endpoint_auth_signing_alg
    if alg is not None:
        allowed = {"private_key_jwt": ASYMMETRIC_ALGS, "client_secret_jwt": HMAC_ALGS}.get(method)
        if allowed is None:
            raise RegistrationError(
                "token_endpoint_auth_signing_alg applies to private_key_jwt and client_secret_jwt"
            )
        if alg not in allowed:
            raise RegistrationError(
                f"token_endpoint_auth_signing_alg for {method} is one of {', '.join(allowed)}"
            )
    request_alg = spec.request_object_signing_alg
    # RFC 9101 §10.5 and our rule: request objects are signed, with the client's own key.
    if request_alg is not None and request_alg not in ASYMMETRIC_ALGS:
        raise RegistrationError(
            f"request_object_signing_alg is one of {', '.join(ASYMMETRIC_ALGS)}"
        )
    if (request_alg is not None or spec.require_signed_request_object) and not has_keys:
        raise RegistrationError("signed request objects need the client's jwks or jwks_uri")
    check_mtls(spec, method, has_keys)
    if spec.profile is not None:
        if spec.profile != "fapi2":
            raise RegistrationError("profile is fapi2 or none")
        # FAPI 2.0 Security Profile §5.3.2.1: confidential clients only, authenticated
        # with a key (private_key_jwt or mutual TLS).
        if spec.public:
            raise RegistrationError("a fapi2 client is confidential (FAPI 2.0 §5.3.2.1)")
        if method not in KEY_BOUND_METHODS:
            raise RegistrationError(
                "a fapi2 client authenticates with private_key_jwt or mutual TLS "
                "(FAPI 2.0 §5.3.2.1)"
            )


def check_mtls(spec: ClientSpec, method: str, has_keys: bool) -> None:
    """Mutual TLS (RFC 8705): the certificate a client authenticates with, and tokens bound
    to it. Registration needs no server setting: without OSTIARY_CLIENT_SECURITY__
    CLIENT_CERTIFICATE_HEADER such a client is refused at the token endpoint, saying so."""
    dn = spec.tls_client_auth_subject_dn
    # RFC 8705 §2.1.2: a tls_client_auth client registers the subject it expects (the one
    # subject value offered here is the DN), and only such a client does.
    if method == "tls_client_auth" and dn is None:
        raise RegistrationError(
            "tls_client_auth needs the certificate's tls_client_auth_subject_dn"
        )
    if dn is not None:
        if method != "tls_client_auth":
            raise RegistrationError("tls_client_auth_subject_dn applies to tls_client_auth only")
        try:
            normal_dn(dn)
        except ValueError:
            raise RegistrationError(
                "tls_client_auth_subject_dn is an RFC 4514 DN such as CN=app,O=Example,C=DE "
                "(attribute names in capitals, no space after a comma)"
            ) from None
    # RFC 8705 §2.2.2: the self-signed certificates are registered as jwks or jwks_uri.
    if method == "self_signed_tls_client_auth" and not has_keys:
        raise RegistrationError(
            "self_signed_tls_client_auth needs the client's certificates: jwks or jwks_uri"
        )
    # A token is bound to one key: a certificate or a DPoP key (certificate_binding.py).
    if spec.tls_client_certificate_bound_access_tokens and spec.dpop_bound_access_tokens:
        raise RegistrationError(
            "tokens are bound to the TLS certificate or to a DPoP key, not both: choose "
            "tls_client_certificate_bound_access_tokens or dpop_bound_access_tokens"
        )


def web_uri_problem(uri: str) -> str | None:
    """What is wrong with a URL this server calls (a back-channel logout URI, a
    jwks_uri): https, or http on loopback; absolute, no fragment."""
    if not uri.lower().startswith(("https://", "http://")):
        return "must be an https URL (http only on loopback)"
    return registration_problem(uri)


def check_oidc(spec: ClientSpec) -> None:
    for uri in spec.post_logout_redirect_uris:
        problem = registration_problem(uri)
        if problem:
            raise RegistrationError(f"post-logout redirect URI {uri!r}: {problem}")
    if spec.backchannel_logout_uri is not None:
        # Back-Channel Logout §2.2: an absolute http(s) URI without a fragment.
        uri = spec.backchannel_logout_uri
        problem = web_uri_problem(uri)
        if problem:
            raise RegistrationError(f"back-channel logout URI {uri!r}: {problem}")
    alg = spec.id_token_signed_response_alg
    if alg is not None and alg not in SUPPORTED_ALGS:
        raise RegistrationError(
            f"id_token_signed_response_alg {alg!r} is not one of {', '.join(SUPPORTED_ALGS)}"
        )
    if spec.id_token_ttl is not None and not 60 <= spec.id_token_ttl <= 86400:
        raise RegistrationError("ID-token lifetime must be between 60 and 86400 seconds")


async def register(
    clients: Clients, spec: ClientSpec, seal: Callable[[str], bytes] | None = None
) -> tuple[Client, str | None]:
    """Store a client; a confidential one gets a 256-bit secret, returned only here.

    ``seal`` keeps the secret of a client_secret_jwt client sealed beside its digest (the
    HMAC check needs the secret itself); without it such a client must rotate its secret
    before it can authenticate."""
    grant_types, method = check(spec)
    if spec.client_id is not None and await clients.get(spec.client_id) is not None:
        raise RegistrationError(f"client_id {spec.client_id!r} is taken")
    secret = None if spec.public else new_secret(CLIENT_SECRET_PREFIX)
    sealed = seal(secret) if secret and seal and method == "client_secret_jwt" else None
    client = await clients.add(
        client_id=spec.client_id,
        name=spec.name,
        secret_hash=digest(secret) if secret else None,
        public=spec.public,
        token_endpoint_auth_method=method,
        redirect_uris=spec.redirect_uris,
        grant_types=grant_types,
        scopes=spec.scopes,
        audience=spec.audience,
        first_party=spec.first_party,
        access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
        **spec.oidc_fields(),
        secret_sealed=sealed,
    )
    return client, secret


def spec_of(client: Client) -> ClientSpec:
    """The registration of an existing client, as a spec to change and check again."""
    return ClientSpec(
        name=client.name,
        redirect_uris=list(client.redirect_uris),
        grant_types=sorted(client.grant_types),
        scopes=sorted(client.scopes),
        public=client.public,
        auth_method=client.token_endpoint_auth_method,
        audience=list(client.audience),
        first_party=client.first_party,
        access_token_ttl=client.access_token_ttl,
        refresh_token_ttl=client.refresh_token_ttl,
        client_id=client.client_id,
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        backchannel_logout_uri=client.backchannel_logout_uri,
        backchannel_logout_session_required=client.backchannel_logout_session_required,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        id_token_ttl=client.id_token_ttl,
        session_refresh_tokens=client.session_refresh_tokens,
        include_roles=client.include_roles,
        include_groups=client.include_groups,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        token_endpoint_auth_signing_alg=client.token_endpoint_auth_signing_alg,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        require_signed_request_object=client.require_signed_request_object,
        request_object_signing_alg=client.request_object_signing_alg,
        tls_client_auth_subject_dn=client.tls_client_auth_subject_dn,
        tls_client_certificate_bound_access_tokens=client.tls_client_certificate_bound_access_tokens,
        profile=client.profile,
    )


async def update(clients: Clients, client_id: str, **changes: Any) -> Client:
    """Change a registration; the result is checked as a whole, as at creation.

    Whether a client is public, and so its secret, cannot change here.
    """
    client = await clients.get(client_id)
    if client is None:
        raise RegistrationError(f"no client {client_id!r}")
    if "public" in changes or "client_id" in changes:
        raise RegistrationError("client_id and public cannot change; create a new client")
    spec = replace(spec_of(client), **changes)
    grant_types, method = check(spec)
    # Only a client_secret_jwt client keeps its secret sealed; another one never does.
    sealed = client.secret_sealed if method == "client_secret_jwt" else None
    updated = await clients.update(
        client_id,
        name=spec.name,
        redirect_uris=list(spec.redirect_uris),
        grant_types=grant_types,
        scopes=sorted(set(spec.scopes)),
        token_endpoint_auth_method=method,
        audience=list(spec.audience or []),
        first_party=spec.first_party,
        access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
        **spec.oidc_fields(),
        secret_sealed=sealed,
    )
    assert updated is not None
    return updated
