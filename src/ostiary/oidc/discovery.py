"""OpenID Provider metadata (OIDC Discovery 1.0 §3): only what Ostiary really supports."""

from __future__ import annotations

from typing import Any

from ostiary.domain.mfa import ACR_LEVELS
from ostiary.oauth.authorize import RESPONSE_MODES
from ostiary.oauth.client_keys import ASYMMETRIC_ALGS
from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.settings import Settings
from ostiary.tokens.claims import OIDC_SCOPES, SUPPORTED_CLAIMS
from ostiary.tokens.signed import ALLOWED_ALGS

ID_TOKEN_CLAIMS = ("iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash")


def openid_configuration(settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    metadata = authorization_server_metadata(settings)
    metadata.update(
        {
            "userinfo_endpoint": f"{issuer}/userinfo",
            "end_session_endpoint": f"{issuer}/logout",
            "scopes_supported": list(OIDC_SCOPES),
            "response_modes_supported": list(RESPONSE_MODES),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(ALLOWED_ALGS),
            "claims_supported": [*SUPPORTED_CLAIMS, *ID_TOKEN_CLAIMS],
            "claims_parameter_supported": True,
            "claim_types_supported": ["normal"],
            # Signed request objects by value (RFC 9101, Core §6.1), at /authorize and /par.
            "request_parameter_supported": True,
            "request_object_signing_alg_values_supported": list(ASYMMETRIC_ALGS),
            # Discovery §3 defaults request_uri_parameter_supported to true: say false (a
            # request object by reference would have this server fetch any URL it is given).
            "request_uri_parameter_supported": False,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            # One factor, two factors, phishing-resistant (domain/mfa.py), weakest first.
            "acr_values_supported": list(ACR_LEVELS),
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
        }
    )
    return metadata
